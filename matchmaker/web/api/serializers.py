"""The JSON shapes of the local REST API, and how a submitted case becomes a `CaseRecord`.

A case reads like an MME patient (mme-api.md §1.5) so that scripts written against MME feel at
home: `features` with `observed` "yes"/"no", `genomicFeatures` with `gene`, `variant` (0-based
start), `zygosity` and `type`, `disorders`, `sex`, `ageOfOnset`, `inheritanceMode`, `contact`.
It differs in that `label` (the site's pseudonymous label) replaces `id`, the contact is optional
(the institution's details fill the gaps), a genomic feature may carry what MME has no field for
(`expressions`: HGVS as Phenopacket writes them, `acmgClassification`), kept as submitted and
given back in phenopacket exports, and the node's own fields (`publicId`, `status`, consent,
timestamps, the gene's `submittedId`) come back in answers.

Serializers here check the shape of the JSON only; whether a term or gene exists is decided by
the case services, whose errors name the same paths (`features[0].id`).
"""

# ruff: noqa: N815 (field names are the JSON keys, camelCase like MME's)

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail
from rest_framework.settings import api_settings

from matchmaker.cases.interchange import case_record_from_mme_patient
from matchmaker.cases.models import Case, Disorder, GenomicFeature, PhenotypeFeature
from matchmaker.cases.records import (
    ACMG_CLASSIFICATIONS,
    SEX_VALUES,
    CaseRecord,
    ContactRecord,
    RecordFormatError,
)
from matchmaker.casework.models import Match, MatchEvent
from matchmaker.casework.services.rescoring import is_stale
from matchmaker.federation.models import Peer
from matchmaker.lib.api import MAX_DISORDERS, MAX_FEATURES, MAX_GENOMIC_FEATURES
from matchmaker.lib.errors import FieldValidationError
from matchmaker.reference.ontology import get_hpo
from ontologies.hpo import UnknownTermError

OBSERVED_CHOICES = ("yes", "no")
# Longer than any human chromosome (chr1: 248,956,422 bases); a larger number would not even fit
# the database column.
MAX_POSITION = 1_000_000_000


# --- Reading input -----------------------------------------------------------------------------


def field_errors(detail: Any, path: str = "") -> list[tuple[str, str]]:
    """DRF's nested error structure as (field path, message) pairs: `features[0].id`."""
    if isinstance(detail, Mapping):
        errors = []
        for key, value in detail.items():
            if key == api_settings.NON_FIELD_ERRORS_KEY:
                child = path
            elif isinstance(key, int):
                child = f"{path}[{key}]"
            else:
                child = f"{path}.{key}" if path else str(key)
            errors.extend(field_errors(value, child))
        return errors
    if isinstance(detail, list):
        if all(isinstance(item, str | ErrorDetail) for item in detail):
            return [(path, str(message)) for message in detail]
        errors = []
        for index, item in enumerate(detail):
            errors.extend(field_errors(item, f"{path}[{index}]"))
        return errors
    return [(path, str(detail))]


def validated(serializer: serializers.Serializer[dict[str, Any]]) -> dict[str, Any]:
    """The serializer's validated data, or a `FieldValidationError` naming every bad field.

    The one exception handler turns that into the same 400 body as the services' own errors.
    """
    if not serializer.is_valid():
        raise FieldValidationError(field_errors(serializer.errors))
    return dict(serializer.validated_data)


# The MME reader insists on a contact; ours is optional, so the reader gets a stand-in and the
# record gets the submitted contact (empty parts are filled from the institution on save).
_STAND_IN_CONTACT = {"name": "-", "href": "mailto:stand-in@example.org"}


def case_record_from_input(data: Mapping[str, Any]) -> CaseRecord:
    """A case submitted to the API (validated by `CaseInputSerializer`) as a `CaseRecord`.

    Read by the MME patient reader, so ids are normalised exactly as for a peer's patient
    (MIM: to OMIM:, hg19 to GRCh37, chr7 to 7). Raises `FieldValidationError`.
    """
    patient = {**data, "id": data["label"], "contact": _STAND_IN_CONTACT}
    try:
        record = case_record_from_mme_patient(patient)
    except RecordFormatError as error:
        raise FieldValidationError([(error.field, error.message)]) from None
    contact = data.get("contact") or {}
    # What MME has no field for, kept as submitted for exports (the reader reads every
    # genomic feature, in order).
    genomic_features = tuple(
        dataclasses.replace(
            feature,
            hgvs_expressions=tuple(
                (expression["syntax"].strip(), expression["value"].strip())
                for expression in submitted.get("expressions") or ()
            ),
            acmg_classification=submitted.get("acmgClassification") or "",
        )
        for feature, submitted in zip(
            record.genomic_features, data.get("genomicFeatures") or (), strict=True
        )
    )
    return dataclasses.replace(
        record,
        genomic_features=genomic_features,
        label=data["label"],
        contact=ContactRecord(
            name=contact.get("name", ""),
            institution=contact.get("institution", ""),
            href=contact.get("href", ""),
            email=contact.get("email", ""),
        ),
    )


# --- Cases -------------------------------------------------------------------------------------

# A field named like an attribute of DRF's Field (`label`, `source`) seems to mypy to replace that
# attribute; at run time DRF's metaclass takes declared fields off the class. Hence the ignores.
# So too for `max_length` with `many=True`: DRF hands it to the ListSerializer, but
# djangorestframework-stubs (3.18.1) do not list it among a serializer's arguments.


class FeatureInputSerializer(serializers.Serializer[dict[str, Any]]):
    id = serializers.CharField(help_text="HPO id of a phenotypic abnormality, e.g. HP:0001250")
    observed = serializers.ChoiceField(
        choices=OBSERVED_CHOICES, default="yes", help_text='"no": explicitly excluded'
    )
    ageOfOnset = serializers.CharField(
        required=False, allow_blank=True, help_text="HPO onset term (under HP:0003674)"
    )

    class Meta:
        ref_name = "FeatureInput"


class GeneInputSerializer(serializers.Serializer[dict[str, Any]]):
    id = serializers.CharField(
        help_text="gene symbol, Entrez id or Ensembl gene id (HGNC id where the node loaded the HGNC set); normalised on save"
    )

    class Meta:
        ref_name = "GeneInput"


class VariantSerializer(serializers.Serializer[dict[str, Any]]):
    assembly = serializers.CharField(help_text="GRCh37, GRCh38 or NCBI36 (hg19/hg38/hg18 too)")
    referenceName = serializers.CharField(help_text="chromosome: 1-22, X, Y, MT")
    start = serializers.IntegerField(
        min_value=0, max_value=MAX_POSITION, help_text="0-based, as in MME"
    )
    end = serializers.IntegerField(
        min_value=0, max_value=MAX_POSITION, required=False, allow_null=True, help_text="exclusive"
    )
    referenceBases = serializers.CharField(required=False, allow_blank=True)
    alternateBases = serializers.CharField(required=False, allow_blank=True)

    class Meta:
        ref_name = "Variant"


class SequenceOntologyTermSerializer(serializers.Serializer[dict[str, Any]]):
    id = serializers.CharField(help_text="SO:#######")
    label = serializers.CharField(required=False, allow_blank=True)  # type: ignore[assignment]  # shadows Field.label (see above)

    class Meta:
        ref_name = "SequenceOntologyTerm"


class ExpressionSerializer(serializers.Serializer[dict[str, Any]]):
    syntax = serializers.CharField(
        max_length=32, help_text='"hgvs.c", "hgvs.g", "hgvs.p", ... (Phenopacket Expression)'
    )
    value = serializers.CharField(max_length=1000, help_text='e.g. "NM_000138.5:c.1A>G"')

    class Meta:
        ref_name = "Expression"


class GenomicFeatureInputSerializer(serializers.Serializer[dict[str, Any]]):
    gene = GeneInputSerializer()
    variant = VariantSerializer(required=False, allow_null=True)
    zygosity = serializers.IntegerField(
        min_value=0,
        max_value=2,
        required=False,
        allow_null=True,
        help_text="1 heterozygous or hemizygous, 2 homozygous (0 or null: unknown)",
    )
    type = SequenceOntologyTermSerializer(required=False, allow_null=True)
    # Not in MME: kept as submitted and written back in phenopacket exports.
    expressions = ExpressionSerializer(  # type: ignore[call-arg]  # max_length: see above
        many=True, required=False, max_length=10, help_text="HGVS expressions of the variant"
    )
    acmgClassification = serializers.ChoiceField(
        choices=ACMG_CLASSIFICATIONS,
        required=False,
        allow_blank=True,
        help_text="ACMG pathogenicity class, as Phenopacket v2 spells it",
    )

    class Meta:
        ref_name = "GenomicFeatureInput"


class DisorderInputSerializer(serializers.Serializer[dict[str, Any]]):
    id = serializers.CharField(help_text="OMIM:######, ORPHA:##### or MONDO:####### (MIM: too)")
    label = serializers.CharField(required=False, allow_blank=True)  # type: ignore[assignment]  # shadows Field.label (see above)

    class Meta:
        ref_name = "DisorderInput"


class ContactSerializer(serializers.Serializer[dict[str, Any]]):
    name = serializers.CharField(required=False, allow_blank=True, max_length=255)
    institution = serializers.CharField(required=False, allow_blank=True, max_length=255)
    href = serializers.CharField(
        required=False, allow_blank=True, max_length=255, help_text="https: or mailto: URL"
    )
    email = serializers.CharField(required=False, allow_blank=True, max_length=255)

    class Meta:
        ref_name = "Contact"


class CaseInputSerializer(serializers.Serializer[dict[str, Any]]):
    """A case as submitted (create and replace): MME patient JSON with `label` for `id`."""

    label = serializers.CharField(  # type: ignore[assignment]  # shadows Field.label (see above)
        max_length=255,
        help_text="pseudonymous label, unique in the institution (no names, dates of birth or "
        "record numbers)",
    )
    sex = serializers.ChoiceField(choices=SEX_VALUES, required=False, allow_blank=True)
    ageOfOnset = serializers.CharField(
        required=False, allow_blank=True, help_text="HPO onset term (under HP:0003674)"
    )
    inheritanceMode = serializers.CharField(
        required=False, allow_blank=True, help_text="HPO mode of inheritance (under HP:0000005)"
    )
    features = FeatureInputSerializer(many=True, required=False, max_length=MAX_FEATURES)  # type: ignore[call-arg]  # see above
    genomicFeatures = GenomicFeatureInputSerializer(  # type: ignore[call-arg]  # max_length: see above
        many=True, required=False, max_length=MAX_GENOMIC_FEATURES
    )
    disorders = DisorderInputSerializer(many=True, required=False, max_length=MAX_DISORDERS)  # type: ignore[call-arg]  # see above
    contact = ContactSerializer(
        required=False, help_text="who to contact about the case; defaults to the institution's"
    )


# Output fields that take a fixed set of values (status, source, direction) are documented as
# strings with their values in the help text: as enums, drf-spectacular would need
# ENUM_NAME_OVERRIDES to tell Case.Status from Match.Status, both named "status".


class FeatureOutputSerializer(serializers.Serializer[PhenotypeFeature]):
    id = serializers.CharField(source="hpo_id")
    label = serializers.SerializerMethodField()  # type: ignore[assignment]  # shadows Field.label (see above)
    observed = serializers.SerializerMethodField()
    ageOfOnset = serializers.CharField(source="onset_hpo_id")

    class Meta:
        ref_name = "Feature"

    def get_label(self, feature: PhenotypeFeature) -> str:
        try:
            return get_hpo().label(feature.hpo_id)
        except UnknownTermError:
            return ""  # stored against an older release that no longer has the term

    @extend_schema_field(serializers.ChoiceField(choices=OBSERVED_CHOICES))
    def get_observed(self, feature: PhenotypeFeature) -> str:
        return "yes" if feature.observed else "no"


class GeneOutputSerializer(serializers.Serializer[GenomicFeature]):
    id = serializers.CharField(source="gene_symbol", help_text="current approved symbol")
    canonicalId = serializers.CharField(
        source="gene_id", help_text='the gene as the node knows it, e.g. "NCBIGene:55768"'
    )
    submittedId = serializers.CharField(
        source="submitted_gene_id", help_text='the id as submitted, e.g. "HGNC:17646"'
    )

    class Meta:
        ref_name = "Gene"


class GenomicFeatureOutputSerializer(serializers.Serializer[GenomicFeature]):
    gene = GeneOutputSerializer(source="*")
    variant = serializers.SerializerMethodField()
    zygosity = serializers.IntegerField(allow_null=True)
    type = serializers.SerializerMethodField()
    expressions = ExpressionSerializer(source="hgvs_expressions", many=True)
    acmgClassification = serializers.CharField(source="acmg_classification")

    class Meta:
        ref_name = "GenomicFeature"

    @extend_schema_field(VariantSerializer(allow_null=True))
    def get_variant(self, feature: GenomicFeature) -> dict[str, Any] | None:
        if feature.start is None:
            return None
        return {
            "assembly": feature.assembly,
            "referenceName": feature.reference_name,
            "start": feature.start,
            "end": feature.end,
            "referenceBases": feature.reference_bases,
            "alternateBases": feature.alternate_bases,
        }

    @extend_schema_field(SequenceOntologyTermSerializer(allow_null=True))
    def get_type(self, feature: GenomicFeature) -> dict[str, str] | None:
        if not feature.variant_type_id:
            return None
        return {"id": feature.variant_type_id, "label": feature.variant_type_label}


class DisorderOutputSerializer(serializers.Serializer[Disorder]):
    id = serializers.CharField(source="disorder_id")
    label = serializers.CharField()  # type: ignore[assignment]  # shadows Field.label (see above)

    class Meta:
        ref_name = "Disorder"


class ContactOutputSerializer(serializers.Serializer[Case]):
    name = serializers.CharField(source="contact_name")
    institution = serializers.CharField(source="contact_institution")
    href = serializers.CharField(source="contact_href")
    email = serializers.CharField(source="contact_email")

    class Meta:
        ref_name = "ContactOutput"


class CaseOutputSerializer(serializers.Serializer[Case]):
    """A stored case. Its `features`, `genomicFeatures` and `disorders` must be prefetched.

    The answer can be sent back as a replacement (PUT) unchanged: read-only keys are ignored.
    """

    publicId = serializers.CharField(source="public_id", help_text="the case's id in this API")
    label = serializers.CharField()  # type: ignore[assignment]  # shadows Field.label (see above)
    status = serializers.CharField(help_text="active, or withdrawn (out of matching)")
    externalMatchingConsent = serializers.BooleanField(source="external_matching_consent")
    consentRecordedAt = serializers.DateTimeField(source="consent_recorded_at", allow_null=True)
    consentNote = serializers.CharField(source="consent_note")
    sex = serializers.CharField(help_text='one of the input values, or "" when not known')
    ageOfOnset = serializers.CharField(source="age_of_onset")
    inheritanceMode = serializers.CharField(source="inheritance_mode")
    features = FeatureOutputSerializer(many=True, source="features.all")
    genomicFeatures = GenomicFeatureOutputSerializer(many=True, source="genomic_features.all")
    disorders = DisorderOutputSerializer(many=True, source="disorders.all")
    contact = ContactOutputSerializer(source="*")
    source = serializers.CharField(help_text="entered, phenopacket, mme or synthetic")  # type: ignore[assignment]  # shadows Field.source (see above)
    isTest = serializers.BooleanField(source="is_test")
    hpoRelease = serializers.CharField(source="hpo_release")
    newMatches = serializers.SerializerMethodField(
        method_name="get_new_matches", help_text="current matches not triaged yet (status new)"
    )
    createdAt = serializers.DateTimeField(source="created_at")
    updatedAt = serializers.DateTimeField(source="updated_at")
    withdrawnAt = serializers.DateTimeField(source="withdrawn_at", allow_null=True)

    class Meta:
        ref_name = "Case"

    def get_new_matches(self, case: Case) -> int:
        # Counted for the whole page at once by the view (casework.selectors.new_match_counts).
        return int(self.context.get("new_match_counts", {}).get(case.pk, 0))


class CaseWarningSerializer(serializers.Serializer[dict[str, Any]]):
    field = serializers.CharField(
        help_text='JSON path, e.g. "genomicFeatures[0].variant.referenceName"'
    )
    message = serializers.CharField()

    class Meta:
        ref_name = "CaseWarning"


class CaseWrittenOutputSerializer(CaseOutputSerializer):
    """A case just created or replaced, with what looked like a mistake but was stored as sent."""

    warnings = CaseWarningSerializer(
        many=True,
        help_text="plausible mistakes, stored as sent: e.g. a variant on another chromosome "
        "than its gene. Check them; empty when there are none",
    )
    notes = serializers.ListField(
        child=serializers.CharField(),
        help_text="what was changed or kept on the way in: an outdated HPO id recorded as its "
        "current term; an HPO id or gene newer than this node's releases, kept as submitted and "
        "not used for matching until a release that knows it is loaded",
    )

    class Meta:
        ref_name = "CaseWritten"


# --- Matches -----------------------------------------------------------------------------------


WITHHELD_NOTE = "the other case was withdrawn by its institution: nothing of it is shown any more"


class MatchedCaseSerializer(serializers.Serializer[Case]):
    publicId = serializers.CharField(source="public_id")
    institution = serializers.CharField(source="institution.name")
    withdrawn = serializers.SerializerMethodField(
        help_text="true once its institution withdrew it: its contact is then null"
    )
    contact = ContactOutputSerializer(source="*", allow_null=True)

    class Meta:
        ref_name = "MatchedCase"

    def get_withdrawn(self, case: Case) -> bool:
        return case.status != Case.Status.ACTIVE

    def to_representation(self, case: Case) -> dict[str, Any]:
        data = super().to_representation(case)
        if data["withdrawn"]:
            data["contact"] = None  # the withdrawn case's data are its owner's alone
        return data


class PeerSerializer(serializers.Serializer[Peer]):
    name = serializers.CharField()

    class Meta:
        ref_name = "MatchPeer"


class MatchOutputSerializer(serializers.Serializer[Match]):
    """A match as listed. `case`, `matched_case` (with its institution) and `peer` must be joined."""

    id = serializers.IntegerField()
    case = serializers.CharField(source="case.public_id", help_text="public id of our case")
    direction = serializers.CharField(
        help_text="local; incoming (a peer's query found our case); outgoing (our query found "
        "a peer's patient)"
    )
    score = serializers.FloatField(help_text="0..1, higher = more likely the same disorder")
    phenotypeScore = serializers.FloatField(source="phenotype_score", help_text="0..1")
    genotypeScore = serializers.FloatField(source="genotype_score", help_text="0..1")
    scoredWith = serializers.CharField(
        source="scored_with",
        help_text="the scoring method and HPO release this node scored the match with, e.g. "
        '"bma_jaccard_explained_bridge, HPO 2025-01-16"; empty for a peer\'s score (outgoing) and '
        "for scores recorded before it was",
    )
    scoreFromEarlierRelease = serializers.SerializerMethodField(
        help_text="true while the score comes from an earlier scoring method or HPO release "
        "than the node's: the node is scoring it again, and it may change"
    )
    status = serializers.CharField(help_text="triage status: new, reviewed, contacted, dismissed")
    notes = serializers.CharField()
    matchedCase = MatchedCaseSerializer(
        source="matched_case", allow_null=True, help_text="the local case matched (local matches)"
    )
    peer = PeerSerializer(allow_null=True, help_text="the peer node (remote matches)")
    remotePatient = serializers.JSONField(
        source="remote_patient",
        help_text="the peer's patient as the peer sent it (MME JSON), less its `label`: a "
        "team's own handle is not passed on",
    )
    remoteDisclaimer = serializers.CharField(source="remote_disclaimer")
    firstSeen = serializers.DateTimeField(source="first_seen")
    lastSeen = serializers.DateTimeField(source="last_seen")
    removedAt = serializers.DateTimeField(
        source="removed_at",
        allow_null=True,
        help_text="set when later searches no longer found the match",
    )

    class Meta:
        ref_name = "Match"

    def get_scoreFromEarlierRelease(self, match: Match) -> bool:  # noqa: N802 (DRF's naming)
        return is_stale(match)

    def to_representation(self, match: Match) -> dict[str, Any]:
        data = super().to_representation(match)
        if isinstance(data.get("remotePatient"), dict):
            data["remotePatient"] = {
                key: value for key, value in data["remotePatient"].items() if key != "label"
            }
        return data


class MatchEventSerializer(serializers.Serializer[MatchEvent]):
    at = serializers.DateTimeField()
    by = serializers.SerializerMethodField(help_text="username; null once the user is deleted")
    fromStatus = serializers.CharField(source="from_status")
    toStatus = serializers.CharField(source="to_status")
    notes = serializers.CharField(help_text="the notes as they stood after this step")

    class Meta:
        ref_name = "MatchEvent"

    def get_by(self, event: MatchEvent) -> str | None:
        return event.by.get_username() if event.by is not None else None


class MatchDetailOutputSerializer(MatchOutputSerializer):
    """A match with why it matched and its triage history (`events` and their `by` prefetched)."""

    explanation = serializers.JSONField(
        help_text="term pairs with their common ancestor, conflicts with excluded terms, "
        "shared genes and variants, the known diseases both phenotypes resemble "
        "(shared_diseases) and the disease bridge's share of the phenotype score "
        "(disease_bridge_share, 0 to 0.6; absent from explanations recorded before it), "
        "and closer_disease: a known disease that one patient (patient: 'other', the matched "
        "one, or 'this', the match's own case) resembles more closely than the score's query "
        "does, which lowered our phenotype score by lowered_by (null when none, and for a "
        "peer's score; absent from explanations recorded before it); scored_from says whose "
        "search the score is of: 'owner' (this case's), 'other' (the matched patient's, whose "
        "side then sets disease_bridge_share and shared_diseases) or 'peer' (the peer's score)"
    )
    history = MatchEventSerializer(many=True, source="events.all")

    class Meta:
        ref_name = "MatchDetail"

    def to_representation(self, match: Match) -> dict[str, Any]:
        data = super().to_representation(match)
        if match.other_case_withheld:
            # Built from the withdrawn case's terms and genes: its owner's alone now.
            data["explanation"] = {"note": WITHHELD_NOTE}
        return data

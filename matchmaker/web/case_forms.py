"""The case entry form: what a clinician types, turned into a `CaseRecord` for the case services.

The form checks only the shape of what was typed; whether a term exists or a gene is known is
decided by `cases.services` (one validator for every way a case arrives), whose errors name
record fields (`features[2].id`, `genomicFeatures[0].gene.id`). `place_errors` puts each of those
next to the control it came from.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from typing import Any

from django import forms
from django.forms import BaseFormSet, formset_factory

from matchmaker.cases.models import Case
from matchmaker.cases.records import (
    ACMG_CLASSIFICATIONS,
    CaseRecord,
    ContactRecord,
    DisorderRecord,
    FeatureRecord,
    GenomicFeatureRecord,
    VariantRecord,
)
from matchmaker.cases.services.validation import INHERITANCE_ROOT, ONSET_ROOT
from matchmaker.lib.variants import mme_start, vcf_position
from matchmaker.reference.ontology import get_gene_catalogue, get_hpo

_DISORDER_SPLIT = re.compile(r"[\s,;]+")
# An HGVS expression with its reference sequence: "NM_018297.4:c.1891del" (syntax "hgvs.c").
_HGVS = re.compile(r"^\S+:(?P<kind>[cgmnpr])\.\S.*$")
_RECORD_FIELD = re.compile(
    r"^(?P<list>features|genomicFeatures|disorders)\[(?P<index>\d+)\](?P<rest>.*)$"
)

CONSENT_STATEMENT = (
    "The patient (or their guardian) consented to matching with other Matchmaker Exchange "
    "nodes. Only this case's public id, phenotype terms, candidate genes and variants, sex, "
    "onset, inheritance, diagnosis codes and the contact below are sent to peers we trust; "
    "never the label, and never anything else from the record."
)


def _choices_under(root: str) -> list[tuple[str, str]]:
    """The terms below `root` (an onset or inheritance branch of the HPO), as form choices."""
    ontology = get_hpo()
    terms = sorted(ontology.descendants(root) - {root}, key=ontology.label)
    return [("", "Not stated"), *((hpo_id, ontology.label(hpo_id)) for hpo_id in terms)]


class TermListField(forms.Field):
    """HPO ids from the term picker's hidden inputs, upper-cased, without repeats.

    Whether an id is well formed and whether the HPO has the term is for the case service to say
    (one validator for every way a case arrives): a malformed or unknown id comes back as an
    error naming it, together with every other problem of the case, and the other terms kept.
    """

    widget = forms.MultipleHiddenInput

    def to_python(self, value: Any) -> list[str]:
        terms: list[str] = []
        for raw in value or []:
            hpo_id = str(raw).strip().upper()
            if hpo_id and hpo_id not in terms:
                terms.append(hpo_id)
        return terms


class CaseForm(forms.Form):
    label = forms.CharField(
        max_length=255,
        help_text="A pseudonymous label your team recognises, e.g. <em>fam12-proband</em>. "
        "No names, dates of birth or record numbers: labels that look like identifiers are "
        "refused. Never shown to other nodes.",
    )
    sex = forms.ChoiceField(
        choices=[("", "Not stated"), *((value, label) for value, label in Case.Sex.choices)],
        required=False,
    )
    age_of_onset = forms.ChoiceField(label="Age of onset", required=False)
    inheritance_mode = forms.ChoiceField(label="Mode of inheritance", required=False)
    # Filled by the term picker: one hidden input per chosen term, named by its state.
    observed_terms = TermListField(required=False)
    excluded_terms = TermListField(required=False)
    disorders = forms.CharField(
        label="Diagnosis codes",
        required=False,
        help_text="If the case is solved: OMIM, ORPHA or MONDO ids, separated by commas "
        "(e.g. OMIM:615273).",
    )
    contact_name = forms.CharField(label="Contact name", max_length=255, required=False)
    contact_email = forms.CharField(
        label="Contact e-mail",
        max_length=255,
        required=False,
        help_text="Who a matching clinician should write to. Left empty, your institution's "
        "contact is used.",
    )
    contact_href = forms.CharField(
        label="Contact URL", max_length=255, required=False, help_text="http(s) or mailto: URL."
    )
    external_matching_consent = forms.BooleanField(
        label="Consent to external matching", required=False, help_text=CONSENT_STATEMENT
    )
    # Shown with the warnings of a case (a variant on another chromosome than its gene): ticked,
    # the case is saved as it is.
    confirm_warnings = forms.BooleanField(required=False)
    consent_note = forms.CharField(
        label="Consent note",
        max_length=255,
        required=False,
        help_text="Where the consent is documented (e.g. 'signed form in the genetics file').",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, root in (("age_of_onset", ONSET_ROOT), ("inheritance_mode", INHERITANCE_ROOT)):
            field = self.fields[name]
            if isinstance(field, forms.ChoiceField):  # as declared above
                field.choices = _choices_under(root)

    def clean_disorders(self) -> list[str]:
        text = self.cleaned_data.get("disorders", "")
        return [part.upper() for part in _DISORDER_SPLIT.split(text) if part]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        both = set(cleaned.get("observed_terms", [])) & set(cleaned.get("excluded_terms", []))
        if both:
            self.add_error(
                "observed_terms",
                f"{', '.join(sorted(both))} cannot be both observed and excluded",
            )
        return cleaned

    def chosen_terms(self) -> list[dict[str, Any]]:
        """The terms to show in the picker, with labels, in the order they were chosen."""
        ontology = get_hpo()
        data = self.data if self.is_bound else self.initial
        chosen = []
        for name, observed in (("observed_terms", True), ("excluded_terms", False)):
            values = data.getlist(name) if hasattr(data, "getlist") else data.get(name, [])
            for hpo_id in values:
                try:
                    label = ontology.label(hpo_id)
                except LookupError:
                    label = "(not a current HPO term)"
                chosen.append({"hpo_id": hpo_id, "label": label, "observed": observed})
        return chosen


class GeneForm(forms.Form):
    gene = forms.CharField(
        label="Gene",
        max_length=64,
        required=False,
        help_text="",  # the identifiers the node's gene list resolves: set in __init__
    )
    zygosity = forms.TypedChoiceField(
        choices=[("", "Not stated"), ("1", "Heterozygous or hemizygous"), ("2", "Homozygous")],
        coerce=int,
        empty_value=None,
        required=False,
    )
    assembly = forms.ChoiceField(
        choices=[("GRCh38", "GRCh38"), ("GRCh37", "GRCh37")], required=False, initial="GRCh38"
    )
    chromosome = forms.CharField(max_length=2, required=False)
    position = forms.IntegerField(
        label="Position",
        min_value=1,
        required=False,
        help_text="1-based, as in a VCF file.",
        error_messages={
            "invalid": "Enter the position as a whole number of bases, e.g. 25750426 "
            "(no commas or chromosome prefix).",
            "min_value": "Positions start at 1 (1-based, as in a VCF file).",
        },
    )
    reference_bases = forms.CharField(label="Ref", max_length=1000, required=False)
    alternate_bases = forms.CharField(label="Alt", max_length=1000, required=False)
    hgvs = forms.CharField(
        label="HGVS",
        max_length=2000,
        required=False,
        help_text="With the reference sequence, e.g. NM_018297.4:c.1891del; one a line. Kept "
        "as written and given back in exports.",
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    acmg_classification = forms.ChoiceField(
        label="ACMG class",
        choices=[("", "Not stated")]
        + [(value, value.replace("_", " ").capitalize()) for value in ACMG_CLASSIFICATIONS],
        required=False,
    )

    def clean_hgvs(self) -> tuple[tuple[str, str], ...]:
        expressions = []
        for line in self.cleaned_data.get("hgvs", "").splitlines():
            value = line.strip()
            if not value:
                continue
            match = _HGVS.match(value)
            if match is None:
                raise forms.ValidationError(
                    f"{value} is not an HGVS expression with its reference sequence, such as "
                    "NM_018297.4:c.1891del"
                )
            expressions.append((f"hgvs.{match['kind']}", value))
        return tuple(expressions)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        accepted = get_gene_catalogue().accepted_identifiers()
        self.fields["gene"].help_text = f"{accepted[0].upper()}{accepted[1:]} (e.g. NGLY1)."

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        has_variant = any(
            cleaned.get(name) for name in ("chromosome", "position", "reference_bases")
        ) or bool(cleaned.get("alternate_bases"))
        if (
            has_variant or cleaned.get("hgvs") or cleaned.get("acmg_classification")
        ) and not cleaned.get("gene"):
            self.add_error("gene", "a variant needs its gene")
        if has_variant:
            for name in ("chromosome", "position"):
                if not cleaned.get(name):
                    self.add_error(name, "is required for a variant")
        return cleaned

    def genomic_feature(self) -> GenomicFeatureRecord | None:
        data = self.cleaned_data
        if not data.get("gene"):
            return None
        variant = None
        if data.get("position"):
            start = mme_start(data["position"])  # MME and our storage are 0-based
            reference_bases = data.get("reference_bases", "").upper()
            variant = VariantRecord(
                assembly=data.get("assembly") or "GRCh38",
                reference_name=data.get("chromosome", "").upper().removeprefix("CHR"),
                start=start,
                # As the phenopacket reader does: the end follows from the reference bases.
                end=start + len(reference_bases) if reference_bases else None,
                reference_bases=reference_bases,
                alternate_bases=data.get("alternate_bases", "").upper(),
            )
        return GenomicFeatureRecord(
            gene_id=data["gene"].strip(),
            variant=variant,
            zygosity=data.get("zygosity"),
            hgvs_expressions=data.get("hgvs") or (),
            acmg_classification=data.get("acmg_classification", ""),
        )


MAX_GENES_PER_CASE = 20


class _GeneFormSet(BaseFormSet[GeneForm]):
    # Django's own wording speaks of "forms"; a clinician sees gene rows.
    default_error_messages = {
        "missing_management_form": "The list of candidate genes arrived incomplete (the page "
        "was probably changed or cut off while sending). Reload the form and enter the genes "
        "again.",
        "too_many_forms": "A case can list at most %(num)d candidate genes. Remove the rows of "
        "the genes least likely to explain the phenotype.",
        "too_few_forms": "Please enter at least %(num)d candidate genes.",
    }


# absolute_max: a forged TOTAL_FORMS (say 100,000) must not build that many forms; beyond the
# limit the formset is refused with the "at most 20 candidate genes" message.
# can_delete: every row has a "Remove this gene" control (a DELETE checkbox that the page's
# script ticks and hides); a removed row is neither validated nor stored.
GeneFormSet = formset_factory(
    GeneForm,
    formset=_GeneFormSet,
    extra=1,
    max_num=MAX_GENES_PER_CASE,
    absolute_max=MAX_GENES_PER_CASE,
    validate_max=True,
    can_delete=True,
)


# What `record_from_forms` uses for a case form field that did not clean.
_EMPTY_CASE_FORM: dict[str, Any] = {
    "label": "",
    "sex": "",
    "age_of_onset": "",
    "inheritance_mode": "",
    "observed_terms": [],
    "excluded_terms": [],
    "disorders": [],
    "contact_name": "",
    "contact_email": "",
    "contact_href": "",
}


def record_from_forms(
    form: CaseForm,
    genes: BaseFormSet[GeneForm],
    *,
    previous: CaseRecord | None = None,
) -> tuple[CaseRecord, list[int]]:
    """The record the forms describe, and the gene form index of each genomic feature.

    Editing keeps what the form does not show (onsets of kept terms, external references,
    pass-through fields, the test flag; of an unchanged gene, the id it was submitted with, and
    of its unchanged variant, the type, label and allelic state).
    Forms that did not validate give the record what they could clean (a field with an error is
    empty, a gene row with an error is left out), so the case services can still report every
    other problem at once.
    """
    data = {**_EMPTY_CASE_FORM, **form.cleaned_data}
    onsets = (
        {f.hpo_id: (f.onset_hpo_id, f.onset_age) for f in previous.features} if previous else {}
    )
    features = [
        FeatureRecord(
            hpo_id=hpo_id,
            observed=observed,
            onset_hpo_id=onsets.get(hpo_id, ("", ""))[0],
            onset_age=onsets.get(hpo_id, ("", ""))[1],
        )
        for name, observed in (("observed_terms", True), ("excluded_terms", False))
        for hpo_id in data[name]
    ]
    # The form shows a stored gene by its approved symbol (case_record_of gives the submitted id
    # too): a row still naming it is the same gene.
    previous_genes: dict[str, GenomicFeatureRecord] = {}
    for gene in previous.genomic_features if previous else ():
        for name in (gene.gene_symbol, gene.gene_id):
            if name:
                previous_genes.setdefault(name.upper(), gene)
    genomic_features, gene_rows = [], []
    for row, gene_form in enumerate(genes.forms):
        if gene_form.errors or gene_form.cleaned_data.get("DELETE"):
            continue
        feature = gene_form.genomic_feature()
        if feature is None:
            continue
        before = previous_genes.get(feature.gene_id.upper())
        if before is not None:
            feature = dataclasses.replace(
                feature, gene_id=before.gene_id, gene_symbol=before.gene_symbol
            )
        if before is not None:
            # An expression kept from an import keeps the syntax it was submitted with.
            syntaxes = {value: syntax for syntax, value in before.hgvs_expressions}
            feature = dataclasses.replace(
                feature,
                hgvs_expressions=tuple(
                    (syntaxes.get(value, syntax), value)
                    for syntax, value in feature.hgvs_expressions
                ),
            )
        if before is not None and before.variant == feature.variant:
            feature = dataclasses.replace(
                feature,
                variant_type_id=before.variant_type_id,
                variant_type_label=before.variant_type_label,
                variant_label=before.variant_label,
                allelic_state_id=before.allelic_state_id
                if before.zygosity == feature.zygosity
                else "",
            )
        genomic_features.append(feature)
        gene_rows.append(row)
    previous_labels = {d.disorder_id: d.label for d in previous.disorders} if previous else {}
    record = CaseRecord(
        label=data["label"],
        features=tuple(features),
        genomic_features=tuple(genomic_features),
        disorders=tuple(
            DisorderRecord(disorder_id=d, label=previous_labels.get(d, ""))
            for d in data["disorders"]
        ),
        contact=ContactRecord(
            name=data["contact_name"],
            institution=previous.contact.institution if previous else "",
            href=data["contact_href"],
            email=data["contact_email"],
        ),
        sex=data["sex"],
        age_of_onset=data["age_of_onset"],
        onset_age=previous.onset_age if previous else "",
        inheritance_mode=data["inheritance_mode"],
        external_references=previous.external_references if previous else (),
        extra=dict(previous.extra) if previous else {},
        is_test=previous.is_test if previous else False,
    )
    return record, gene_rows


def initial_from_case(
    case: Case, record: CaseRecord
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Initial values of the case form and the gene forms, to edit a stored case."""
    initial = {
        "label": record.label,
        "sex": record.sex,
        "age_of_onset": record.age_of_onset,
        "inheritance_mode": record.inheritance_mode,
        "observed_terms": [f.hpo_id for f in record.features if f.observed],
        "excluded_terms": [f.hpo_id for f in record.features if not f.observed],
        "disorders": ", ".join(d.disorder_id for d in record.disorders),
        "contact_name": record.contact.name,
        "contact_email": record.contact.email,
        "contact_href": record.contact.href,
        "external_matching_consent": case.external_matching_consent,
        "consent_note": case.consent_note,
    }
    genes = []
    for feature in record.genomic_features:
        row: dict[str, Any] = {
            "gene": feature.gene_symbol or feature.gene_id,
            "zygosity": feature.zygosity,
            "hgvs": "\n".join(value for _, value in feature.hgvs_expressions),
            "acmg_classification": feature.acmg_classification,
        }
        if feature.variant is not None:
            row.update(
                assembly=feature.variant.assembly,
                chromosome=feature.variant.reference_name,
                position=vcf_position(feature.variant.start),
                reference_bases=feature.variant.reference_bases,
                alternate_bases=feature.variant.alternate_bases,
            )
        genes.append(row)
    return initial, genes


# Record field -> form field, for the errors that the case services name.
_CASE_FIELDS = {
    "label": "label",
    "sex": "sex",
    "ageOfOnset": "age_of_onset",
    "inheritanceMode": "inheritance_mode",
    "contact.email": "contact_email",
    "contact.href": "contact_href",
    "contact.name": "contact_name",
    "features": "observed_terms",
    "consentNote": "consent_note",
}
_TERM_FIELDS = ("observed_terms", "excluded_terms")
_GENE_FIELDS = {
    ".gene.id": "gene",
    ".zygosity": "zygosity",
    ".variant.assembly": "assembly",
    ".variant.referenceName": "chromosome",
    ".variant.start": "position",
    ".variant.end": "position",
    ".variant.referenceBases": "reference_bases",
    ".variant.alternateBases": "alternate_bases",
    ".acmgClassification": "acmg_classification",
}


def place_errors(
    form: CaseForm,
    genes: BaseFormSet[GeneForm],
    errors: Sequence[tuple[str, str]],
    *,
    record: CaseRecord,
    gene_rows: Sequence[int],
) -> None:
    """Attach each service error to the control it concerns (the form's top when none fits).

    A control that already shows the form's own error ("This field is required.") does not get
    the service's word for the same problem as well.
    """
    already = {name for name in form.errors if name not in _TERM_FIELDS}
    for field, message in errors:
        if field in _CASE_FIELDS:
            if _CASE_FIELDS[field] not in already:
                form.add_error(_CASE_FIELDS[field], message)
            continue
        located = _RECORD_FIELD.match(field)
        if located is None:
            form.add_error(None, f"{field}: {message}" if field else message)
            continue
        index, rest = int(located["index"]), located["rest"]
        if located["list"] == "features" and index < len(record.features):
            feature = record.features[index]
            name = "observed_terms" if feature.observed else "excluded_terms"
            text = message if feature.hpo_id in message else f"{feature.hpo_id}: {message}"
            form.add_error(name, text)
        elif located["list"] == "genomicFeatures" and index < len(gene_rows):
            gene_form = genes.forms[gene_rows[index]]
            default = "hgvs" if rest.startswith(".expressions") else "gene"
            gene_form.add_error(_GENE_FIELDS.get(rest, default), message)
        elif located["list"] == "disorders":
            form.add_error("disorders", message)
        else:
            form.add_error(None, f"{field}: {message}")

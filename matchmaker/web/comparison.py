"""The two patients of a match, read for the matches pages: their profiles, contacts and genes.

The term-by-term grid itself (which term met which, through which common ancestor) is computed in
``ontologies.similarity.grid`` by the rules the scorer's explanations follow; this module only
reads a `Match` (with its cases' children prefetched) into the plain profiles the grid takes, and
the rest of the match into what the templates show. A peer's patient is JSON we did not write, so
the readers never trust its shape.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeGuard

import numpy as np
from numpy.typing import NDArray

from matchmaker.lib.variants import describe_variant
from ontologies.hpo import Ontology
from ontologies.similarity.explanation import stored_pair_is_close
from ontologies.similarity.grid import (
    MAX_GRID_TERMS,
    SHADES,
    Conflict,
    ExcludedTerm,
    GridCell,
    GridColumn,
    GridRow,
    Profile,
    ProfileComparison,
    Term,
    TermSimilarity,
    compare_profiles,
    term_similarity,
)

if TYPE_CHECKING:
    from matchmaker.cases.models import Case
    from matchmaker.cases.models import GenomicFeature as GenomicFeatureRow
    from matchmaker.casework.models import Match

_SAFE_HREF = re.compile(r"^(https?://|mailto:)\S+$", re.IGNORECASE)


# Reading the two sides of a stored match.


@dataclass(frozen=True, slots=True)
class Contact:
    name: str
    institution: str
    email: str
    href: str  # only http(s) and mailto: links; anything else from a peer is dropped

    @property
    def href_text(self) -> str:
        return self.href[len("mailto:") :] if self.href.lower().startswith("mailto:") else self.href

    @property
    def shows_href(self) -> bool:
        """False when the link would only repeat the e-mail address."""
        return bool(self.href) and self.href_text != self.email


@dataclass(frozen=True, slots=True)
class GenomicFeature:
    gene_id: str  # canonical when we could resolve it, else as sent
    gene_symbol: str
    variant: str  # "GRCh37 3:25775421 C>T" or ""
    zygosity: str  # "heterozygous or hemizygous", "homozygous" or ""


@dataclass(frozen=True, slots=True)
class SharedGene:
    gene_id: str
    gene_symbol: str
    same_variant: bool
    same_zygosity: bool
    note: str
    own: tuple[GenomicFeature, ...]
    other: tuple[GenomicFeature, ...]


def stored_term_pairs(
    match: Match, ontology: Ontology, information_content: NDArray[np.float64]
) -> list[dict[str, object]]:
    """The stored explanation's term pairs, read with today's rule of close counterparts.

    An explanation stored before the rule (or by an older node version) may pair a term through
    a general ancestor; it is shown as having no close counterpart, as the scorer now stores it.
    """
    explanation = match.explanation if isinstance(match.explanation, Mapping) else {}
    stored = explanation.get("term_matches")
    pairs: list[dict[str, object]] = []
    for pair in stored if isinstance(stored, list) else []:
        if not isinstance(pair, Mapping):
            continue
        pair = dict(pair)
        stored_case_term = pair.get("case_term")
        if (
            stored_case_term
            and stored_case_term != pair.get("query_term")
            and not stored_pair_is_close(ontology, information_content, pair.get("common_ancestor"))
        ):
            for key in ("case_term", "case_label", "common_ancestor", "common_ancestor_label"):
                pair[key] = None
        pairs.append(pair)
    return pairs


def safe_href(href: object) -> str:
    """The link if it is http(s) or mailto:, else "" (a peer's `javascript:` never becomes a link)."""
    if isinstance(href, str) and _SAFE_HREF.match(href.strip()):
        return href.strip()
    return ""


def profile_of_case(case: Case) -> Profile:
    """Our case's profile; reads `case.features.all()` (prefetch it for lists)."""
    features = list(case.features.all())
    return Profile(
        observed=tuple(f.hpo_id for f in features if f.observed),
        excluded=tuple(f.hpo_id for f in features if not f.observed),
    )


def profile_of_mme_patient(patient: object) -> Profile:
    """A peer's patient's profile from its MME `features` (observed "yes" unless "no")."""
    observed: list[str] = []
    excluded: list[str] = []
    labels: dict[str, str] = {}
    features = patient.get("features") if isinstance(patient, Mapping) else None
    for feature in features if isinstance(features, list) else []:
        if not isinstance(feature, Mapping) or not isinstance(feature.get("id"), str):
            continue
        hpo_id = feature["id"].strip()
        if isinstance(feature.get("label"), str):
            labels[hpo_id] = feature["label"]
        (excluded if feature.get("observed") == "no" else observed).append(hpo_id)
    return Profile(observed=tuple(observed), excluded=tuple(excluded), labels=labels)


def other_profile_of(match: Match) -> Profile:
    """The other patient's profile: the case's current terms, the peer's snapshot, or nothing
    for a withdrawn case (`Match.other_case_withheld`)."""
    if match.other_case_withheld:
        return Profile(observed=())
    if match.matched_case is not None:
        return profile_of_case(match.matched_case)
    return profile_of_mme_patient(match.remote_patient)


def other_contact_of(match: Match) -> Contact:
    """Whom to contact about the other patient: the case's contact (or its institution's), or
    the contact the peer sent. Never the other case's label: it is another clinician's; and
    nothing for a withdrawn case."""
    other = match.matched_case
    if match.other_case_withheld:
        return Contact(name="", institution="", email="", href="")
    if other is not None:
        institution = other.institution
        return Contact(
            name=other.contact_name or institution.contact_name,
            institution=other.contact_institution or institution.name,
            email=other.contact_email or institution.contact_email,
            href=safe_href(other.contact_href or institution.contact_url),
        )
    patient = match.remote_patient if isinstance(match.remote_patient, Mapping) else {}
    contact = patient.get("contact")
    contact = contact if isinstance(contact, Mapping) else {}
    email = contact.get("email")
    if isinstance(email, list):
        email = ", ".join(address for address in email if isinstance(address, str))
    return Contact(
        name=_text(contact.get("name")),
        institution=_text(contact.get("institution")),
        email=_text(email),
        href=safe_href(contact.get("href")),
    )


def shared_genes_of(
    match: Match, *, resolve_gene: Callable[[str], str | None] = lambda gene_id: None
) -> list[SharedGene]:
    """The genes of `explanation["genes"]` with each side's variants in them.

    `resolve_gene` maps a peer's gene id (Ensembl, symbol, ...) to our canonical id, or None.
    Reads `genomic_features` of both cases (prefetch them).
    """
    genes = match.explanation.get("genes") if isinstance(match.explanation, Mapping) else None
    if not isinstance(genes, list) or match.other_case_withheld:
        return []
    own = [_feature_of_case_gene(feature) for feature in match.case.genomic_features.all()]
    if match.matched_case is not None:
        other = [_feature_of_case_gene(f) for f in match.matched_case.genomic_features.all()]
    else:
        other = _features_of_mme_patient(match.remote_patient, resolve_gene)
    shared = []
    for gene in genes:
        if not isinstance(gene, Mapping):
            continue
        gene_id = _text(gene.get("gene_id"))
        symbol = _text(gene.get("gene_symbol")) or gene_id
        shared.append(
            SharedGene(
                gene_id=gene_id,
                gene_symbol=symbol,
                same_variant=bool(gene.get("same_variant")),
                same_zygosity=bool(gene.get("same_zygosity")),
                note=_text(gene.get("note")),
                own=tuple(f for f in own if f.gene_id == gene_id),
                other=tuple(f for f in other if f.gene_id in (gene_id, symbol)),
            )
        )
    return shared


@dataclass(frozen=True, slots=True)
class OtherPatient:
    """The other patient as the match carries it: a peer's answer, or the other local case.

    `shared` is False for a local case its team has not consented to share (or has withdrawn):
    then nothing of it is shown beyond its public id and contact. Sex is the MME/GA4GH word
    ("FEMALE"); onset and inheritance are HPO ids (any release), labelled by the caller.
    """

    shared: bool
    sex: str
    age_of_onset: str
    inheritance_mode: str
    genomic_features: tuple[GenomicFeature, ...]


_SEX_WORDS = {"FEMALE", "MALE", "OTHER", "MIXED_SAMPLE", "NOT_APPLICABLE"}


def other_patient_of(
    match: Match, *, resolve_gene: Callable[[str], str | None] = lambda gene_id: None
) -> OtherPatient:
    """Everything the match carries about the other patient: all their genes, not only shared ones.

    A local case is shown when its team consented to share it (active, with consent), or when it
    is one of our own institution's active cases; never a withdrawn case's current data.
    Reads `matched_case.genomic_features` (prefetch it).
    """
    other = match.matched_case
    if other is not None:
        own_institution = other.institution_id == match.case.institution_id
        if not (other.is_shareable or (own_institution and other.status == "active")):
            return OtherPatient(False, "", "", "", ())
        return OtherPatient(
            shared=True,
            sex=other.sex,
            age_of_onset=other.age_of_onset,
            inheritance_mode=other.inheritance_mode,
            genomic_features=tuple(
                _feature_of_case_gene(feature) for feature in other.genomic_features.all()
            ),
        )
    patient = match.remote_patient if isinstance(match.remote_patient, Mapping) else {}
    # MME 1.0's reference schema calls the field `gender` (mme-api.md §1.11): read either.
    sex = _text(patient.get("sex")) or _text(patient.get("gender"))
    return OtherPatient(
        shared=True,
        sex=sex.upper() if sex.upper() in _SEX_WORDS else "",
        age_of_onset=_hpo_id_or_blank(patient.get("ageOfOnset")),
        inheritance_mode=_hpo_id_or_blank(patient.get("inheritanceMode")),
        genomic_features=tuple(_features_of_mme_patient(patient, resolve_gene)),
    )


_HPO_ID = re.compile(r"^HP:\d{7}$")


def _hpo_id_or_blank(value: object) -> str:
    text = _text(value)
    return text if _HPO_ID.match(text) else ""


_ZYGOSITY = {1: "heterozygous or hemizygous", 2: "homozygous"}


def _feature_of_case_gene(feature: GenomicFeatureRow) -> GenomicFeature:
    return GenomicFeature(
        gene_id=feature.gene_id,
        gene_symbol=feature.gene_symbol,
        variant=feature.variant_description,
        zygosity=_ZYGOSITY.get(feature.zygosity or 0, ""),
    )


def _features_of_mme_patient(
    patient: object, resolve_gene: Callable[[str], str | None]
) -> list[GenomicFeature]:
    features = patient.get("genomicFeatures") if isinstance(patient, Mapping) else None
    found = []
    for feature in features if isinstance(features, list) else []:
        if not isinstance(feature, Mapping) or not isinstance(feature.get("gene"), Mapping):
            continue
        sent_id = _text(feature["gene"].get("id"))
        if not sent_id:
            continue
        symbol = _text(feature["gene"].get("_geneName")) or _text(feature["gene"].get("label"))
        variant = feature.get("variant")
        description = ""
        # MME's `start` is 0-based, like ours: shown 1-based, as the case page shows our own.
        if isinstance(variant, Mapping) and _is_position(start := variant.get("start")):
            description = describe_variant(
                assembly=_text(variant.get("assembly")),
                reference_name=_text(variant.get("referenceName")),
                start=start,
                reference_bases=_text(variant.get("referenceBases")),
                alternate_bases=_text(variant.get("alternateBases")),
            )
        zygosity = feature.get("zygosity")
        found.append(
            GenomicFeature(
                gene_id=resolve_gene(sent_id) or sent_id,
                gene_symbol=symbol or sent_id,
                variant=description,
                zygosity=_ZYGOSITY.get(zygosity, "") if isinstance(zygosity, int) else "",
            )
        )
    return found


def _is_position(value: object) -> TypeGuard[int]:
    # A peer's JSON: a bool is an int to Python, and a negative start is no position.
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _text(value: object) -> str:
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return ""


__all__ = [
    "MAX_GRID_TERMS",
    "SHADES",
    "Conflict",
    "Contact",
    "ExcludedTerm",
    "GenomicFeature",
    "GridCell",
    "GridColumn",
    "GridRow",
    "OtherPatient",
    "Profile",
    "ProfileComparison",
    "SharedGene",
    "Term",
    "TermSimilarity",
    "compare_profiles",
    "other_contact_of",
    "other_patient_of",
    "other_profile_of",
    "profile_of_case",
    "profile_of_mme_patient",
    "safe_href",
    "shared_genes_of",
    "stored_term_pairs",
    "term_similarity",
]

"""The two patients of a match side by side: which term met which, through which common ancestor.

The matches pages show a term-by-term grid: rows are our case's observed terms, columns the other
patient's, each cell the Lin similarity of the two terms (0..1) and their most informative common
ancestor (MICA). The outlined cell of a row is the term the scorer pairs it with: the column whose
MICA has the highest information content, an identical term winning ties, then the first column
(the rule of `PhenotypeScorer.explain`, so the picture agrees with the stored explanation).

The phenotype functions are pure: they take the ontology and the information content vector
(the node's scorer's) and plain term lists, so they are tested without a database. The readers
at the end turn a `Match` (with its cases' children prefetched) into those lists; a peer's
patient is JSON we did not write, so they never trust its shape.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeGuard

import numpy as np
from numpy.typing import NDArray

from matchmaker.lib.variants import describe_variant
from ontologies.hpo import Ontology
from ontologies.similarity.scorer import is_close_ancestor

if TYPE_CHECKING:
    from matchmaker.cases.models import Case
    from matchmaker.cases.models import GenomicFeature as GenomicFeatureRow
    from matchmaker.casework.models import Match

# Wider grids stop being readable on a 1280px screen; the note under the grid says what was left.
MAX_GRID_TERMS = 40
# Cells are shaded in this many steps (CSS classes sim-0 .. sim-10), never by colour alone: the
# similarity is printed in every cell too.
SHADES = 10
_SAFE_HREF = re.compile(r"^(https?://|mailto:)\S+$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Term:
    """A term as shown: the current id and label, or the id as sent when our release lacks it."""

    hpo_id: str
    label: str
    known: bool = True


@dataclass(frozen=True, slots=True)
class Profile:
    """One patient's phenotype as submitted: HPO ids (any release), observed and excluded.

    `labels` are the labels the sender gave, shown for ids our release does not know.
    """

    observed: tuple[str, ...]
    excluded: tuple[str, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TermSimilarity:
    similarity: float  # Lin, 0..1, 1 = the same term
    common_ancestor: Term  # the most informative common ancestor
    common_ancestor_ic: float  # nats


@dataclass(frozen=True, slots=True)
class GridCell:
    column: Term
    similarity: float  # Lin, 0..1, higher = closer
    common_ancestor: Term
    common_ancestor_ic: float  # nats
    is_best: bool  # the term the scorer pairs this row's term with

    @property
    def shade(self) -> int:
        """0..SHADES, for the cell's CSS class."""
        return round(self.similarity * SHADES)


@dataclass(frozen=True, slots=True)
class GridRow:
    term: Term
    cells: tuple[GridCell, ...]
    # None when the other side has no known observed term, or none close to this one (met only
    # at a general ancestor: see ontologies.similarity.scorer.is_close_ancestor).
    best: GridCell | None
    in_conflict: bool  # observed here, but the other patient excludes it or an ancestor


@dataclass(frozen=True, slots=True)
class GridColumn:
    term: Term
    in_conflict: bool  # observed there, but our case excludes it or an ancestor


@dataclass(frozen=True, slots=True)
class Conflict:
    """A term one side observes while the other excludes it or one of its ancestors."""

    observed: Term
    excluded: Term
    observed_in: str  # "own" (our case observes it) or "other"


@dataclass(frozen=True, slots=True)
class ExcludedTerm:
    term: Term
    conflicts_with: tuple[Term, ...]  # the other side's observed terms this exclusion contradicts


@dataclass(frozen=True, slots=True)
class ProfileComparison:
    rows: tuple[GridRow, ...]
    columns: tuple[GridColumn, ...]
    hidden_rows: int  # observed terms of our case left out of the grid (over MAX_GRID_TERMS)
    hidden_columns: int
    own_excluded: tuple[ExcludedTerm, ...]
    other_excluded: tuple[ExcludedTerm, ...]
    conflicts: tuple[Conflict, ...]
    own_unknown: tuple[Term, ...]  # ids our HPO release does not know (not in the grid)
    other_unknown: tuple[Term, ...]

    @property
    def is_empty(self) -> bool:
        return not self.rows or not self.columns


@dataclass(frozen=True, slots=True)
class _Resolved:
    observed: list[tuple[Term, int]]  # (term, index in the ontology)
    excluded: list[tuple[Term, int]]
    unknown: list[Term]


def term_similarity(
    ontology: Ontology, information_content: NDArray[np.float64], first: str, second: str
) -> TermSimilarity:
    """Lin similarity of two current terms and their most informative common ancestor.

    Raises LookupError for an id the ontology does not hold. Ties in IC go to the deepest
    ancestor, as in the scorer's explanations.
    """
    first_index, second_index = ontology.index_of(first), ontology.index_of(second)
    mask = np.zeros(len(ontology.term_ids), dtype=np.bool_)
    mask[_ancestors(ontology, first_index)] = True
    return _similarity(ontology, information_content, mask, first_index, second_index)


def compare_profiles(
    ontology: Ontology,
    information_content: NDArray[np.float64],
    own: Profile,
    other: Profile,
    *,
    max_terms: int = MAX_GRID_TERMS,
) -> ProfileComparison:
    """The term-by-term grid of two profiles, their exclusions and the conflicts between them.

    Ids are mapped to current terms (alt and obsolete ids with a replacement); ids the release
    does not know are listed apart, never in the grid. When a side has more than `max_terms`
    observed terms, the grid keeps our first `max_terms` and, of the other side, first the
    columns that are some kept row's best match. Columns are ordered by the first row they are
    the best match of, so the outlined cells run down the diagonal. Cost: one small gather per
    cell, a few milliseconds for 40 x 40.
    """
    mine = _resolve(ontology, own)
    theirs = _resolve(ontology, other)
    rows_kept = mine.observed[:max_terms]
    ic = information_content

    # Similarities of every kept row against every column (the best match may be any of them).
    cells: list[list[tuple[TermSimilarity, bool]]] = []
    best_columns: list[int | None] = []
    for _, row_index in rows_kept:
        mask = np.zeros(len(ontology.term_ids), dtype=np.bool_)
        mask[_ancestors(ontology, row_index)] = True
        row = [
            (_similarity(ontology, ic, mask, row_index, column_index), row_index == column_index)
            for _, column_index in theirs.observed
        ]
        cells.append(row)
        best = _best_column(row)
        # The scorer's rule (PhenotypeScorer.explain): a best counterpart met only at a general
        # ancestor is no match, so no cell of the row is outlined.
        if best is not None:
            similarity, exact = row[best]
            ancestor = ontology.index_of(similarity.common_ancestor.hpo_id)
            if not exact and not is_close_ancestor(ontology, ic, ancestor):
                best = None
        best_columns.append(best)

    first_best_row: dict[int, int] = {}
    for row_position, column in enumerate(best_columns):
        if column is not None:
            first_best_row.setdefault(column, row_position)
    order = sorted(
        range(len(theirs.observed)),
        key=lambda column: (first_best_row.get(column, len(rows_kept)), column),
    )
    shown_columns = order[:max_terms]

    conflicts = _conflicts(ontology, mine.observed, theirs.excluded, "own") + _conflicts(
        ontology, theirs.observed, mine.excluded, "other"
    )
    own_in_conflict = {c.observed.hpo_id for c in conflicts if c.observed_in == "own"}
    other_in_conflict = {c.observed.hpo_id for c in conflicts if c.observed_in == "other"}

    rows = []
    for row_position, (term, _) in enumerate(rows_kept):
        grid_cells = []
        best_cell = None
        for column in shown_columns:
            similarity, _ = cells[row_position][column]
            cell = GridCell(
                column=theirs.observed[column][0],
                similarity=similarity.similarity,
                common_ancestor=similarity.common_ancestor,
                common_ancestor_ic=similarity.common_ancestor_ic,
                is_best=column == best_columns[row_position],
            )
            if cell.is_best:
                best_cell = cell
            grid_cells.append(cell)
        rows.append(
            GridRow(
                term=term,
                cells=tuple(grid_cells),
                best=best_cell,
                in_conflict=term.hpo_id in own_in_conflict,
            )
        )
    return ProfileComparison(
        rows=tuple(rows),
        columns=tuple(
            GridColumn(
                term=theirs.observed[column][0],
                in_conflict=theirs.observed[column][0].hpo_id in other_in_conflict,
            )
            for column in shown_columns
        ),
        hidden_rows=len(mine.observed) - len(rows_kept),
        hidden_columns=len(theirs.observed) - len(shown_columns),
        own_excluded=_excluded_terms(mine.excluded, conflicts, "other"),
        other_excluded=_excluded_terms(theirs.excluded, conflicts, "own"),
        conflicts=conflicts,
        own_unknown=tuple(mine.unknown),
        other_unknown=tuple(theirs.unknown),
    )


def _ancestors(ontology: Ontology, index: int) -> NDArray[np.int64]:
    indptr = ontology.ancestor_indptr
    return ontology.ancestor_indices[indptr[index] : indptr[index + 1]]


def _similarity(
    ontology: Ontology,
    ic: NDArray[np.float64],
    first_ancestors: NDArray[np.bool_],
    first: int,
    second: int,
) -> TermSimilarity:
    """`first_ancestors`: a mask over all terms of the ancestors of `first` (itself included)."""
    candidates = _ancestors(ontology, second)
    common = candidates[first_ancestors[candidates]]
    # Every term descends from the root, so `common` is never empty.
    tied = common[ic[common] == ic[common].max()]
    ancestor = int(tied[np.argmax(ontology.depth[tied])])
    ancestor_ic = float(ic[ancestor])
    denominator = float(ic[first] + ic[second])
    if first == second:
        lin = 1.0
    elif denominator > 0:
        lin = min(1.0, 2.0 * ancestor_ic / denominator)
    else:
        lin = 0.0
    return TermSimilarity(
        similarity=lin,
        common_ancestor=Term(ontology.term_ids[ancestor], ontology.labels[ancestor]),
        common_ancestor_ic=ancestor_ic,
    )


def _best_column(row: Sequence[tuple[TermSimilarity, bool]]) -> int | None:
    best, best_key = None, (-1.0, False)
    for column, (similarity, exact) in enumerate(row):
        key = (similarity.common_ancestor_ic, exact)
        if key > best_key:
            best, best_key = column, key
    return best


def _resolve(ontology: Ontology, profile: Profile) -> _Resolved:
    observed: list[tuple[Term, int]] = []
    excluded: list[tuple[Term, int]] = []
    unknown: list[Term] = []
    seen: set[int] = set()
    for hpo_ids, target in ((profile.observed, observed), (profile.excluded, excluded)):
        for hpo_id in hpo_ids:
            try:
                current = ontology.resolve(hpo_id).hpo_id
            except LookupError:
                unknown.append(Term(hpo_id, profile.labels.get(hpo_id, ""), known=False))
                continue
            index = ontology.index_of(current)
            # A term given twice (or as an old id and its replacement) counts once; observed wins.
            if index in seen:
                continue
            seen.add(index)
            target.append((Term(current, ontology.labels[index]), index))
    return _Resolved(observed, excluded, unknown)


def _conflicts(
    ontology: Ontology,
    observed: Iterable[tuple[Term, int]],
    excluded: Iterable[tuple[Term, int]],
    observed_in: str,
) -> tuple[Conflict, ...]:
    excluded_by_index = {index: term for term, index in excluded}
    found = []
    for term, index in observed:
        for ancestor in _ancestors(ontology, index).tolist():
            if ancestor in excluded_by_index:
                found.append(Conflict(term, excluded_by_index[ancestor], observed_in))
    return tuple(found)


def _excluded_terms(
    excluded: Iterable[tuple[Term, int]], conflicts: Iterable[Conflict], observed_in: str
) -> tuple[ExcludedTerm, ...]:
    conflicts = list(conflicts)
    return tuple(
        ExcludedTerm(
            term=term,
            conflicts_with=tuple(
                c.observed
                for c in conflicts
                if c.observed_in == observed_in and c.excluded.hpo_id == term.hpo_id
            ),
        )
        for term, _ in excluded
    )


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
        ancestor = pair.get("common_ancestor")
        if pair.get("case_term") and pair.get("case_term") != pair.get("query_term"):
            try:
                close = isinstance(ancestor, str) and is_close_ancestor(
                    ontology, information_content, ontology.index_of(ancestor)
                )
            except LookupError:
                close = True  # a term of a newer release: keep what was stored
            if not close:
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

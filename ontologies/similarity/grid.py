"""The two patients of a match side by side: which term met which, through which common ancestor.

The comparison grid: rows are one patient's observed terms, columns the other's, each cell the Lin
similarity of the two terms (0..1) and their most informative common ancestor (MICA). A row's best
cell is the term the scorer pairs it with in its explanation (``PhenotypeScorer.explain``, the
default method): both go through ``explanation.pair_term`` and ``explanation.common_ancestor``,
so the grid and a stored explanation cannot disagree.

Profiles are plain HPO ids of any release (alt and obsolete ids resolved to current terms); ids the
release does not know are listed apart. Everything here is pure: the ontology, the information
content vector (the node's scorer's) and the two profiles in, plain dataclasses out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from ontologies.hpo import Ontology
from ontologies.similarity.explanation import (
    ancestor_set,
    common_ancestor,
    conflicting_pairs,
    pair_term,
)
from ontologies.similarity.kernels import LIN
from ontologies.similarity.scorer import DEFAULT_METHOD, METHODS

# Wider grids stop being readable on a 1280px screen; the note under the grid says what was left.
MAX_GRID_TERMS = 40
# Cells are shaded in this many steps of similarity (``GridCell.shade``).
SHADES = 10
# The grid pairs terms as the node's scorer explains them: with its default method's term
# similarity and exact bonus.
_PAIRING = METHODS[DEFAULT_METHOD]


@dataclass(frozen=True, slots=True)
class Term:
    """A term as shown: the current id and label, or the id as sent when our release lacks it."""

    hpo_id: str
    label: str
    known: bool = True


@dataclass(frozen=True, slots=True)
class Profile:
    """One patient's phenotype as submitted: HPO ids (any release), observed and excluded.

    ``labels`` are the labels the sender gave, shown for ids our release does not know.
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
        """The similarity in 0..SHADES steps (the page's cell shading)."""
        return round(self.similarity * SHADES)


@dataclass(frozen=True, slots=True)
class GridRow:
    term: Term
    cells: tuple[GridCell, ...]
    # None when the other side has no known observed term, or none close to this one (met only
    # at a general ancestor: see ontologies.similarity.explanation.is_close_ancestor).
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
    mask = ancestor_set(ontology, first_index)
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
    does not know are listed apart, never in the grid. When a side has more than ``max_terms``
    observed terms, the grid keeps our first ``max_terms`` and, of the other side, first the
    columns that are some kept row's best match. Columns are ordered by the first row they are
    the best match of, so the outlined cells run down the diagonal. Cost: one small gather per
    cell, a few milliseconds for 40 x 40.
    """
    mine = _resolve(ontology, own)
    theirs = _resolve(ontology, other)
    rows_kept = mine.observed[:max_terms]
    ic = information_content
    column_terms = np.array([index for _, index in theirs.observed], dtype=np.int64)

    # Similarities of every kept row against every column (the best match may be any of them).
    cells: list[list[TermSimilarity]] = []
    best_columns: list[int | None] = []
    for _, row_index in rows_kept:
        mask = ancestor_set(ontology, row_index)
        row = [
            _similarity(ontology, ic, mask, row_index, column_index)
            for _, column_index in theirs.observed
        ]
        cells.append(row)
        pair = pair_term(
            ontology, ic, row_index, column_terms, _pairing_row(row, column_terms, row_index)
        )
        best_columns.append(None if pair is None else pair.position)

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
            similarity = cells[row_position][column]
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


def _pairing_row(
    row: list[TermSimilarity], columns: NDArray[np.int64], term: int
) -> NDArray[np.float64]:
    """The scorer's term similarity of ``term`` to each column, exact bonus included: Resnik
    (the MICA's IC) or Lin, as its default method measures."""
    if _PAIRING.term_measure == LIN:
        measured = [cell.similarity for cell in row]
    else:
        measured = [cell.common_ancestor_ic for cell in row]
    similarity = np.array(measured, dtype=np.float64)
    similarity[columns == term] += _PAIRING.exact_bonus
    return similarity


def _similarity(
    ontology: Ontology,
    ic: NDArray[np.float64],
    first_ancestors: NDArray[np.bool_],
    first: int,
    second: int,
) -> TermSimilarity:
    """``first_ancestors``: ``ancestor_set`` of ``first``."""
    ancestor = common_ancestor(ontology, ic, first_ancestors, second)
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
    observed: list[tuple[Term, int]],
    excluded: list[tuple[Term, int]],
    observed_in: str,
) -> tuple[Conflict, ...]:
    observed_by_index = {index: term for term, index in observed}
    excluded_by_index = {index: term for term, index in excluded}
    pairs = conflicting_pairs(ontology, [index for _, index in observed], excluded_by_index)
    return tuple(
        Conflict(observed_by_index[term], excluded_by_index[ancestor], observed_in)
        for term, ancestor in pairs
    )


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

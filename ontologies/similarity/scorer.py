"""Phenotype scoring of one query against many stored cases, and the patient score.

``PhenotypeScorer`` is immutable after construction and ``PreparedQuery`` is read-only, so one
scorer and one prepared query can be used from several threads at once; ``score`` does its
per-case work in numpy, which releases the GIL.

Methods (``METHODS``; the measurements behind the default are in bench/quality.py):

- ``resnik_bma_exact`` (default): best-match average of Resnik similarity plus an exact-term
  bonus, weighted 0.7 query->case and 0.3 case->query.
- ``resnik_bma``: plain symmetric Resnik best-match average (baseline).
- ``lin_bma``: symmetric Lin best-match average.
- ``simgic``: IC-weighted Jaccard of the two ancestor closures (slower: closures per case).
- ``jaccard``: Jaccard of the exact observed terms (baseline).

Excluded terms do not change the score: on published cases a conflict penalty lowered the
ranking quality (patients with one disease vary), so they are only reported by ``explain``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from ontologies.hpo import Ontology
from ontologies.similarity.kernels import (
    LIN,
    RESNIK,
    ancestor_mask,
    average_over_cases,
    best_match_query_to_cases,
    case_closures,
    sum_over_cases,
    term_similarity_matrix,
)

JACCARD: Final = "jaccard"
SIM_GIC: Final = "simgic"
RESNIK_BMA: Final = "resnik_bma"
LIN_BMA: Final = "lin_bma"
RESNIK_BMA_EXACT: Final = "resnik_bma_exact"


@dataclass(frozen=True, slots=True)
class _Method:
    term_measure: str | None  # None: a set measure without term similarity
    query_weight: float = 0.5  # weight of the query->case direction; case->query gets the rest
    exact_bonus: float = 0.0  # nats added to the similarity of a term with itself


METHODS: Final[dict[str, _Method]] = {
    JACCARD: _Method(None),
    SIM_GIC: _Method(None),
    RESNIK_BMA: _Method(RESNIK),
    LIN_BMA: _Method(LIN),
    RESNIK_BMA_EXACT: _Method(RESNIK, query_weight=0.7, exact_bonus=1.0),
}
DEFAULT_METHOD: Final = RESNIK_BMA_EXACT
_QUANTA: Final = 255


@dataclass(frozen=True, slots=True)
class CaseProfiles:
    """Phenotype profiles of many cases as CSR; terms are indices into ``Ontology.term_ids``.

    Case k observed ``observed_terms[observed_indptr[k]:observed_indptr[k + 1]]`` and excluded
    the corresponding ``excluded_*`` slice. A term should appear once per case and row.
    """

    observed_indptr: NDArray[np.int64]
    observed_terms: NDArray[np.int16]
    excluded_indptr: NDArray[np.int64]
    excluded_terms: NDArray[np.int16]

    @classmethod
    def from_lists(
        cls, observed: Sequence[Sequence[int]], excluded: Sequence[Sequence[int]] | None = None
    ) -> CaseProfiles:
        """Build profiles from per-case lists of term indices (convenience for tests and bench)."""
        excluded = excluded if excluded is not None else [()] * len(observed)
        if len(excluded) != len(observed):
            raise ValueError("observed and excluded must list the same number of cases")
        observed_indptr, observed_terms = _csr(observed)
        excluded_indptr, excluded_terms = _csr(excluded)
        return cls(observed_indptr, observed_terms, excluded_indptr, excluded_terms)

    def __len__(self) -> int:
        return len(self.observed_indptr) - 1


@dataclass(frozen=True, slots=True, eq=False)
class PreparedQuery:
    """Per-query precomputation for ``PhenotypeScorer.score``; opaque and read-only."""

    method: str
    observed: tuple[int, ...]
    excluded: tuple[int, ...]
    # BMA methods: similarity[i, t] = sim(observed[i], t) and best_to_query[t] = max_i of it,
    # both in quanta of ``quantum`` (uint8) or plain float32 when not quantised.
    similarity: NDArray[Any] | None
    best_to_query: NDArray[Any] | None
    quantum: float
    query_weight: float
    self_similarity: float  # the query's score against itself, before normalisation
    # simGIC: IC on the query's closure (0 elsewhere); Jaccard: 1 on the query's terms.
    term_weights: NDArray[np.float64] | None


@dataclass(frozen=True, slots=True)
class TermMatchExplanation:
    query_hpo_id: str
    case_hpo_id: str | None  # the best-matching case term; None when the case has none
    common_ancestor_hpo_id: str | None  # their most informative common ancestor
    common_ancestor_ic: float  # nats
    similarity: float  # the method's term similarity (Resnik in nats incl. bonus, Lin 0..1)


@dataclass(frozen=True, slots=True)
class PhenotypeConflict:
    observed_hpo_id: str
    excluded_hpo_id: str  # the observed term itself or one of its ancestors
    observed_in: str  # "query" (the case excludes it) or "case" (the query excludes it)


@dataclass(frozen=True, slots=True)
class PhenotypeExplanation:
    score: float  # 0..1, what ``score`` returns for this pair
    matches: tuple[TermMatchExplanation, ...]  # one per query term, in query order
    conflicts: tuple[PhenotypeConflict, ...]


class PhenotypeScorer:
    """Scores a query phenotype against many stored cases; thread-safe after construction.

    ``method`` is a key of ``METHODS``; ``options`` override its ``query_weight`` (0..1),
    ``exact_bonus`` (nats, >= 0) and ``quantise`` (default True: BMA similarities are stored as
    uint8 quanta of max-query-IC/255, which quarters the memory traffic; each per-term
    similarity is then off by at most half a quantum). ``information_content`` defaults to the
    ontology's (all annotated diseases).
    """

    def __init__(
        self,
        ontology: Ontology,
        *,
        method: str = DEFAULT_METHOD,
        information_content: NDArray[np.float64] | None = None,
        **options: Any,
    ) -> None:
        if method not in METHODS:
            raise ValueError(f"unknown method {method!r}; expected one of {sorted(METHODS)}")
        preset = METHODS[method]
        unknown = set(options) - {"query_weight", "exact_bonus", "quantise"}
        if unknown:
            raise TypeError(f"unknown options: {sorted(unknown)}")
        self.ontology = ontology
        self.method = method
        self.term_measure = preset.term_measure
        self.query_weight = float(options.get("query_weight", preset.query_weight))
        self.exact_bonus = float(options.get("exact_bonus", preset.exact_bonus))
        self.quantise = bool(options.get("quantise", True))
        if not 0.0 <= self.query_weight <= 1.0 or self.exact_bonus < 0:
            raise ValueError("query_weight must be within 0..1 and exact_bonus >= 0")
        ic = ontology.information_content if information_content is None else information_content
        ic = np.array(ic, dtype=np.float64)
        if ic.shape != (len(ontology.term_ids),):
            raise ValueError(f"information_content must have shape ({len(ontology.term_ids)},)")
        ic.flags.writeable = False
        self.information_content = ic

    def prepare(self, observed: Sequence[int], excluded: Sequence[int] = ()) -> PreparedQuery:
        """Precompute what scoring this query needs (~1 ms per observed term for BMA methods).

        Repeated terms are dropped. An empty observed list is allowed and scores 0 everywhere.
        """
        terms = tuple(dict.fromkeys(int(term) for term in observed))
        excluded_terms = tuple(dict.fromkeys(int(term) for term in excluded))
        query = np.array(terms, dtype=np.int64)
        ic = self.information_content
        n_terms = len(self.ontology.term_ids)
        similarity = best = None
        quantum, self_similarity, weights = 1.0, 0.0, None
        if self.method == JACCARD:
            weights = np.zeros(n_terms, dtype=np.float64)
            weights[query] = 1.0
            self_similarity = float(len(terms))
        elif self.method == SIM_GIC:
            weights = np.zeros(n_terms, dtype=np.float64)
            if len(terms):
                closure = np.flatnonzero(ancestor_mask(self.ontology, query))
                weights[closure] = ic[closure]
            self_similarity = float(weights.sum())
        else:
            measure = self.term_measure or RESNIK
            matrix = term_similarity_matrix(self.ontology, query, ic, measure)
            matrix[np.arange(len(terms)), query] += self.exact_bonus
            self_similarity = float(matrix[np.arange(len(terms)), query].mean()) if terms else 0.0
            top = float(matrix.max()) if matrix.size else 0.0
            best_float = matrix.max(axis=0) if terms else np.zeros(n_terms)
            if self.quantise and top > 0:
                quantum = top / _QUANTA
                similarity = np.rint(matrix / quantum).astype(np.uint8)
                best = np.rint(best_float / quantum).astype(np.uint8)
                # The self-score in the same quanta, so identical profiles score exactly 1.
                diagonal = similarity[np.arange(len(terms)), query]
                self_similarity = float(diagonal.mean()) * quantum
            else:
                similarity = matrix.astype(np.float32)
                best = best_float.astype(np.float32)
        for array in (similarity, best, weights):
            if array is not None:
                array.flags.writeable = False
        return PreparedQuery(
            method=self.method,
            observed=terms,
            excluded=excluded_terms,
            similarity=similarity,
            best_to_query=best,
            quantum=quantum,
            query_weight=self.query_weight,
            self_similarity=self_similarity,
            term_weights=weights,
        )

    def score(
        self,
        query: PreparedQuery,
        profiles: CaseProfiles,
        start: int = 0,
        stop: int | None = None,
    ) -> NDArray[np.float32]:
        """Phenotype similarity 0..1 (higher = more similar) of cases ``start..stop-1``.

        Normalisation: the raw score divided by the query's score against itself, clipped to
        0..1, so a case with exactly the query's terms scores 1 and one with no observed term 0.
        For BMA methods raw = w * mean_i best(q_i) + (1 - w) * mean_t best(t); the case->query
        part can exceed the self-score (a case holding only the query's most specific term),
        hence the clip. Chunks give the same values as one call over all cases.
        """
        if query.method != self.method:
            raise ValueError(f"query prepared for {query.method!r}, scorer is {self.method!r}")
        stop = len(profiles) if stop is None else stop
        if not 0 <= start <= stop <= len(profiles):
            raise ValueError(f"bad case range {start}..{stop} for {len(profiles)} cases")
        indptr = profiles.observed_indptr[start : stop + 1].astype(np.int64)
        # One conversion to intp instead of one per gather below.
        terms = profiles.observed_terms[indptr[0] : indptr[-1]].astype(np.intp)
        if query.self_similarity <= 0 or stop == start:
            return np.zeros(stop - start, dtype=np.float32)
        if self.method == JACCARD:
            weights = _required(query.term_weights)
            shared = sum_over_cases(weights, indptr, terms)
            union = np.diff(indptr) + query.self_similarity - shared
            raw = np.divide(shared, union, out=np.zeros_like(shared), where=union > 0)
        elif self.method == SIM_GIC:
            weights = _required(query.term_weights)
            closure_indptr, closure_terms = case_closures(self.ontology, indptr - indptr[0], terms)
            shared = sum_over_cases(weights, closure_indptr, closure_terms)
            total = sum_over_cases(self.information_content, closure_indptr, closure_terms)
            union = total + query.self_similarity - shared
            raw = np.divide(shared, union, out=np.zeros_like(shared), where=union > 0)
        else:
            similarity = _required(query.similarity)
            best_to_query = _required(query.best_to_query)
            best = best_match_query_to_cases(similarity, indptr, terms)
            query_to_case = best.sum(axis=1, dtype=np.float64) / best.shape[1]
            case_to_query = average_over_cases(best_to_query, indptr, terms)
            weight = query.query_weight
            mixed = weight * query_to_case + (1.0 - weight) * case_to_query
            raw = mixed * query.quantum / query.self_similarity
        return np.clip(raw, 0.0, 1.0).astype(np.float32)

    def explain(
        self,
        observed: Sequence[int],
        excluded: Sequence[int],
        case_observed: Sequence[int],
        case_excluded: Sequence[int],
    ) -> PhenotypeExplanation:
        """Why a case scored as it did: best match per query term, conflicts, and the score.

        Term matches use the method's term similarity (Resnik for the set measures). A conflict
        is a term one side observes while the other excludes it or one of its ancestors.
        """
        ontology, ic = self.ontology, self.information_content
        query = tuple(dict.fromkeys(int(term) for term in observed))
        case = np.array(list(dict.fromkeys(int(term) for term in case_observed)), dtype=np.int64)
        measure = self.term_measure or RESNIK
        bonus = self.exact_bonus if self.term_measure else 0.0
        matches = []
        for term in query:
            if len(case) == 0:
                matches.append(TermMatchExplanation(ontology.term_ids[term], None, None, 0.0, 0.0))
                continue
            row = term_similarity_matrix(ontology, np.array([term]), ic, measure)[0][case]
            row = row + bonus * (case == term)
            best = int(case[int(np.argmax(row))])
            common = np.flatnonzero(
                ancestor_mask(ontology, np.array([term]))
                & ancestor_mask(ontology, np.array([best]))
            )
            # Ties in IC (terms annotating the same diseases) go to the deepest, most specific.
            tied = common[ic[common] == ic[common].max()]
            ancestor = int(tied[np.argmax(ontology.depth[tied])])
            matches.append(
                TermMatchExplanation(
                    query_hpo_id=ontology.term_ids[term],
                    case_hpo_id=ontology.term_ids[best],
                    common_ancestor_hpo_id=ontology.term_ids[ancestor],
                    common_ancestor_ic=float(ic[ancestor]),
                    similarity=float(row.max()),
                )
            )
        conflicts = _conflicts(ontology, query, case_excluded, "query") + _conflicts(
            ontology, case.tolist(), excluded, "case"
        )
        profiles = CaseProfiles.from_lists([case.tolist()], [list(case_excluded)])
        score = float(self.score(self.prepare(query, excluded), profiles)[0])
        return PhenotypeExplanation(score=score, matches=tuple(matches), conflicts=conflicts)


def combine_scores(
    phenotype: NDArray[np.float32], genotype: NDArray[np.float32]
) -> NDArray[np.float32]:
    """Patient score 0..1 (higher = better match) from phenotype (0..1) and genotype (0..1).

    ``(phenotype + genotype) / 2``: a shared gene (genotype 1) lifts a case above every case
    without one sharing an equally good phenotype, and the phenotype orders the cases within a
    gene. Chosen by measurement in bench/quality.py (setting d).
    """
    phenotype = np.asarray(phenotype, dtype=np.float32)
    genotype = np.asarray(genotype, dtype=np.float32)
    return np.clip((phenotype + genotype) * np.float32(0.5), 0.0, 1.0).astype(np.float32)


def _conflicts(
    ontology: Ontology, observed: Sequence[int], excluded: Sequence[int], observed_in: str
) -> tuple[PhenotypeConflict, ...]:
    excluded_set = {int(term) for term in excluded}
    found = []
    indptr, indices = ontology.ancestor_indptr, ontology.ancestor_indices
    for term in observed:
        for ancestor in indices[indptr[term] : indptr[term + 1]].tolist():
            if ancestor in excluded_set:
                found.append(
                    PhenotypeConflict(
                        observed_hpo_id=ontology.term_ids[term],
                        excluded_hpo_id=ontology.term_ids[ancestor],
                        observed_in=observed_in,
                    )
                )
    return tuple(found)


def _required(array: NDArray[Any] | None) -> NDArray[Any]:
    # prepare() fills the arrays its method needs; None here means a query from another scorer.
    if array is None:
        raise ValueError("the query was not prepared for this method")
    return array


def _csr(rows: Sequence[Sequence[int]]) -> tuple[NDArray[np.int64], NDArray[np.int16]]:
    indptr = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum([len(row) for row in rows], out=indptr[1:])
    terms = np.fromiter(
        (term for row in rows for term in row), dtype=np.int16, count=int(indptr[-1])
    )
    return indptr, terms


__all__ = [
    "DEFAULT_METHOD",
    "METHODS",
    "CaseProfiles",
    "PhenotypeConflict",
    "PhenotypeExplanation",
    "PhenotypeScorer",
    "PreparedQuery",
    "TermMatchExplanation",
    "combine_scores",
]

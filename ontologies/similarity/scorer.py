"""Phenotype scoring of one query against many stored cases, and the patient score.

``PhenotypeScorer`` is immutable after construction and ``PreparedQuery`` is read-only, so one
scorer and one prepared query can be used from several threads at once; ``score`` does its
per-case work in numpy, which releases the GIL.

Methods (``METHODS``; the measurements behind the default are in bench/quality.py):

- ``bma_jaccard_explained_bridge`` (default): ``bma_jaccard_gated_bridge`` less a *fit
  penalty*, 0.2 x max(0, fit_c - s_q(D_c)): D_c is the case's closest known disease, fit_c its
  similarity to it and s_q(D_c) the query's (``DiseaseProfiler.similarities``). A known disease
  that explains the case better than it explains the query makes the case more likely a
  patient of that disease than of the query's. (c) hit@1 0.633 for an annotated disease and
  0.542 for one nobody annotated, against 0.625 / 0.534 without the penalty (weight chosen on
  novel-disease folds 0-1, checked on 2-4). Stored cases need their fits too
  (``CaseProfiles.disease_fits``).
- ``bma_jaccard_gated_bridge`` (the default of issue 16's fifth and sixth sessions):
  ``bma_jaccard`` mixed with the disease bridge (how
  much the 10 known diseases the case resembles most are among those the query resembles most,
  ``diseases.DiseaseProfiler``) at a share of up to 0.6, less the more known diseases the query
  resembles about equally (its spread: full share up to 5, none from 50). Patients with one
  disorder described in different papers often share few terms but resemble the same annotated
  diseases; a patient whose disease nobody has annotated resembles many about equally, and then
  the bridge would only pull the case towards its nearest *other* diseases. (c) hit@1 on the
  published dev cases without same-paper neighbours: 0.625 for a disease the annotations know
  and 0.534 for one they do not, against 0.623 / 0.498 for ``bma_jaccard_bridge`` and 0.539 /
  0.541 for ``bma_jaccard`` (docs/benchmarks.md, issue 16). Stored cases need their profiles
  (``case_profiles``, or the case index's).
- ``bma_jaccard_bridge`` (the default until issue 16): 0.5 x ``bma_jaccard`` + 0.5 x the
  disease bridge, whatever the query's spread.
- ``bma_jaccard``: 0.6 x BMA + 0.4 x ``jaccard``, clipped to 0..1, where BMA is
  ``resnik_bma_exact`` with the query->case direction weighted 0.8. The exact-term overlap
  separates cases that share the query's own terms from cases that only share their ancestors
  (hit@1 0.539 against 0.521 for ``resnik_bma_exact`` alone; the constants were chosen on one
  half of the diseases and gain on the other, see docs/benchmarks.md).
- ``resnik_bma_exact``: best-match average of Resnik similarity plus an exact-term bonus,
  weighted 0.7 query->case and 0.3 case->query.
- ``resnik_bma``: plain symmetric Resnik best-match average (baseline).
- ``lin_bma``: symmetric Lin best-match average.
- ``simgic``: IC-weighted Jaccard of the two ancestor closures (slower: closures per case).
- ``jaccard``: Jaccard of the exact observed terms (baseline).

Excluded terms do not change the score: on published cases a conflict penalty lowered the
ranking quality (patients with one disease vary), so they are only reported by ``explain``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from ontologies import csr
from ontologies.hpo import Ontology
from ontologies.similarity.diseases import (
    DiseaseProfile,
    DiseaseProfiler,
    shared_disease_profiler,
)
from ontologies.similarity.explanation import (
    CloserDiseaseExplanation,
    PhenotypeConflict,
    PhenotypeExplanation,
    SharedDiseaseExplanation,
    TermMatchExplanation,
    conflicting_pairs,
    is_close_ancestor,
    pair_term,
)
from ontologies.similarity.kernels import (
    LIN,
    RESNIK,
    ancestor_mask,
    average_over_cases,
    best_match_sums,
    bitwise_or_over_cases,
    case_closures,
    pack_pairs,
    sum_over_cases,
    sum_pairs_over_cases,
    term_similarity_matrix,
)

JACCARD: Final = "jaccard"
SIM_GIC: Final = "simgic"
RESNIK_BMA: Final = "resnik_bma"
LIN_BMA: Final = "lin_bma"
RESNIK_BMA_EXACT: Final = "resnik_bma_exact"
BMA_JACCARD: Final = "bma_jaccard"
BMA_JACCARD_BRIDGE: Final = "bma_jaccard_bridge"
BMA_JACCARD_GATED_BRIDGE: Final = "bma_jaccard_gated_bridge"
BMA_JACCARD_EXPLAINED_BRIDGE: Final = "bma_jaccard_explained_bridge"


@dataclass(frozen=True, slots=True)
class _Method:
    term_measure: str | None  # None: a set measure without term similarity
    query_weight: float = 0.5  # weight of the query->case direction; case->query gets the rest
    exact_bonus: float = 0.0  # nats added to the similarity of a term with itself
    jaccard_weight: float = 0.0  # BMA methods: share of exact-term Jaccard in the score, 0..1
    bridge_weight: float = 0.0  # BMA methods: share of the disease bridge in the score, 0..1
    # (lo, hi): the bridge's share is scaled per query by clip(ln(hi / spread) / ln(hi / lo),
    # 0, 1), spread = about how many known diseases the query resembles as much as its closest
    # (DiseaseProfiler.query_vector_and_spread): full below lo, none above hi.
    bridge_gate: tuple[float, float] | None = None
    # Methods with a bridge: the score is lowered by this weight x max(0, fit_c - s_q(D_c)),
    # D_c the case's closest known disease, fit_c its similarity to it and s_q(D_c) the query's:
    # a known disease that explains the case better than it explains the query makes the case
    # more likely a patient of that disease than of the query's.
    fit_penalty: float = 0.0


_BMA_JACCARD: Final = _Method(RESNIK, query_weight=0.8, exact_bonus=1.0, jaccard_weight=0.4)
_GATED_BRIDGE: Final = replace(_BMA_JACCARD, bridge_weight=0.6, bridge_gate=(5.0, 50.0))
METHODS: Final[dict[str, _Method]] = {
    JACCARD: _Method(None),
    SIM_GIC: _Method(None),
    RESNIK_BMA: _Method(RESNIK),
    LIN_BMA: _Method(LIN),
    RESNIK_BMA_EXACT: _Method(RESNIK, query_weight=0.7, exact_bonus=1.0),
    BMA_JACCARD: _BMA_JACCARD,
    BMA_JACCARD_BRIDGE: replace(_BMA_JACCARD, bridge_weight=0.5),
    BMA_JACCARD_GATED_BRIDGE: _GATED_BRIDGE,
    BMA_JACCARD_EXPLAINED_BRIDGE: replace(_GATED_BRIDGE, fit_penalty=0.2),
}
DEFAULT_METHOD: Final = BMA_JACCARD_EXPLAINED_BRIDGE
_QUANTA: Final = 255
# Bits per stored term in the level masks behind ``score_upper_bounds``.
_LEVEL_BITS: Final = 64
# Unquantised bounds are raised by this relative margin: their float sums add in another order
# than the exact score's (a few ulps of difference), and a bound must never fall below.
_FLOAT_BOUND_MARGIN: Final = 1e-9


@dataclass(frozen=True, slots=True)
class CaseProfiles:
    """Phenotype profiles of many cases as CSR; terms are indices into ``Ontology.term_ids``.

    Case k observed ``observed_terms[observed_indptr[k]:observed_indptr[k + 1]]`` and excluded
    the corresponding ``excluded_*`` slice. A term should appear once per case and row.

    ``disease_rows`` and ``disease_weights`` (both shape (cases, width)) hold each case's
    disease profile (``DiseaseProfiler.profile``, zero-padded to the width) and
    ``disease_fits`` (shape (cases,)) its fit; None when the cases have none, which a method
    with a disease bridge refuses to score.
    """

    observed_indptr: NDArray[np.int64]
    observed_terms: NDArray[np.int16]
    excluded_indptr: NDArray[np.int64]
    excluded_terms: NDArray[np.int16]
    disease_rows: NDArray[np.int16] | None = None
    disease_weights: NDArray[np.float32] | None = None
    disease_fits: NDArray[np.float32] | None = None

    def __post_init__(self) -> None:
        given = {self.disease_rows is None, self.disease_weights is None, self.disease_fits is None}
        if len(given) > 1:
            raise ValueError("disease_rows, disease_weights and disease_fits go together")
        if self.disease_rows is not None and self.disease_weights is not None:
            width = self.disease_rows.shape[1] if self.disease_rows.ndim == 2 else -1
            shape = (len(self), width)
            if self.disease_rows.shape != shape or self.disease_weights.shape != shape:
                raise ValueError(f"disease profiles must have shape (cases, width), {shape}")
            if self.disease_fits is not None and self.disease_fits.shape != (len(self),):
                raise ValueError(f"disease_fits must have shape ({len(self)},)")

    @classmethod
    def from_lists(
        cls,
        observed: Sequence[Sequence[int]],
        excluded: Sequence[Sequence[int]] | None = None,
        *,
        disease_profiler: DiseaseProfiler | None = None,
    ) -> CaseProfiles:
        """Build profiles from per-case lists of term indices (convenience for tests and bench).

        With ``disease_profiler`` the cases also get their disease profiles.
        """
        excluded = excluded if excluded is not None else [()] * len(observed)
        if len(excluded) != len(observed):
            raise ValueError("observed and excluded must list the same number of cases")
        observed_indptr, observed_terms = csr.from_lists(observed, np.int64, np.int16)
        excluded_indptr, excluded_terms = csr.from_lists(excluded, np.int64, np.int16)
        rows = weights = fits = None
        if disease_profiler is not None:
            rows, weights, fits = disease_profiler.profiles(observed)
        return cls(
            observed_indptr, observed_terms, excluded_indptr, excluded_terms, rows, weights, fits
        )

    def __len__(self) -> int:
        return len(self.observed_indptr) - 1


# A query's level masks, per-byte bit weights and constant (see ``_level_masks``).
_Levels = tuple[NDArray[np.uint64], NDArray[np.float64], float]


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
    jaccard_weight: float  # 0 for the set measures
    self_similarity: float  # the query's score against itself, before normalisation
    # simGIC: IC on the query's closure (0 elsewhere); Jaccard and BMA methods mixing in
    # Jaccard: 1 on the query's terms.
    term_weights: NDArray[np.float64] | None
    # BMA methods mixing in Jaccard, quantised: best_to_query and the query-term indicator of
    # ``term_weights`` packed per term (see kernels.pack_pairs), so one gather reads both.
    best_and_query_terms: NDArray[np.uint64] | None
    # Methods with a disease bridge: its weight for this query (after the method's gate, if
    # any), and the query's weight for every disease (DiseaseProfiler.query_vector), so a
    # case's bridge is a gather and a dot product.
    bridge_weight: float
    disease_vector: NDArray[np.float32] | None
    # Methods with a fit penalty: its weight, and the query's similarity to every disease.
    fit_penalty: float
    disease_similarity: NDArray[np.float32] | None
    # BMA methods, for score_upper_bounds (see _level_masks and _levels): one 64-bit mask per
    # term, the weight of each bit by byte (8, 256), and the bound's constant part; all in
    # quanta. Built on first use (~2.5 ms): a search that needs no bounds never pays for them.
    level_cache: dict[str, _Levels] = field(default_factory=dict, compare=False, repr=False)
    # For the coarse bound: sum_i R_i, the most any case's query->case part can reach (quanta).
    best_possible_cache: dict[str, float] = field(default_factory=dict, compare=False, repr=False)


class PhenotypeScorer:
    """Scores a query phenotype against many stored cases; thread-safe after construction.

    ``method`` is a key of ``METHODS``; ``options`` override its ``query_weight`` (0..1),
    ``exact_bonus`` (nats, >= 0), ``jaccard_weight`` (0..1; BMA methods only: the score becomes
    clip((1 - a) * BMA + a * J) with J the exact-term Jaccard) and ``quantise`` (default True:
    BMA similarities are stored as uint8 quanta of max-query-IC/255, which quarters the memory
    traffic; each per-term similarity is then off by at most half a quantum).
    ``information_content`` defaults to the ontology's (all annotated diseases);
    ``disease_profiler`` to the process's shared one for that IC (bench/quality.py passes one
    built without some diseases).
    """

    def __init__(
        self,
        ontology: Ontology,
        *,
        method: str = DEFAULT_METHOD,
        information_content: NDArray[np.float64] | None = None,
        disease_profiler: DiseaseProfiler | None = None,
        **options: Any,
    ) -> None:
        if method not in METHODS:
            raise ValueError(f"unknown method {method!r}; expected one of {sorted(METHODS)}")
        preset = METHODS[method]
        unknown = set(options) - {
            "query_weight",
            "exact_bonus",
            "jaccard_weight",
            "bridge_weight",
            "quantise",
        }
        if unknown:
            raise TypeError(f"unknown options: {sorted(unknown)}")
        self.ontology = ontology
        self.method = method
        self.term_measure = preset.term_measure
        self.query_weight = float(options.get("query_weight", preset.query_weight))
        self.exact_bonus = float(options.get("exact_bonus", preset.exact_bonus))
        self.jaccard_weight = float(options.get("jaccard_weight", preset.jaccard_weight))
        self.bridge_weight = float(options.get("bridge_weight", preset.bridge_weight))
        self.bridge_gate = preset.bridge_gate
        self.fit_penalty = preset.fit_penalty
        self.quantise = bool(options.get("quantise", True))
        if not 0.0 <= self.query_weight <= 1.0 or self.exact_bonus < 0:
            raise ValueError("query_weight must be within 0..1 and exact_bonus >= 0")
        if not 0.0 <= self.jaccard_weight <= 1.0:
            raise ValueError("jaccard_weight must be within 0..1")
        if not 0.0 <= self.bridge_weight <= 1.0:
            raise ValueError("bridge_weight must be within 0..1")
        if (self.jaccard_weight or self.bridge_weight) and self.term_measure is None:
            raise ValueError(
                f"jaccard_weight and bridge_weight apply to BMA methods, not {method!r}"
            )
        ic = ontology.information_content if information_content is None else information_content
        ic = np.array(ic, dtype=np.float64)
        if ic.shape != (len(ontology.term_ids),):
            raise ValueError(f"information_content must have shape ({len(ontology.term_ids)},)")
        ic.flags.writeable = False
        self.information_content = ic
        if disease_profiler is not None and disease_profiler.ontology is not ontology:
            raise ValueError("disease_profiler must be built on the scorer's ontology")
        self._disease_profiler = disease_profiler

    @property
    def disease_profiler(self) -> DiseaseProfiler | None:
        """The profiler behind the disease bridge (None without one); shared per process.

        Stored cases need profiles from this very profiler (``DiseaseProfiler.profiles``).
        """
        if not self.bridge_weight:
            return None
        if self._disease_profiler is None:
            # Looked up once: the lookup hashes the IC (~0.2 ms), and every query asks.
            self._disease_profiler = shared_disease_profiler(
                self.ontology, self.information_content
            )
        return self._disease_profiler

    def case_profiles(
        self, observed: Sequence[Sequence[int]], excluded: Sequence[Sequence[int]] | None = None
    ) -> CaseProfiles:
        """``CaseProfiles.from_lists`` with the disease profiles this scorer's method needs."""
        return CaseProfiles.from_lists(observed, excluded, disease_profiler=self.disease_profiler)

    def prepare(self, observed: Sequence[int], excluded: Sequence[int] = ()) -> PreparedQuery:
        """Precompute what scoring this query needs (~1 ms per observed term for BMA methods).

        Repeated terms are dropped. An empty observed list is allowed and scores 0 everywhere.
        """
        terms = tuple(dict.fromkeys(int(term) for term in observed))
        excluded_terms = tuple(dict.fromkeys(int(term) for term in excluded))
        query = np.array(terms, dtype=np.int64)
        ic = self.information_content
        n_terms = len(self.ontology.term_ids)
        similarity = best = packed = None
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
            if self.jaccard_weight:
                weights = np.zeros(n_terms, dtype=np.float64)
                weights[query] = 1.0
                if best.dtype == np.uint8:
                    packed = pack_pairs(best, weights.astype(np.uint8))
        disease_vector, bridge_weight, disease_similarity = self._disease_side(terms)
        if not self.fit_penalty:
            disease_similarity = None
        for array in (similarity, best, weights, packed, disease_vector, disease_similarity):
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
            jaccard_weight=self.jaccard_weight,
            self_similarity=self_similarity,
            term_weights=weights,
            best_and_query_terms=packed,
            bridge_weight=bridge_weight,
            disease_vector=disease_vector,
            fit_penalty=self.fit_penalty if disease_similarity is not None else 0.0,
            disease_similarity=disease_similarity,
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
        hence the clip. Chunks give the same values as one call over all cases, and as
        ``score_rows`` on the same rows, bit for bit. With a Jaccard weight a (``bma_jaccard``),
        score = clip((1 - a) * that + a * J), J = |Q and C| / |Q or C| over the exact observed
        terms (Q deduplicated; 0 when both are empty).
        """
        self._check_query(query, profiles)
        stop = _checked_range(profiles, start, stop)
        indptr, terms = csr.row_range(
            profiles.observed_indptr, profiles.observed_terms, start, stop
        )
        return self._score_csr(query, indptr, terms, _diseases_of(profiles, slice(start, stop)))

    def score_rows(
        self, query: PreparedQuery, profiles: CaseProfiles, rows: NDArray[np.integer[Any]]
    ) -> NDArray[np.float32]:
        """Phenotype similarity 0..1 of the cases at ``rows`` (any order, repeats allowed).

        Equal, bit for bit, to ``score(query, profiles)[rows]``; costs O(terms of those rows)
        plus a gather of their CSR slices, so it pays off for a small share of the cases.
        """
        self._check_query(query, profiles)
        rows = _checked_rows(profiles, rows)
        indptr, terms = csr.take_rows(profiles.observed_indptr, profiles.observed_terms, rows)
        return self._score_csr(query, indptr, terms, _diseases_of(profiles, rows))

    def score_upper_bounds(
        self,
        query: PreparedQuery,
        profiles: CaseProfiles,
        start: int = 0,
        stop: int | None = None,
        *,
        coarse: bool = False,
    ) -> NDArray[np.float32] | None:
        """For cases ``start..stop-1``, a value 0..1 that ``score`` never exceeds; None if the
        method has no bound (``simgic``, ``jaccard``: score them all, they are cheap or rare).

        With ``coarse``, a cheaper bound for a first pass over many cases, never below the
        tight one: the query->case part is taken at its maximum (each query term meeting its best
        match R_i), which skips the level masks, about 40% of the tight bound's cost. What is left
        (case->query, J and the disease bridge) still rules out almost every case when the
        bridge carries weight (a search then tightens only the survivors, with
        ``score_upper_bounds_rows``). A query whose score has no bridge part gets the tight bound:
        the coarse one would rule out nothing.

        Meant for exact top-k search: score exactly only the cases whose bound can still reach
        the k-th best score. About a third of the cost of ``score`` (one gather of a 64-bit mask
        and one of a byte per stored term, instead of one byte per stored term and query term).

        Why it is an upper bound, for the BMA methods (quanta, or floats when not quantised).
        With S[i, t] the method's similarity of query term i to term t (exact bonus included),
        score = clip((w * qc + (1 - w) * cq) * quantum / self), where qc = (1/Q) sum_i max_t
        S[i, t] over the case's terms t, and cq = mean_t max_i S[i, t]. The bound keeps cq
        exactly (computed as ``score`` computes it) and replaces each max_t S[i, t] by a cap:
        every query term i has K increasing levels L_i1 < ... < L_iK in (0, R_i], R_i =
        max_t S[i, t] over all terms; bit (i, k) of a term's mask says S[i, t] >= L_ik, and OR-ing
        the masks of a case's terms gives, for each i, the levels some case term reaches: a
        prefix 1..j. No case term reaches L_i(j+1), so max_t S[i, t] <= L_i(j+1) - 1 for
        integer quanta (<= L_i(j+1) for floats), or <= R_i when j = K. The caps telescope:
        cap_i = (L_i1 - 1) + sum over reached levels k of (L_i(k+1) - L_ik), so the sum of the
        caps is a constant plus a weight per set bit, read with one table lookup per byte of
        the OR. Query terms beyond the 64 bits get cap R_i. Then sum_i max_t S[i, t] <=
        sum_i cap_i, both sums exact in float64 for integer quanta; dividing by Q, multiplying
        by w >= 0, adding the same cq, and scaling by quantum / self > 0 are all rounded
        monotonically, and so are the clip and the float32 cast: the bound is >= the score.
        Unquantised similarities are summed in float64 in another order than ``score`` sums
        them, so there the bound gets a relative margin of 1e-9, far above the rounding error.
        Empty cases get 0, like their score.

        With a Jaccard weight a > 0 the bound is clip((1 - a) * B + a * J), B the BMA bound
        above (clipped) and J computed exactly as ``score`` computes it (same integers, same
        operations, so the same float64): the mixture and its clip are monotone in B, so the
        bound stays >= the score. J comes from the gather that reads case->query anyway.
        The disease bridge and the fit penalty are mixed in and subtracted alike in a score
        and in its bound, from the same float64 values, so they keep the order too.
        """
        self._check_query(query, profiles)
        stop = _checked_range(profiles, start, stop)
        if self.method in (JACCARD, SIM_GIC):
            return None
        if start == stop:
            return np.zeros(0, dtype=np.float32)
        indptr, terms = csr.row_range(
            profiles.observed_indptr, profiles.observed_terms, start, stop
        )
        return self._bma_scores(
            query,
            indptr,
            terms,
            _diseases_of(profiles, slice(start, stop)),
            upper_bound=True,
            coarse=coarse and _bridge_decides(query),
        )

    def score_upper_bounds_rows(
        self, query: PreparedQuery, profiles: CaseProfiles, rows: NDArray[np.integer[Any]]
    ) -> NDArray[np.float32] | None:
        """The tight bounds of the cases at ``rows`` (any order): equal, bit for bit, to
        ``score_upper_bounds(query, profiles)[rows]``, at a cost in proportion to those rows."""
        self._check_query(query, profiles)
        if self.method in (JACCARD, SIM_GIC):
            return None
        rows = _checked_rows(profiles, rows)
        indptr, terms = csr.take_rows(profiles.observed_indptr, profiles.observed_terms, rows)
        return self._bma_scores(
            query, indptr, terms, _diseases_of(profiles, rows), upper_bound=True
        )

    def _check_query(self, query: PreparedQuery, profiles: CaseProfiles) -> None:
        if query.method != self.method:
            raise ValueError(f"query prepared for {query.method!r}, scorer is {self.method!r}")
        if self.bridge_weight and profiles.disease_rows is None:
            raise ValueError(
                f"{self.method!r} needs the cases' disease profiles: build the profiles with "
                "case_profiles() or CaseProfiles.from_lists(..., disease_profiler=...)"
            )

    def _score_csr(
        self,
        query: PreparedQuery,
        indptr: NDArray[np.int64],
        terms: NDArray[np.int16],
        diseases: _DiseaseRows | None,
    ) -> NDArray[np.float32]:
        """Scores of the CSR rows ``indptr`` (which may start anywhere) over ``terms``, with
        the same rows' disease profiles (if any)."""
        if self.term_measure is not None:
            return self._bma_scores(query, indptr, terms, diseases, upper_bound=False)
        rows = len(indptr) - 1
        if query.self_similarity <= 0 or rows == 0:
            return np.zeros(rows, dtype=np.float32)
        # One conversion to intp instead of one per gather below (int16 gathers are slower).
        terms = terms.astype(np.intp)
        if self.method == JACCARD:
            weights = _required(query.term_weights)
            shared = sum_over_cases(weights, indptr, terms)
            union = np.diff(indptr) + query.self_similarity - shared
            raw = np.divide(shared, union, out=np.zeros_like(shared), where=union > 0)
        else:
            weights = _required(query.term_weights)
            closure_indptr, closure_terms = case_closures(self.ontology, indptr - indptr[0], terms)
            shared = sum_over_cases(weights, closure_indptr, closure_terms)
            total = sum_over_cases(self.information_content, closure_indptr, closure_terms)
            union = total + query.self_similarity - shared
            raw = np.divide(shared, union, out=np.zeros_like(shared), where=union > 0)
        return np.clip(raw, 0.0, 1.0).astype(np.float32)

    def _bma_scores(
        self,
        query: PreparedQuery,
        indptr: NDArray[np.int64],
        terms: NDArray[np.int16],
        diseases: _DiseaseRows | None,
        *,
        upper_bound: bool,
        coarse: bool = False,
    ) -> NDArray[np.float32]:
        """BMA scores 0..1 of the CSR rows, or their upper bounds (``coarse``: see
        ``score_upper_bounds``), Jaccard and the disease bridge mixed in if asked.

        Both share every step but the query->case part, so the case->query part, J and the
        bridge are the same float64 values in a score and in its bound (see
        ``score_upper_bounds``).
        """
        rows = len(indptr) - 1
        jaccard_weight = query.jaccard_weight
        if rows == 0 or not query.observed or (query.self_similarity <= 0 and not jaccard_weight):
            return np.zeros(rows, dtype=np.float32)
        # One conversion to intp instead of one per gather below (int16 gathers are slower).
        term_indices = terms.astype(np.intp)
        counts = np.diff(indptr)
        case_to_query, shared = _case_to_query_and_shared(query, indptr, term_indices, counts)
        bma = np.zeros(rows, dtype=np.float64)
        if query.self_similarity > 0:
            similarity = _required(query.similarity)
            if upper_bound and coarse:
                query_to_case = _full_query_to_case_sums(query, rows)
            elif upper_bound:
                query_to_case = _capped_query_to_case_sums(query, indptr, term_indices)
            else:
                query_to_case = best_match_sums(similarity, indptr, term_indices)
            query_to_case /= similarity.shape[0]
            weight = query.query_weight
            mixed = weight * query_to_case + (1.0 - weight) * case_to_query
            if upper_bound and similarity.dtype.kind != "u":
                mixed *= 1.0 + _FLOAT_BOUND_MARGIN
            raw = mixed * query.quantum / query.self_similarity
            if upper_bound:
                raw[counts == 0] = 0.0
            bma = np.clip(raw, 0.0, 1.0)
        phenotype = bma
        if shared is not None:
            # |Q or C| = |Q| + |C| - |Q and C| >= |Q| >= 1: shared counts case terms, <= |C|.
            jaccard = shared / (counts + len(query.observed) - shared)
            mixture = (1.0 - jaccard_weight) * bma + jaccard_weight * jaccard
            phenotype = np.clip(mixture, 0.0, 1.0)
        if query.bridge_weight:
            bridge = _disease_bridge(query, diseases, rows)
            mixture = (1.0 - query.bridge_weight) * phenotype + query.bridge_weight * bridge
            phenotype = np.clip(mixture, 0.0, 1.0)
        if query.fit_penalty:
            lowered = phenotype - query.fit_penalty * _fit_excess(query, diseases, rows)
            phenotype = np.clip(lowered, 0.0, 1.0)
        return phenotype.astype(np.float32)

    def explain(
        self,
        observed: Sequence[int],
        excluded: Sequence[int],
        case_observed: Sequence[int],
        case_excluded: Sequence[int],
        *,
        score: float | None = None,
    ) -> PhenotypeExplanation:
        """Why a case scored as it did: best match per query term, conflicts, shared diseases
        (the disease bridge, for methods with one) and the score.

        ``score``: the phenotype score when the caller already has it (from ``score_rows`` or
        the index); otherwise it is computed here, which costs a ``prepare`` (~10 ms).

        Term matches use the method's term similarity (Resnik for the set measures); for
        ``bma_jaccard`` the score also holds the exact-term Jaccard, whose shared terms are (with
        an exact bonus > 0) the matches with ``case_hpo_id == query_hpo_id``. A conflict is a term one side observes
        while the other excludes it or one of its ancestors. A query term whose best counterpart
        meets it only at a general ancestor (``is_close_ancestor``) is listed with no case term.
        """
        ontology, ic = self.ontology, self.information_content
        query = tuple(dict.fromkeys(int(term) for term in observed))
        case = np.array(list(dict.fromkeys(int(term) for term in case_observed)), dtype=np.int64)
        measure = self.term_measure or RESNIK
        bonus = self.exact_bonus if self.term_measure else 0.0
        matches = []
        # One similarity matrix for all query terms, restricted to the case's terms.
        rows = (
            term_similarity_matrix(ontology, np.array(query, dtype=np.int64), ic, measure)[:, case]
            if len(case) and query
            else None
        )
        for position, term in enumerate(query):
            if rows is None:
                matches.append(TermMatchExplanation(ontology.term_ids[term], None, None, 0.0, 0.0))
                continue
            row = rows[position] + bonus * (case == term)
            pair = pair_term(ontology, ic, term, case, row)
            if pair is None:
                # No close counterpart: listed as meeting nothing, never as a match.
                matches.append(
                    TermMatchExplanation(ontology.term_ids[term], None, None, 0.0, float(row.max()))
                )
                continue
            matches.append(
                TermMatchExplanation(
                    query_hpo_id=ontology.term_ids[term],
                    case_hpo_id=ontology.term_ids[int(case[pair.position])],
                    common_ancestor_hpo_id=ontology.term_ids[pair.common_ancestor],
                    common_ancestor_ic=float(ic[pair.common_ancestor]),
                    similarity=float(row.max()),
                )
            )
        conflicts = _conflicts(ontology, query, case_excluded, "query") + _conflicts(
            ontology, case.tolist(), excluded, "case"
        )
        if score is None:
            prepared = self.prepare(query, excluded)
            profiles = self.case_profiles([case.tolist()], [list(case_excluded)])
            score = float(self.score(prepared, profiles)[0])
            # prepare has read the query against every disease already.
            disease_vector, bridge_share = prepared.disease_vector, prepared.bridge_weight
            disease_similarity = prepared.disease_similarity
        else:
            disease_vector, bridge_share, disease_similarity = self._disease_side(query)
        # The case's disease profile, read once for both the bridge's and the penalty's reasons.
        profiler = self.disease_profiler
        theirs = profiler.profile(case.tolist()) if profiler is not None else None
        return PhenotypeExplanation(
            score=score,
            matches=tuple(matches),
            conflicts=conflicts,
            # A bridge with no share in this score (a query resembling many diseases about
            # equally, under the default's gate) is not offered as a reason.
            shared_diseases=self._shared_diseases(disease_vector, theirs) if bridge_share else (),
            bridge_share=bridge_share,
            closer_disease=self._closer_disease(disease_similarity, theirs),
        )

    def _disease_side(
        self, query: Sequence[int]
    ) -> tuple[NDArray[np.float32] | None, float, NDArray[np.float32] | None]:
        """The query's weight for every disease (None without a bridge), the bridge's share
        of its score (the method's, scaled down by its gate for a query with a wide spread) and
        the query's similarity to every disease."""
        profiler = self.disease_profiler
        if profiler is None:  # the method has no bridge
            return None, 0.0, None
        disease_vector, spread, similarity = profiler.query_side(query)
        share = self.bridge_weight
        if self.bridge_gate is not None:
            share *= _gate(spread, *self.bridge_gate)
        return disease_vector, share, similarity

    def _closer_disease(
        self, ours: NDArray[np.float32] | None, theirs: DiseaseProfile | None
    ) -> CloserDiseaseExplanation | None:
        profiler = self.disease_profiler
        if not self.fit_penalty or profiler is None or ours is None or theirs is None:
            return None
        if not len(theirs.rows):
            return None
        row = int(theirs.rows[0])
        query_fit = float(ours[row])
        if theirs.fit <= query_fit:
            return None
        return CloserDiseaseExplanation(
            disease_id=profiler.disease_ids[row],
            disease_name=self.ontology.disease_names[int(profiler.ontology_rows[row])],
            case_fit=theirs.fit,
            query_fit=query_fit,
            lowered_by=self.fit_penalty * (theirs.fit - query_fit),
        )

    def _shared_diseases(
        self, ours: NDArray[np.float32] | None, theirs: DiseaseProfile | None
    ) -> tuple[SharedDiseaseExplanation, ...]:
        profiler = self.disease_profiler
        if profiler is None or ours is None or theirs is None:
            return ()
        shared = [
            (float(ours[row]) * weight, row)
            for row, weight in zip(theirs.rows.tolist(), theirs.weights.tolist(), strict=True)
            if ours[row] > 0
        ]
        shared.sort(key=lambda item: (-item[0], item[1]))
        names = self.ontology.disease_names
        return tuple(
            SharedDiseaseExplanation(
                disease_id=profiler.disease_ids[row],
                disease_name=names[int(profiler.ontology_rows[row])],
                contribution=contribution,
            )
            for contribution, row in shared
        )


def combine_scores(
    phenotype: NDArray[np.float32], genotype: NDArray[np.float32] | None
) -> NDArray[np.float32]:
    """Patient score 0..1 (higher = better match) from phenotype (0..1) and genotype (0..1).

    ``(phenotype + genotype) / 2``: a shared gene (genotype 1) lifts a case above every case
    without one sharing an equally good phenotype, and the phenotype orders the cases within a
    gene. Chosen by measurement in bench/quality.py (setting d). ``genotype`` None: the query
    names no gene, so there is no genotype part to combine and the patient score is the
    phenotype score. Halving it instead would make the same score mean a better match for a
    phenotype-only query, and a score floor hide half of its true matches.
    """
    phenotype = np.asarray(phenotype, dtype=np.float32)
    if genotype is None:
        return np.clip(phenotype, 0.0, 1.0).astype(np.float32)
    genotype = np.asarray(genotype, dtype=np.float32)
    # numpy's stubs lose the float32 of array arithmetic (its dtype becomes Any).
    halved: NDArray[np.float32] = (phenotype + genotype) * np.float32(0.5)
    return np.clip(halved, 0.0, 1.0).astype(np.float32)


def _gate(spread: float, low: float, high: float) -> float:
    """1 for a spread up to ``low``, 0 from ``high`` on, linear in ln(spread) between."""
    if spread <= low:
        return 1.0
    if spread >= high:
        return 0.0
    return math.log(high / spread) / math.log(high / low)


def _levels(query: PreparedQuery) -> _Levels:
    """The query's level masks, bit weights and constant, built once per prepared query.

    Threads racing on the first call both build the same read-only arrays; either is kept.
    """
    levels = query.level_cache.get("levels")
    if levels is None:
        similarity = _required(query.similarity)
        masks, weights, base = _level_masks(similarity, integral=similarity.dtype.kind == "u")
        masks.flags.writeable = weights.flags.writeable = False
        levels = query.level_cache.setdefault("levels", (masks, weights, base))
    return levels


def _level_masks(similarity: NDArray[Any], *, integral: bool) -> _Levels:
    """The per-term level masks, per-byte bit weights and constant of ``score_upper_bounds``.

    K = 64 // Q levels per query term (at least 1; with more than 64 query terms only the
    first 64 get a bit, the others count as R_i in the constant), evenly spaced in (0, R_i].
    Bit i * K + k of term t's mask is set when ``similarity[i, t] >= L_ik``; the masks are
    little-endian, so byte j of a mask holds bits 8j..8j+7 on any machine.
    """
    count, n_terms = similarity.shape
    masks = np.zeros(n_terms, dtype="<u8")
    weights = np.zeros((8, 256), dtype=np.float64)
    if count == 0:
        return masks, weights, 0.0
    levels_per_term = max(1, _LEVEL_BITS // count)
    tracked = min(count, _LEVEL_BITS // levels_per_term)
    reach = similarity.max(axis=1).astype(np.float64)  # R_i
    fractions = np.arange(1, levels_per_term + 1) / (levels_per_term + 1)
    levels = fractions[None, :] * reach[:tracked, None]
    if integral:
        levels = np.floor(levels) + 1.0  # 1..255: integer quanta
    # The caps must use the very levels the masks compare against (float32 or uint8).
    levels = levels.astype(similarity.dtype)
    # caps[i, j]: the cap on max_t S[i, t] when levels 1..j are reached (j = 0..K).
    caps = np.concatenate(
        [levels.astype(np.float64) - (1.0 if integral else 0.0), reach[:tracked, None]], axis=1
    )
    base = float(caps[:, 0].sum() + reach[tracked:].sum())
    bit_weights = np.zeros(_LEVEL_BITS, dtype=np.float64)
    bit_weights[: tracked * levels_per_term] = np.diff(caps, axis=1).reshape(-1)
    # The levels of a query term increase, so the ones a term reaches are a prefix 1..j: count
    # them, and set bits i * K .. i * K + j - 1 from a table of the K + 1 possible prefixes
    # (integers, so no shift by 64 is ever computed). Same masks as comparing every level and
    # packing the bits, at about half the cost (~4 ms instead of ~9 ms per query on the HPO).
    reached = np.zeros((tracked, n_terms), dtype=np.uint8)
    for level in range(levels_per_term):
        reached += similarity[:tracked] >= levels[:, level : level + 1]
    prefixes = np.array([(1 << j) - 1 for j in range(levels_per_term + 1)], dtype=np.uint64)
    shifts = np.arange(tracked, dtype=np.uint64) * np.uint64(levels_per_term)
    masks = np.bitwise_or.reduce(prefixes[reached] << shifts[:, None], axis=0).astype("<u8")
    values = np.arange(256)
    for byte in range(8):
        for bit in range(8):
            weights[byte] += ((values >> bit) & 1) * bit_weights[8 * byte + bit]
    return masks, weights, base


def _case_to_query_and_shared(
    query: PreparedQuery,
    indptr: NDArray[np.int64],
    terms: NDArray[np.intp],
    counts: NDArray[np.int64],
) -> tuple[NDArray[np.float64], NDArray[np.float64] | None]:
    """Per case: the mean of best_to_query over its terms, and how many of its terms are query
    terms (None when the query mixes in no Jaccard); quantised, both from one gather."""
    best = _required(query.best_to_query)
    if not query.jaccard_weight:
        return average_over_cases(best, indptr, terms), None
    if query.best_and_query_terms is not None:
        best_sums, shared = sum_pairs_over_cases(query.best_and_query_terms, indptr, terms)
        # Empty cases have a sum of 0: dividing by 1 keeps their mean 0.
        return best_sums / np.maximum(counts, 1), shared
    shared = sum_over_cases(_required(query.term_weights), indptr, terms)
    return average_over_cases(best, indptr, terms), shared


def _capped_query_to_case_sums(
    query: PreparedQuery, indptr: NDArray[np.int64], terms: NDArray[np.intp]
) -> NDArray[np.float64]:
    """Per case, sum_i cap_i >= sum_i max_t S[i, t] (see ``score_upper_bounds``), float64."""
    masks, weights, base = _levels(query)
    reached = bitwise_or_over_cases(masks, indptr, terms)
    # Little-endian uint64 (see _level_masks): byte j holds bits 8j..8j+7.
    by_byte = reached.view(np.uint8).reshape(-1, 8)
    caps = np.full(len(reached), base, dtype=np.float64)
    for byte in range(8):
        caps += weights[byte][by_byte[:, byte]]
    return caps


def _full_query_to_case_sums(query: PreparedQuery, rows: int) -> NDArray[np.float64]:
    """sum_i R_i for every case: what ``_capped_query_to_case_sums`` gives a case reaching
    every level, without building the level masks (a search that tightens no bound never
    needs them). Integer quanta sum exactly; float sums get a relative margin of 1e-12, far
    above the rounding error of summing the same terms in another order, so this is never
    below the caps."""
    best = query.best_possible_cache.get("sum")
    if best is None:
        similarity = _required(query.similarity)
        best = float(similarity.max(axis=1).astype(np.float64).sum())
        if similarity.dtype.kind != "u":
            best *= 1.0 + 1e-12
        query.best_possible_cache["sum"] = best
    return np.full(rows, best, dtype=np.float64)


def _bridge_decides(query: PreparedQuery) -> bool:
    """Whether the coarse bound can rule cases out: the score mixes in a disease bridge."""
    return bool(query.bridge_weight) and query.disease_vector is not None


# One block of cases' disease profiles: rows and weights, each of shape (cases, width), and
# fits, shape (cases,).
_DiseaseRows = tuple[NDArray[np.int16], NDArray[Any], NDArray[np.float32] | None]


def _diseases_of(profiles: CaseProfiles, cases: slice | NDArray[np.int64]) -> _DiseaseRows | None:
    """The disease profiles of a range (slice) or a list (array) of cases; None without any."""
    if profiles.disease_rows is None or profiles.disease_weights is None:
        return None
    fits = None if profiles.disease_fits is None else profiles.disease_fits[cases]
    return profiles.disease_rows[cases], profiles.disease_weights[cases], fits


def _disease_bridge(
    query: PreparedQuery, diseases: _DiseaseRows | None, rows: int
) -> NDArray[np.float64]:
    """Per case, the dot product of its disease profile with the query's vector, capped at 1.

    One gather of the query's weight per stored profile entry, then a dot product per case over
    a fixed width (no ``reduceat``; einsum was 1.5-2 times faster than multiply-and-sum). Each
    case's value depends on its own row only, so a score, its bound and ``score_rows`` agree
    bit for bit (tested).
    """
    vector = query.disease_vector
    if vector is None or diseases is None or rows == 0:
        return np.zeros(rows, dtype=np.float64)
    disease_rows, weights, _ = diseases
    # int16 indices: one conversion to intp first; np.take on int16 held the GIL and ran up to
    # three times slower (measured with numpy 2.4), which the second search thread felt.
    gathered = np.take(vector, disease_rows.astype(np.intp))
    # numpy's stubs type einsum's result as Any; float32 inputs give float32 sums.
    bridge: NDArray[np.float32] = np.einsum(
        "ij,ij->i", gathered, weights.astype(np.float32, copy=False)
    )
    return np.minimum(bridge, np.float32(1.0)).astype(np.float64)


def _fit_excess(
    query: PreparedQuery, diseases: _DiseaseRows | None, rows: int
) -> NDArray[np.float64]:
    """Per case, max(0, fit - the query's similarity to the case's closest disease): how much
    better that known disease explains the case than the query (0 for a case without a
    profile). Like the bridge, each value depends on its own row only."""
    similarity = query.disease_similarity
    if similarity is None or diseases is None or rows == 0:
        return np.zeros(rows, dtype=np.float64)
    disease_rows, _, fits = diseases
    if fits is None or disease_rows.shape[1] == 0:
        return np.zeros(rows, dtype=np.float64)
    query_fit = np.take(similarity, disease_rows[:, 0].astype(np.intp)).astype(np.float64)
    return np.maximum(fits.astype(np.float64) - query_fit, 0.0)


def _checked_rows(profiles: CaseProfiles, rows: NDArray[np.integer[Any]]) -> NDArray[np.int64]:
    rows = np.asarray(rows, dtype=np.int64).reshape(-1)
    if rows.size and (rows.min() < 0 or rows.max() >= len(profiles)):
        raise IndexError(f"rows outside 0..{len(profiles) - 1}")
    return rows


def _checked_range(profiles: CaseProfiles, start: int, stop: int | None) -> int:
    stop = len(profiles) if stop is None else stop
    if not 0 <= start <= stop <= len(profiles):
        raise ValueError(f"bad case range {start}..{stop} for {len(profiles)} cases")
    return stop


def _conflicts(
    ontology: Ontology, observed: Sequence[int], excluded: Sequence[int], observed_in: str
) -> tuple[PhenotypeConflict, ...]:
    return tuple(
        PhenotypeConflict(
            observed_hpo_id=ontology.term_ids[term],
            excluded_hpo_id=ontology.term_ids[ancestor],
            observed_in=observed_in,
        )
        for term, ancestor in conflicting_pairs(ontology, observed, excluded)
    )


def _required(array: NDArray[Any] | None) -> NDArray[Any]:
    # prepare() fills the arrays its method needs; None here means a query from another scorer.
    if array is None:
        raise ValueError("the query was not prepared for this method")
    return array


__all__ = [
    "BMA_JACCARD",
    "BMA_JACCARD_BRIDGE",
    "BMA_JACCARD_EXPLAINED_BRIDGE",
    "BMA_JACCARD_GATED_BRIDGE",
    "DEFAULT_METHOD",
    "METHODS",
    "CaseProfiles",
    "CloserDiseaseExplanation",
    "PhenotypeConflict",
    "PhenotypeExplanation",
    "PhenotypeScorer",
    "PreparedQuery",
    "SharedDiseaseExplanation",
    "TermMatchExplanation",
    "combine_scores",
    "is_close_ancestor",
]

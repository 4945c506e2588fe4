"""Ranking the rows of a snapshot: what a scorer must offer, the filters of one search, the
genotype and patient scores, scoring every row in shares, and the top-k merge.

Pruning (``pruning``) scores exactly only some rows; both end in ``merge``.
"""

from __future__ import annotations

import itertools
from collections.abc import Collection
from dataclasses import dataclass
from typing import Protocol, TypeVar, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from ontologies import csr
from ontologies.case_index import threads
from ontologies.case_index.storage import Segment, Snapshot
from ontologies.similarity import CaseProfiles, combine_scores

# Below this many rows one thread scores everything: handing work to a pool costs ~0.1 ms.
_PARALLEL_MIN_ROWS = 20_000
# The scorer gets rows in blocks this size: its temporaries (a few per stored term) then stay in
# the CPU cache, which made a numpy scorer 1.5 times faster than one call per million rows.
SCORE_BLOCK_ROWS = 32_768


Query = TypeVar("Query", contravariant=True)


class PhenotypeScoring(Protocol[Query]):
    """What a search needs from ``ontologies.similarity.PhenotypeScorer``."""

    def score(
        self, query: Query, profiles: CaseProfiles, start: int = 0, stop: int | None = None
    ) -> NDArray[np.float32]: ...


@runtime_checkable
class BoundedPhenotypeScoring(Protocol[Query]):
    """A scorer that also bounds its scores from above, which lets a search prune.

    ``score_upper_bounds`` must never return less than ``score`` for a case (or None: no bound
    for this query), nor its ``coarse`` bound less than the tight one;
    ``score_upper_bounds_rows`` gives the tight bound of some rows; and
    ``score_rows(query, profiles, rows)`` must equal ``score(query, profiles)[rows]`` bit for
    bit. ``PhenotypeScorer`` guarantees all of these.
    """

    def score(
        self, query: Query, profiles: CaseProfiles, start: int = 0, stop: int | None = None
    ) -> NDArray[np.float32]: ...

    def score_upper_bounds(
        self,
        query: Query,
        profiles: CaseProfiles,
        start: int = 0,
        stop: int | None = None,
        *,
        coarse: bool = False,
    ) -> NDArray[np.float32] | None: ...

    def score_upper_bounds_rows(
        self, query: Query, profiles: CaseProfiles, rows: NDArray[np.int64]
    ) -> NDArray[np.float32] | None: ...

    def score_rows(
        self, query: Query, profiles: CaseProfiles, rows: NDArray[np.int64]
    ) -> NDArray[np.float32]: ...


@dataclass(frozen=True, slots=True)
class SearchStatistics:
    """How much work one search did (see ``CaseIndex.search_with_statistics``)."""

    rows: int  # rows in the index, alive or not
    eligible_rows: int  # rows passing the filters
    exact_rows: int  # rows whose phenotype score was computed exactly
    rounds: int  # exact-scoring rounds after the bounds (0: every row scored, no bounds)
    pruned: bool  # False when the scorer offers no bound and every row was scored


@dataclass(frozen=True, slots=True)
class Hit:
    """One ranked case."""

    key: int
    score: float  # patient score 0..1, higher = better match (combine_scores)
    phenotype: float  # 0..1, from the phenotype scorer
    genotype: float  # 0..1: 1 if the case shares a candidate gene with the query
    shared_genes: tuple[str, ...]  # sorted


@dataclass(frozen=True, slots=True)
class Chunk:
    """Rows [start, stop) of one segment, scored by one thread."""

    segment: Segment
    alive: NDArray[np.bool_]
    start: int
    stop: int
    excluded_rows: NDArray[np.int64]  # rows of the segment (anywhere) that the search drops


@dataclass(frozen=True, slots=True)
class Candidates:
    """The best rows of one chunk: enough to fill ``limit`` including every tie at the edge."""

    keys: NDArray[np.int64]
    patient: NDArray[np.float32]
    phenotype: NDArray[np.float32]
    genotype: NDArray[np.float32]
    chunk: Chunk
    rows: NDArray[np.int64]  # within the segment
    eligible_rows: int  # rows of the chunk passing the filters


def _excluded_rows(
    snapshot: Snapshot, exclude_keys: Collection[int]
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """The rows of ``exclude_keys`` in the main segment and in the delta."""
    main_keys = snapshot.main.keys
    if not exclude_keys or not len(main_keys):
        main_rows = np.zeros(0, dtype=np.int64)
    else:
        keys = np.fromiter(exclude_keys, dtype=np.int64, count=len(exclude_keys))
        positions = np.minimum(np.searchsorted(main_keys, keys), len(main_keys) - 1)
        main_rows = positions[main_keys[positions] == keys]
    delta_rows = [snapshot.delta_rows[key] for key in exclude_keys if key in snapshot.delta_rows]
    return main_rows, np.array(delta_rows, dtype=np.int64)


def split(snapshot: Snapshot, exclude_keys: Collection[int]) -> list[list[Chunk]]:
    """One share of the work per core: main-segment chunks of about equal numbers of observed
    terms (the scorer's cost), the small delta segment joining the first share."""
    main = snapshot.main
    main_excluded, delta_excluded = _excluded_rows(snapshot, exclude_keys)
    rows = len(main)
    parts = min(threads.WORKERS, max(1, rows // _PARALLEL_MIN_ROWS))
    targets = np.linspace(0, main.observed_indptr[-1], parts + 1)[1:-1]
    bounds = [0, *np.searchsorted(main.observed_indptr, targets).tolist(), rows]
    shares = [
        [Chunk(main, snapshot.main_alive, start, stop, main_excluded)]
        for start, stop in itertools.pairwise(bounds)
        if stop > start
    ] or [[]]
    if len(snapshot.delta):
        delta = Chunk(snapshot.delta, snapshot.delta_alive, 0, len(snapshot.delta), delta_excluded)
        shares[0].append(delta)
    return shares


def genotype_scores(
    segment: Segment, start: int, stop: int, wanted_genes: NDArray[np.bool_] | None
) -> NDArray[np.float32]:
    """1 for the rows in [start, stop) listing a gene marked in ``wanted_genes``, else 0."""
    if wanted_genes is None:
        return np.zeros(stop - start, dtype=np.float32)
    indptr = segment.gene_indptr
    first, last = indptr[start], indptr[stop]
    # Few codes match: find them, then their rows by bisection, rather than a pass per row.
    matches = np.flatnonzero(wanted_genes[segment.gene_codes[first:last]]) + first
    rows = csr.rows_of_positions(indptr, matches)
    genotype = np.zeros(stop - start, dtype=np.float32)
    genotype[rows - start] = 1.0
    return genotype


@dataclass(frozen=True, slots=True)
class Rules:
    """What one search keeps and how many: the filters, the score floor and the limit."""

    wanted_genes: NDArray[np.bool_] | None  # one flag per gene code; None: no query gene known
    # The query names a gene (known here or not): the patient score combines phenotype and
    # genotype. Otherwise it is the phenotype score alone (combine_scores with None).
    query_has_genes: bool
    required_flags: int
    rejected_flags: int
    require_shared_gene: bool
    floor: np.float32  # min_score, at least 0
    limit: int


def passes_filters(chunk: Chunk, genotype: NDArray[np.float32], rules: Rules) -> NDArray[np.bool_]:
    """The rows of ``chunk`` that pass the search's filters (whatever they score)."""
    segment, start, stop = chunk.segment, chunk.start, chunk.stop
    eligible = chunk.alive[start:stop].copy()
    if rules.required_flags or rules.rejected_flags:
        flags = segment.flags[start:stop] & (rules.required_flags | rules.rejected_flags)
        eligible &= flags == rules.required_flags
    if chunk.excluded_rows.size:
        excluded = chunk.excluded_rows
        inside = excluded[(excluded >= start) & (excluded < stop)]
        eligible[inside - start] = False
    if rules.require_shared_gene:
        eligible &= genotype > 0
    return eligible


def patient_scores(
    phenotype: NDArray[np.float32], genotype: NDArray[np.float32], rules: Rules
) -> NDArray[np.float32]:
    combined = combine_scores(phenotype, genotype if rules.query_has_genes else None)
    return np.asarray(combined, dtype=np.float32)


def rank_chunk(
    scorer: PhenotypeScoring[Query], query: Query, chunk: Chunk, rules: Rules
) -> Candidates:
    segment, start, stop = chunk.segment, chunk.start, chunk.stop
    phenotype = np.empty(stop - start, dtype=np.float32)
    for block in range(start, stop, SCORE_BLOCK_ROWS):
        block_stop = min(block + SCORE_BLOCK_ROWS, stop)
        phenotype[block - start : block_stop - start] = scorer.score(
            query, segment.profiles, block, block_stop
        )
    genotype = genotype_scores(segment, start, stop, rules.wanted_genes)
    patient = patient_scores(phenotype, genotype, rules)
    eligible = passes_filters(chunk, genotype, rules)
    # Ineligible rows score -1, below any real score (0..1), so one partition ranks the rest.
    ranked = np.where(eligible, patient, np.float32(-1.0))
    best = best_rows(
        ranked, segment.keys[start:stop], segment.keys_sorted, float(rules.floor), rules.limit
    )
    return Candidates(
        keys=segment.keys[start:stop][best],
        patient=patient[best],
        phenotype=phenotype[best],
        genotype=genotype[best],
        chunk=chunk,
        rows=best + start,
        eligible_rows=int(eligible.sum()),
    )


def best_rows(
    scores: NDArray[np.float32],
    keys: NDArray[np.int64],
    keys_sorted: bool,
    min_score: float,
    limit: int,
) -> NDArray[np.int64]:
    """Positions of the ``limit`` best scores >= ``min_score``, ties going to the smaller key.

    Unordered. Linear time, without ``np.partition``: on a million scores with many equal values
    (the usual case: scores come from a few thousand distinct term combinations) it takes
    100 ms, where the bound below takes under 1 ms.
    """
    floor = max(min_score, 0.0)
    candidates = np.flatnonzero(scores >= max(lower_bound(scores, limit), floor))
    if len(candidates) <= limit:
        return candidates
    values = scores[candidates]
    threshold = np.sort(values)[len(values) - limit]
    above = candidates[values > threshold]
    tied = candidates[values == threshold]
    room = limit - len(above)
    if len(tied) > room:
        if not keys_sorted:
            tied = tied[np.argsort(keys[tied], kind="stable")]
        tied = tied[:room]
    return np.concatenate([above, tied])


def lower_bound(scores: NDArray[np.float32], limit: int) -> float:
    """A score that at least ``limit`` of ``scores`` reach, close to the limit-th best.

    Cut the scores into blocks and take each block's maximum: the limit-th best of those maxima
    is reached by ``limit`` different scores, and with many more blocks than ``limit`` few other
    scores reach it, so comparing against it leaves a short list of candidates.
    """
    block = max(1, min(1024, len(scores) // (8 * limit)))
    whole = len(scores) // block * block
    maxima = scores[:whole].reshape(-1, block).max(axis=1)
    if whole < len(scores):
        maxima = np.append(maxima, scores[whole:].max())
    if len(maxima) < limit:
        return -np.inf
    return float(np.sort(maxima)[len(maxima) - limit])


def merge(
    results: list[Candidates],
    limit: int,
    vocabulary: tuple[str, ...],
    wanted_genes: NDArray[np.bool_],
) -> list[Hit]:
    keys = np.concatenate([result.keys for result in results])
    patient = np.concatenate([result.patient for result in results])
    # Best score first, then ascending key.
    order = np.lexsort((keys, -patient))[:limit]
    phenotype = np.concatenate([result.phenotype for result in results])
    genotype = np.concatenate([result.genotype for result in results])
    owners = np.concatenate(
        [np.full(len(result.keys), index, dtype=np.int64) for index, result in enumerate(results)]
    )
    rows = np.concatenate([result.rows for result in results])
    hits = []
    for position in order.tolist():
        shared: tuple[str, ...] = ()
        if genotype[position] > 0:
            segment = results[owners[position]].chunk.segment
            row = int(rows[position])
            codes = csr.row(segment.gene_indptr, segment.gene_codes, row)
            shared = tuple(
                sorted({vocabulary[code] for code in codes.tolist() if wanted_genes[code]})
            )
        hits.append(
            Hit(
                key=int(keys[position]),
                score=float(patient[position]),
                phenotype=float(phenotype[position]),
                genotype=float(genotype[position]),
                shared_genes=shared,
            )
        )
    return hits

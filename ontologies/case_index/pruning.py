"""Exact top-k with pruning: bound every row's score from above, then score exactly only the rows
whose bound can still reach the ``limit``-th best exact score (``search_pruned``)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ontologies.case_index import threads
from ontologies.case_index.ranking import (
    BoundedPhenotypeScoring,
    Candidates,
    Chunk,
    Query,
    Rules,
    SearchStatistics,
    genotype_scores,
    lower_bound,
    passes_filters,
    patient_scores,
)
from ontologies.case_index.storage import Segment, Snapshot

# Upper bounds come in blocks this size (the same cache argument; their temporaries are smaller).
_BOUND_BLOCK_ROWS = 32_768
# The first exact-scoring round takes the rows with the best bounds, this many per hit asked for
# (at least _FIRST_EXACT_BATCH): usually enough to set the threshold that prunes the rest. Since
# the survivors' bounds are tightened after it, a small first round is enough (256 against 2048:
# -1.7 ms a search at 100k cases, docs/benchmarks.md).
_FIRST_EXACT_BATCH_PER_LIMIT = 4
_FIRST_EXACT_BATCH = 256
# Up to this many eligible rows, all are scored exactly without bounds.
_SCORE_ALL_ELIGIBLE_UP_TO = 2048
# Rows left after the first round get tight bounds only from this many: for fewer, scoring them
# exactly costs less than the query's level masks (~1.3 ms) that tight bounds need.
_TIGHTEN_FROM_ROWS = 2048
# Past this share of a segment's rows, tightening their bounds bounds the whole segment instead.
_TIGHTEN_WHOLE_SEGMENT_SHARE = 0.25
# Exact scoring of chosen rows is split across cores from this many rows per core.
_PARALLEL_MIN_EXACT_ROWS = 8192


@dataclass(frozen=True, slots=True)
class _Bounds:
    """Rows [chunk.start, chunk.stop) of one segment: patient-score bounds and genotypes."""

    chunk: Chunk
    patient: NDArray[np.float32]  # >= the row's patient score; -1 for rows the filters drop
    genotype: NDArray[np.float32]


def _filter_chunk(
    chunk: Chunk, rules: Rules
) -> tuple[Chunk, NDArray[np.float32], NDArray[np.bool_]]:
    genotype = genotype_scores(chunk.segment, chunk.start, chunk.stop, rules.wanted_genes)
    return chunk, genotype, passes_filters(chunk, genotype, rules)


def _bound_chunk(
    scorer: BoundedPhenotypeScoring[Query],
    query: Query,
    filtered: tuple[Chunk, NDArray[np.float32], NDArray[np.bool_]],
    *,
    rules: Rules,
    trivial: bool,
) -> _Bounds | None:
    """Bounds of one chunk's rows; with ``trivial``, phenotype 1 (no score exceeds it)."""
    chunk, genotype, eligible = filtered
    segment, start, stop = chunk.segment, chunk.start, chunk.stop
    if trivial:
        # Whether the method has bounds at all (an empty range costs nothing to ask about).
        if scorer.score_upper_bounds(query, segment.profiles, start, start) is None:
            return None
        phenotype = np.ones(stop - start, dtype=np.float32)
        patient = patient_scores(phenotype, genotype, rules)
        return _Bounds(chunk, np.where(eligible, patient, np.float32(-1.0)), genotype)
    bounds = _upper_bounds_in_blocks(
        scorer, query, segment, start, stop, coarse=True, needed=eligible
    )
    if bounds is None:
        return None
    # combine_scores is monotone in the phenotype score, so this bounds the patient score.
    patient = patient_scores(bounds, genotype, rules)
    return _Bounds(chunk, np.where(eligible, patient, np.float32(-1.0)), genotype)


def _upper_bounds_in_blocks(
    scorer: BoundedPhenotypeScoring[Query],
    query: Query,
    segment: Segment,
    start: int,
    stop: int,
    *,
    coarse: bool,
    needed: NDArray[np.bool_],
) -> NDArray[np.float32] | None:
    """Phenotype bounds of the segment's rows start..stop-1, a block of _BOUND_BLOCK_ROWS at a
    time: the block's temporaries stay in the CPU's cache (one call over 100k rows took ~15 ms,
    blocks ~8 ms). Blocks where ``needed`` (one flag per row of the range) has no row are left
    at 0. None when the scorer has no bound for this query."""
    phenotype = np.zeros(stop - start, dtype=np.float32)
    for block in range(start, stop, _BOUND_BLOCK_ROWS):
        block_stop = min(block + _BOUND_BLOCK_ROWS, stop)
        if not needed[block - start : block_stop - start].any():
            continue
        upper = scorer.score_upper_bounds(query, segment.profiles, block, block_stop, coarse=coarse)
        if upper is None:
            return None
        phenotype[block - start : block_stop - start] = upper
    return phenotype


def search_pruned(
    scorer: BoundedPhenotypeScoring[Query],
    query: Query,
    snapshot: Snapshot,
    shares: list[list[Chunk]],
    rules: Rules,
) -> tuple[list[Candidates], SearchStatistics] | None:
    """Exact top-k: bound every row, then score exactly, best bound first, every row whose
    bound reaches theta, the ``limit``-th best exact patient score found so far (or the floor).

    Every row first gets the scorer's coarse bound (cheaper). After the first exact round has
    set theta, the rows whose coarse bound still reaches it, usually a few percent, get the
    tight bound if there are many of them, and only those that reach theta by it too are
    scored exactly.

    Why the result equals scoring every row: theta only rises, and a row left unscored has a
    bound, hence a score, below the floor or strictly below the final theta, which ``limit``
    scored rows reach; it ranks below all of them whatever its key. Rows whose bound equals
    theta are scored, so ties are broken by key exactly as in the full ranking. None when the
    scorer has no bound for this query.
    """

    filtered = [[_filter_chunk(chunk, rules) for chunk in share] for share in shares]
    batch = max(_FIRST_EXACT_BATCH_PER_LIMIT * rules.limit, _FIRST_EXACT_BATCH)
    # Few eligible rows (a shared gene required, say): scoring them all costs less than bounding
    # the blocks they sit in, so the first exact batch takes them all. Trivial bounds keep the
    # one code path below.
    eligible_total = sum(int(part[2].sum()) for share in filtered for part in share)
    trivial = eligible_total <= max(batch, _SCORE_ALL_ELIGIBLE_UP_TO)
    if trivial:
        batch = max(batch, eligible_total)

    def bound_all(
        parts: list[tuple[Chunk, NDArray[np.float32], NDArray[np.bool_]]],
    ) -> list[_Bounds | None]:
        return [_bound_chunk(scorer, query, part, rules=rules, trivial=trivial) for part in parts]

    bounds = [bound for bound in threads.run_shares(bound_all, filtered) if bound is not None]
    if len(bounds) < sum(len(share) for share in shares):
        return None
    segments = (snapshot.main, snapshot.delta)
    offset = len(snapshot.main)
    # One row space over both segments: main rows first, then the delta's.
    patient_bound = np.full(offset + len(snapshot.delta), -1.0, dtype=np.float32)
    genotype = np.zeros(len(patient_bound), dtype=np.float32)
    for bound in bounds:
        shift = offset if bound.chunk.segment is snapshot.delta else 0
        patient_bound[bound.chunk.start + shift : bound.chunk.stop + shift] = bound.patient
        genotype[bound.chunk.start + shift : bound.chunk.stop + shift] = bound.genotype
    eligible_rows = int(np.count_nonzero(patient_bound >= 0))

    floor, limit = rules.floor, rules.limit
    theta = floor
    remaining = np.flatnonzero(patient_bound >= floor)
    scored_rows: list[NDArray[np.int64]] = []
    scored_phenotype: list[NDArray[np.float32]] = []
    best_scores = np.zeros(0, dtype=np.float32)  # the best exact patient scores so far, >= floor
    rounds = 0
    tightened = trivial  # trivial bounds: every eligible row is in the first exact batch
    while remaining.size:
        rounds += 1
        values = patient_bound[remaining]
        if remaining.size > batch:
            take = values >= lower_bound(values, batch)
            chosen, remaining = remaining[take], remaining[~take]
        else:
            chosen, remaining = remaining, remaining[:0]
        chosen.sort()  # rows in storage order: the exact scorer then reads memory forwards
        phenotype = _score_rows_exactly(scorer, query, segments, offset, chosen)
        patient = patient_scores(phenotype, genotype[chosen], rules)
        scored_rows.append(chosen)
        scored_phenotype.append(phenotype)
        best_scores = np.concatenate([best_scores, patient[patient >= floor]])
        if len(best_scores) >= limit:
            best_scores = np.partition(best_scores, len(best_scores) - limit)[-limit:]
            theta = max(theta, best_scores.min())
        remaining = remaining[patient_bound[remaining] >= theta]
        if not tightened and remaining.size > _TIGHTEN_FROM_ROWS:
            # Rows past the coarse bound: the tight bound for them alone (remaining is sorted).
            tightened = True
            tight = _tight_bounds(scorer, query, segments, offset, remaining)
            patient_bound[remaining] = np.minimum(
                patient_bound[remaining], patient_scores(tight, genotype[remaining], rules)
            )
            remaining = remaining[patient_bound[remaining] >= theta]
        batch *= 2

    rows = np.concatenate(scored_rows) if scored_rows else np.zeros(0, dtype=np.int64)
    phenotype = (
        np.concatenate(scored_phenotype) if scored_phenotype else np.zeros(0, dtype=np.float32)
    )
    patient = patient_scores(phenotype, genotype[rows], rules)
    kept = patient >= floor
    rows, phenotype, patient = rows[kept], phenotype[kept], patient[kept]
    results = []
    for segment, alive, in_segment, shift in (
        (snapshot.main, snapshot.main_alive, rows < offset, 0),
        (snapshot.delta, snapshot.delta_alive, rows >= offset, offset),
    ):
        segment_rows = rows[in_segment] - shift
        results.append(
            Candidates(
                keys=segment.keys[segment_rows],
                patient=patient[in_segment],
                phenotype=phenotype[in_segment],
                genotype=genotype[rows[in_segment]],
                chunk=Chunk(segment, alive, 0, len(segment), np.zeros(0, dtype=np.int64)),
                rows=segment_rows,
                eligible_rows=0,
            )
        )
    exact_rows = int(sum(len(part) for part in scored_rows))
    statistics = SearchStatistics(
        rows=len(patient_bound),
        eligible_rows=eligible_rows,
        exact_rows=exact_rows,
        rounds=rounds,
        pruned=True,
    )
    return results, statistics


def _tight_bounds(
    scorer: BoundedPhenotypeScoring[Query],
    query: Query,
    segments: tuple[Segment, Segment],
    offset: int,
    rows: NDArray[np.int64],
) -> NDArray[np.float32]:
    """Tight phenotype bounds of ``rows`` (sorted; main rows, then delta rows from ``offset``)."""
    bounds = np.empty(len(rows), dtype=np.float32)
    for segment, part, start in _by_segment(segments, offset, rows):
        if not len(part):
            continue
        if len(part) > len(segment) * _TIGHTEN_WHOLE_SEGMENT_SHARE:
            # Most rows left (the coarse bound helped little): a pass over the whole segment
            # reads memory forwards and costs less than gathering so many rows.
            needed = np.zeros(len(segment), dtype=np.bool_)
            needed[part] = True
            whole = _upper_bounds_in_blocks(
                scorer, query, segment, 0, len(segment), coarse=False, needed=needed
            )
            tight = None if whole is None else whole[part]
        else:
            tight = scorer.score_upper_bounds_rows(query, segment.profiles, part)
        if tight is None:  # the scorer bounded these rows a moment ago
            raise RuntimeError("the scorer stopped offering bounds during a search")
        bounds[start : start + len(part)] = tight
    return bounds


def _score_rows_exactly(
    scorer: BoundedPhenotypeScoring[Query],
    query: Query,
    segments: tuple[Segment, Segment],
    offset: int,
    rows: NDArray[np.int64],
) -> NDArray[np.float32]:
    """Exact phenotype scores of ``rows`` (sorted; main rows, then delta rows from ``offset``)."""
    (main, main_rows, _), (delta, delta_rows, split) = _by_segment(segments, offset, rows)
    phenotype = np.empty(len(rows), dtype=np.float32)
    # Large batches go to the cores in equal parts; small ones are not worth the handover.
    parts = min(threads.WORKERS, max(1, len(main_rows) // _PARALLEL_MIN_EXACT_ROWS))
    pieces = np.array_split(main_rows, parts)

    def score_all(share: list[NDArray[np.int64]]) -> list[NDArray[np.float32]]:
        return [scorer.score_rows(query, main.profiles, piece) for piece in share]

    scored = threads.run_shares(score_all, [[piece] for piece in pieces])
    phenotype[:split] = np.concatenate(scored) if scored else np.zeros(0, dtype=np.float32)
    if len(delta_rows):
        phenotype[split:] = scorer.score_rows(query, delta.profiles, delta_rows)
    return phenotype


def _by_segment(
    segments: tuple[Segment, Segment], offset: int, rows: NDArray[np.int64]
) -> tuple[tuple[Segment, NDArray[np.int64], int], tuple[Segment, NDArray[np.int64], int]]:
    """Sorted rows of the joint row space (main rows, then delta rows from ``offset``) as
    (segment, its own row numbers, where they start in ``rows``), main first."""
    main, delta = segments
    split = int(np.searchsorted(rows, offset))
    return (main, rows[:split], 0), (delta, rows[split:] - offset, split)

"""One search over a snapshot: the filters turned into rules, then the pruned ranking when the
scorer bounds its scores, otherwise every row scored; the best rows merged into hits."""

from __future__ import annotations

from collections.abc import Collection, Iterable

import numpy as np

from ontologies.case_index import threads
from ontologies.case_index.pruning import search_pruned
from ontologies.case_index.ranking import (
    BoundedPhenotypeScoring,
    Candidates,
    Chunk,
    Hit,
    PhenotypeScoring,
    Query,
    Rules,
    SearchStatistics,
    merge,
    rank_chunk,
    split,
)
from ontologies.case_index.storage import FLAG_SHAREABLE, FLAG_TEST, Snapshot


def search(
    snapshot: Snapshot,
    scorer: PhenotypeScoring[Query],
    query: Query,
    *,
    query_genes: Iterable[str],
    limit: int,
    min_score: float,
    require_shared_gene: bool,
    shareable_only: bool,
    include_test: bool,
    exclude_keys: Collection[int],
) -> tuple[list[Hit], SearchStatistics]:
    """``CaseIndex.search_with_statistics`` on one snapshot (see there)."""
    if limit < 0:
        raise ValueError(f"limit must not be negative, not {limit}")
    rows = len(snapshot.main) + len(snapshot.delta)
    if limit == 0 or snapshot.size == 0:
        return [], SearchStatistics(rows, 0, 0, 0, pruned=False)
    # A lookup table (one bool per gene code) rather than np.isin: one gather per code.
    query_genes = tuple(query_genes)
    query_genes_known = [g for g in query_genes if g in snapshot.gene_codes]
    wanted_genes = np.zeros(len(snapshot.gene_vocabulary), dtype=np.bool_)
    wanted_genes[[snapshot.gene_codes[g] for g in query_genes_known]] = True
    if require_shared_gene and not query_genes_known:
        return [], SearchStatistics(rows, 0, 0, 0, pruned=False)
    rules = Rules(
        wanted_genes=wanted_genes if query_genes_known else None,
        query_has_genes=bool(query_genes),
        required_flags=FLAG_SHAREABLE if shareable_only else 0,
        rejected_flags=0 if include_test else FLAG_TEST,
        require_shared_gene=require_shared_gene,
        # Compared with float32 scores as float32, the way the ranking compares them.
        floor=np.float32(max(min_score, 0.0)),
        limit=limit,
    )
    shares = split(snapshot, exclude_keys)
    if isinstance(scorer, BoundedPhenotypeScoring):
        pruned = search_pruned(scorer, query, snapshot, shares, rules)
        if pruned is not None:
            results, statistics = pruned
            return merge(results, limit, snapshot.gene_vocabulary, wanted_genes), statistics

    def rank_all(chunks: list[Chunk]) -> list[Candidates]:
        return [rank_chunk(scorer, query, chunk, rules) for chunk in chunks]

    results = threads.run_shares(rank_all, shares)
    statistics = SearchStatistics(
        rows=rows,
        eligible_rows=sum(result.eligible_rows for result in results),
        exact_rows=rows,
        rounds=0,
        pruned=False,
    )
    return merge(results, limit, snapshot.gene_vocabulary, wanted_genes), statistics

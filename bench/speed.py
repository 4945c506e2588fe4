"""Time ranking a synthetic index of N cases against 10-term queries, with the real scorer.

    .venv/bin/python bench/speed.py --cases 1000000 [--queries 60] [--seed 7]

Cases and queries are sampled the way real ones look: pick an annotated disease, draw 5-15 of
its HPO terms weighted by annotation frequency (a fifth of them generalised to a parent term),
0-3 excluded terms, and the disease's gene (80% of cases) plus 0-2 unrelated candidate genes.
Also times "weak" queries (10 unrelated terms, no gene: pruning helps least) and reports the
share of rows scored exactly. The last line printed is one JSON object (method, p50_ms, p95_ms,
exact_share_p50, weak_p50_ms, index_mb, load_s, add_ms, ...).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ontologies import csr
from ontologies.case_index import (
    DISEASE_PROFILE_WIDTH,
    FLAG_SHAREABLE,
    FLAG_TEST,
    CaseIndex,
    IndexedCase,
    ranking,
)
from ontologies.hpo import HpoSources, Ontology, load_ontology
from ontologies.similarity import DiseaseProfile, DiseaseProfiler, PhenotypeScorer, combine_scores

HPO_CACHE_DIR = Path(__file__).resolve().parents[1] / "var" / "hpo-cache"
# Annotations without a stated frequency count as "occasional to frequent".
_UNSTATED_FREQUENCY = 0.5
_GENERALISED_SHARE = 0.2

# Runs in a fresh process: import, then load the file (the OS page cache may be warm).
_CHILD = """
import json, sys, time
started = time.perf_counter()
from pathlib import Path
from ontologies.case_index import CaseIndex
imported = time.perf_counter()
index = CaseIndex.load(Path(sys.argv[1]))
loaded = time.perf_counter()
print(json.dumps({"import": imported - started, "load": loaded - imported, "cases": len(index)}))
"""


@dataclass(frozen=True, slots=True)
class SyntheticCases:
    """CSR arrays of sampled cases, in the shape build_from_arrays takes."""

    keys: NDArray[np.int64]
    observed_indptr: NDArray[np.int64]
    observed_terms: NDArray[np.int16]
    excluded_indptr: NDArray[np.int64]
    excluded_terms: NDArray[np.int16]
    gene_indptr: NDArray[np.int64]
    gene_codes: NDArray[np.int32]
    gene_vocabulary: tuple[str, ...]
    flags: NDArray[np.uint8]
    disease_rows: NDArray[np.int16]  # (cases, DISEASE_PROFILE_WIDTH), see disease_profiles
    disease_weights: NDArray[np.float32]
    disease_fits: NDArray[np.float32]

    def case(self, row: int) -> IndexedCase:
        def cells(indptr: NDArray[np.int64], values: NDArray[Any]) -> list[int]:
            return csr.row(indptr, values, row).tolist()  # type: ignore[no-any-return]

        return IndexedCase(
            key=int(self.keys[row]),
            observed=cells(self.observed_indptr, self.observed_terms),
            excluded=cells(self.excluded_indptr, self.excluded_terms),
            genes=[self.gene_vocabulary[code] for code in cells(self.gene_indptr, self.gene_codes)],
            shareable=bool(self.flags[row] & FLAG_SHAREABLE),
            is_test=bool(self.flags[row] & FLAG_TEST),
            disease_profile=DiseaseProfile(
                self.disease_rows[row].copy(),
                self.disease_weights[row].astype(np.float32),
                float(self.disease_fits[row]),
            ),
        )


def disease_profiles(
    profiler: DiseaseProfiler | None,
    indptr: NDArray[np.int64],
    terms: NDArray[np.int16],
    workers: int = os.cpu_count() or 1,
) -> tuple[NDArray[np.int16], NDArray[np.float32], NDArray[np.float32]]:
    """Every case's disease profile and fit, as the index stores them; in ``workers`` processes.

    About 0.1-0.2 ms a case once the term rows are cached; zeros without a profiler.
    """
    count = len(indptr) - 1
    shape = (count, DISEASE_PROFILE_WIDTH)
    if profiler is None or count == 0:
        return np.zeros(shape, np.int16), np.zeros(shape, np.float32), np.zeros(count, np.float32)
    _PROFILE_STATE.update(profiler=profiler, indptr=indptr, terms=terms)
    bounds = np.linspace(0, count, workers * 4 + 1).astype(np.int64)
    ranges = list(zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True))
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        parts = pool.map(_profile_range, ranges)
    rows = np.concatenate([part[0] for part in parts])
    weights = np.concatenate([part[1] for part in parts]).astype(np.float32)
    fits = np.concatenate([part[2] for part in parts]).astype(np.float32)
    return rows, weights, fits


# Set before the pool forks, then only read by the children.
_PROFILE_STATE: dict[str, Any] = {}


def _profile_range(
    bounds: tuple[int, int],
) -> tuple[NDArray[np.int16], NDArray[np.float32], NDArray[np.float32]]:
    profiler, indptr, terms = (_PROFILE_STATE[k] for k in ("profiler", "indptr", "terms"))
    start, stop = bounds
    phenotypes = [csr.row(indptr, terms, row).tolist() for row in range(start, stop)]
    return profiler.profiles(phenotypes)  # type: ignore[no-any-return]


def _fields(cases: SyntheticCases) -> dict[str, Any]:
    return {name: getattr(cases, name) for name in SyntheticCases.__slots__}


def sample_cases(
    ontology: Ontology,
    count: int,
    rng: np.random.Generator,
    *,
    observed_range: tuple[int, int] = (5, 15),
    excluded_range: tuple[int, int] = (0, 3),
    first_key: int = 1,
    profiler: DiseaseProfiler | None = None,
) -> SyntheticCases:
    """``count`` cases sampled from the disease annotations, vectorised (1M in a few seconds),
    with their disease profiles from ``profiler`` (all zero without one; ~1 min per 1M)."""
    annotation_indptr = ontology.disease_term_indptr.astype(np.int64)
    annotation_counts = np.diff(annotation_indptr)
    eligible = np.flatnonzero(annotation_counts >= observed_range[0])
    diseases = rng.choice(eligible, size=count)

    # Every annotation of every case's disease, then a weighted draw without replacement per case
    # with the Gumbel top-k trick: sort each case's annotations by log(weight) + Gumbel noise.
    offered = annotation_counts[diseases]
    offer_indptr = csr.indptr_from_lengths(offered, np.int64)
    offer_case = csr.row_ids(offer_indptr)
    offer_annotation = (
        np.arange(offer_indptr[-1])
        - offer_indptr[offer_case]
        + annotation_indptr[diseases][offer_case]
    )
    frequency = np.nan_to_num(
        ontology.disease_term_frequency[offer_annotation], nan=_UNSTATED_FREQUENCY
    )
    priority = np.log(np.maximum(frequency, 0.01)) + rng.gumbel(size=len(frequency))
    order = np.lexsort((-priority, offer_case))
    rank = np.arange(len(order)) - offer_indptr[offer_case[order]]
    wanted = rng.integers(observed_range[0], observed_range[1] + 1, size=count)
    kept = order[rank < wanted[offer_case[order]]]
    kept.sort()  # back into case order
    terms = ontology.disease_term_indices[offer_annotation[kept]].astype(np.int64)
    observed_lengths = np.bincount(offer_case[kept], minlength=count)

    # Clinicians often record a less specific term than the annotation: use a random parent.
    generalise = rng.random(len(terms)) < _GENERALISED_SHARE
    parent_counts = np.diff(ontology.parent_indptr)[terms]
    generalise &= parent_counts > 0
    choice = ontology.parent_indptr[terms] + (rng.random(len(terms)) * parent_counts).astype(
        np.int64
    )
    terms[generalise] = ontology.parent_indices[choice[generalise]]

    # Excluded terms: anything annotated to some disease (so plausible), uniformly.
    excluded_lengths = rng.integers(excluded_range[0], excluded_range[1] + 1, size=count)
    excluded_terms = rng.choice(ontology.disease_term_indices, size=int(excluded_lengths.sum()))

    # Genes: the disease's own gene for 80% of cases (when it has one), plus 0-2 other candidates.
    gene_ids = sorted(
        {f"NCBIGene:{entrez}" for genes in ontology.disease_genes.values() for entrez, _ in genes}
    )
    gene_code_of = {gene: code for code, gene in enumerate(gene_ids)}
    disease_gene = np.array(
        [
            gene_code_of[f"NCBIGene:{genes[0][0]}"] if genes else -1
            for genes in (ontology.disease_genes.get(d, ()) for d in ontology.disease_ids)
        ],
        dtype=np.int64,
    )[diseases]
    causal = (disease_gene >= 0) & (rng.random(count) < 0.8)
    others = rng.integers(0, 3, size=count)
    gene_lengths = causal.astype(np.int64) + others
    gene_indptr = csr.indptr_from_lengths(gene_lengths, np.int64)
    gene_codes = rng.integers(0, len(gene_ids), size=int(gene_indptr[-1]))
    gene_codes[gene_indptr[:-1][causal]] = disease_gene[causal]

    flags = np.where(rng.random(count) < 0.7, FLAG_SHAREABLE, 0) | np.where(
        rng.random(count) < 0.02, FLAG_TEST, 0
    )
    observed_indptr = csr.indptr_from_lengths(observed_lengths, np.int64)
    disease_rows, disease_weights, disease_fits = disease_profiles(
        profiler, observed_indptr, terms.astype(np.int16)
    )
    return SyntheticCases(
        keys=np.arange(first_key, first_key + count, dtype=np.int64),
        observed_indptr=observed_indptr,
        observed_terms=terms.astype(np.int16),
        excluded_indptr=csr.indptr_from_lengths(excluded_lengths, np.int64),
        excluded_terms=excluded_terms.astype(np.int16),
        gene_indptr=gene_indptr,
        gene_codes=gene_codes.astype(np.int32),
        gene_vocabulary=tuple(gene_ids),
        flags=flags.astype(np.uint8),
        disease_rows=disease_rows,
        disease_weights=disease_weights,
        disease_fits=disease_fits,
    )


def build_index(cases: SyntheticCases, hpo_release: str) -> CaseIndex:
    return CaseIndex.build_from_arrays(
        keys=cases.keys,
        observed_indptr=cases.observed_indptr,
        observed_terms=cases.observed_terms,
        excluded_indptr=cases.excluded_indptr,
        excluded_terms=cases.excluded_terms,
        gene_indptr=cases.gene_indptr,
        gene_codes=cases.gene_codes,
        gene_vocabulary=cases.gene_vocabulary,
        flags=cases.flags,
        disease_rows=cases.disease_rows,
        disease_weights=cases.disease_weights,
        disease_fits=cases.disease_fits,
        hpo_release=hpo_release,
    )


def _timed(function: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    result = function()
    return result, time.perf_counter() - started


def _percentile(values: list[float], percent: float) -> float:
    return float(np.percentile(np.array(values), percent))


def _score_in_blocks(scorer: PhenotypeScorer, query: Any, main: Any) -> NDArray[np.float32]:
    """Every row, in the blocks search hands the scorer."""
    block = ranking.SCORE_BLOCK_ROWS
    return np.concatenate(
        [
            scorer.score(query, main.profiles, start, min(start + block, len(main)))
            for start in range(0, len(main), block)
        ]
    )


def _breakdown(
    index: CaseIndex, scorer: PhenotypeScorer, queries: list[Any], query_genes: list[str]
) -> dict[str, float]:
    """Median ms per stage, each over all rows in ONE thread (search splits them over cores)."""
    snapshot = index._snapshot
    main = snapshot.main
    rows = len(main)
    stages: dict[str, list[float]] = {
        "score": [],
        "genotype": [],
        "combine": [],
        "topk": [],
    }
    vocabulary = snapshot.gene_codes
    for query, gene in zip(queries, query_genes, strict=True):
        phenotype, seconds = _timed(lambda query=query: _score_in_blocks(scorer, query, main))
        stages["score"].append(seconds)
        wanted = np.zeros(len(vocabulary), dtype=np.bool_)
        wanted[[vocabulary[gene]] if gene in vocabulary else []] = True
        genotype, seconds = _timed(
            lambda wanted=wanted: ranking.genotype_scores(main, 0, rows, wanted)
        )
        stages["genotype"].append(seconds)
        patient, seconds = _timed(
            lambda phenotype=phenotype, genotype=genotype: combine_scores(phenotype, genotype)
        )
        stages["combine"].append(seconds)
        _, seconds = _timed(
            lambda patient=patient: ranking.best_rows(
                np.where(snapshot.main_alive, patient, np.float32(-1)), main.keys, True, 0.0, 50
            )
        )
        stages["topk"].append(seconds)
    return {
        f"{name}_1thread_ms": round(statistics.median(values) * 1000, 2)
        for name, values in stages.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=60)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--method", help="PhenotypeScorer method (default: its default)")
    arguments = parser.parse_args()
    rng = np.random.default_rng(arguments.seed)

    ontology = load_ontology(HpoSources.bundled(), cache_dir=HPO_CACHE_DIR)
    options = {"method": arguments.method} if arguments.method else {}
    scorer, scorer_s = _timed(lambda: PhenotypeScorer(ontology, **options))
    profiler = scorer.disease_profiler
    cases, sample_s = _timed(
        lambda: sample_cases(ontology, arguments.cases, rng, profiler=profiler)
    )
    print(
        f"{arguments.cases} cases sampled (with disease profiles) in {sample_s:.1f} s: "
        f"{len(cases.observed_terms) / arguments.cases:.1f} observed, "
        f"{len(cases.excluded_terms) / arguments.cases:.1f} excluded, "
        f"{len(cases.gene_codes) / arguments.cases:.1f} genes per case; scorer built in "
        f"{scorer_s:.2f} s"
    )

    index, build_arrays_s = _timed(lambda: build_index(cases, ontology.release))
    # The same rows with their keys in descending order: build_from_arrays must sort them.
    reversed_keys = SyntheticCases(**{**_fields(cases), "keys": cases.keys[::-1].copy()})
    _, build_unsorted_s = _timed(lambda: build_index(reversed_keys, ontology.release))
    iterable_count = min(arguments.cases, 200_000)
    _, build_iterable_s = _timed(
        lambda: CaseIndex.build(
            (cases.case(row) for row in range(iterable_count)), hpo_release=ontology.release
        )
    )
    # Scaled to the full size; includes making the IndexedCase objects from the arrays.
    build_iterable_s *= arguments.cases / iterable_count
    print(
        f"build_from_arrays: {build_arrays_s:.2f} s ({build_unsorted_s:.2f} s from rows not "
        f"sorted by key); build from IndexedCase objects: "
        f"{build_iterable_s:.1f} s (extrapolated from {iterable_count} cases)"
    )

    query_cases = sample_cases(
        ontology, arguments.queries, rng, observed_range=(10, 10), excluded_range=(0, 0)
    )
    query_rows = [query_cases.case(row) for row in range(arguments.queries)]
    query_genes = [case.genes[0] if case.genes else "" for case in query_rows]
    prepared = [scorer.prepare(case.observed) for case in query_rows]

    # Warm up (first-use pool start, page faults), then time prepare + search per query.
    index.search(scorer, prepared[0], query_genes=[query_genes[0]])
    latencies = []
    prepare_times = []
    exact_shares = []
    for case, gene in zip(query_rows, query_genes, strict=True):
        started = time.perf_counter()
        query = scorer.prepare(case.observed)
        prepared_at = time.perf_counter()
        hits, work = index.search_with_statistics(scorer, query, query_genes=[gene], limit=50)
        finished = time.perf_counter()
        assert len(hits) == min(50, arguments.cases)
        prepare_times.append(prepared_at - started)
        latencies.append(finished - started)
        exact_shares.append(work.exact_rows / work.rows)
    # Weak queries, where pruning helps least: 10 unrelated annotated terms and no gene, so the
    # 50th best score is low and no shared gene lifts a few cases above the rest.
    annotated = np.unique(ontology.disease_term_indices)
    weak_latencies = []
    weak_shares = []
    for _ in range(arguments.queries):
        observed = rng.choice(annotated, size=10, replace=False).tolist()
        started = time.perf_counter()
        hits, work = index.search_with_statistics(scorer, scorer.prepare(observed), limit=50)
        weak_latencies.append(time.perf_counter() - started)
        weak_shares.append(work.exact_rows / work.rows)
    filtered = []
    for query, gene in zip(prepared, query_genes, strict=True):
        started = time.perf_counter()
        index.search(
            scorer, query, query_genes=[gene], shareable_only=True, include_test=False,
            min_score=0.1, exclude_keys={1, 2, 3},
        )  # fmt: skip
        filtered.append(time.perf_counter() - started)
    print(
        f"search (prepare + rank, top 50) over {arguments.queries} queries: "
        f"p50 {_percentile(latencies, 50) * 1000:.1f} ms, p95 {_percentile(latencies, 95) * 1000:.1f} ms "
        f"(prepare p50 {_percentile(prepare_times, 50) * 1000:.2f} ms); with every filter on: "
        f"p50 {_percentile(filtered, 50) * 1000:.1f} ms"
    )
    print(
        f"rows scored exactly (the rest pruned by their upper bound): typical median "
        f"{statistics.median(exact_shares):.3%} (max {max(exact_shares):.3%}); weak queries "
        f"(10 unrelated terms, no gene) p50 {_percentile(weak_latencies, 50) * 1000:.1f} ms, "
        f"p95 {_percentile(weak_latencies, 95) * 1000:.1f} ms, scored exactly median "
        f"{statistics.median(weak_shares):.3%} (max {max(weak_shares):.3%})"
    )
    breakdown = _breakdown(index, scorer, prepared[:20], query_genes[:20])
    print(f"stages over all rows, one thread, median ms (full scoring, no pruning): {breakdown}")

    # Upserts: 50 new cases and 50 replacements of existing ones, timed one at a time.
    # Adding a case includes computing its disease profile, as the node does on every save.
    fresh = sample_cases(ontology, 100, rng, first_key=arguments.cases + 1)
    upserts = [fresh.case(row) for row in range(50)]
    upserts += [
        IndexedCase(
            key=int(cases.keys[row]),
            observed=fresh.case(50 + position).observed,
            genes=fresh.case(50 + position).genes,
            shareable=True,
        )
        for position, row in enumerate(rng.choice(arguments.cases, size=50, replace=False))
    ]
    add_times = []
    for case in upserts:

        def add(case: IndexedCase = case) -> None:
            profile = profiler.profile(case.observed) if profiler is not None else None
            index.upsert(dataclasses.replace(case, disease_profile=profile))

        add_times.append(_timed(add)[1])
    remove_times = [
        _timed(lambda key=key: index.remove(key))[1] for key in range(1, min(arguments.cases, 50))
    ]
    searches_with_delta = [
        _timed(lambda query=query: index.search(scorer, query))[1] for query in prepared[:20]
    ]
    _, compact_s = _timed(index.compact)
    print(
        f"upsert median {statistics.median(add_times) * 1000:.3f} ms (max "
        f"{max(add_times) * 1000:.2f}); remove median {statistics.median(remove_times) * 1000:.3f} ms; "
        f"search with {len(upserts)} delta rows p50 "
        f"{statistics.median(searches_with_delta) * 1000:.1f} ms; compact {compact_s:.2f} s"
    )

    with tempfile.TemporaryDirectory(prefix="case-index-bench-") as temporary:
        path = Path(temporary) / "cases.npz"
        _, save_s = _timed(lambda: index.save(path))
        children = []
        for _ in range(3):
            completed = subprocess.run(  # noqa: S603 - our own interpreter and a constant script
                [sys.executable, "-c", _CHILD, str(path)],
                capture_output=True,
                text=True,
                check=True,
            )
            children.append(json.loads(completed.stdout))
        file_mb = path.stat().st_size / 1e6
    load_s = statistics.median(child["load"] for child in children)
    import_s = statistics.median(child["import"] for child in children)
    print(
        f"save {save_s:.2f} s ({file_mb:.0f} MB file); cold load in a fresh process, median of 3: "
        f"{load_s:.3f} s (+ {import_s:.3f} s of imports)"
    )
    index_mb = index.memory_bytes() / 1e6
    print(f"index arrays: {index_mb:.1f} MB")
    print(
        json.dumps(
            {
                "method": scorer.method,
                "cases": arguments.cases,
                "queries": arguments.queries,
                "p50_ms": round(_percentile(latencies, 50) * 1000, 1),
                "p95_ms": round(_percentile(latencies, 95) * 1000, 1),
                "filtered_p50_ms": round(_percentile(filtered, 50) * 1000, 1),
                "prepare_p50_ms": round(_percentile(prepare_times, 50) * 1000, 2),
                "exact_share_p50": round(statistics.median(exact_shares), 5),
                "exact_share_max": round(max(exact_shares), 5),
                "weak_p50_ms": round(_percentile(weak_latencies, 50) * 1000, 1),
                "weak_p95_ms": round(_percentile(weak_latencies, 95) * 1000, 1),
                "weak_exact_share_p50": round(statistics.median(weak_shares), 5),
                "weak_exact_share_max": round(max(weak_shares), 5),
                **breakdown,
                "index_mb": round(index_mb, 1),
                "file_mb": round(file_mb, 1),
                "load_s": round(load_s, 3),
                "build_arrays_s": round(build_arrays_s, 2),
                "build_arrays_unsorted_s": round(build_unsorted_s, 2),
                "build_iterable_s": round(build_iterable_s, 1),
                "add_ms": round(statistics.median(add_times) * 1000, 3),
                "add_max_ms": round(max(add_times) * 1000, 2),
                "compact_s": round(compact_s, 2),
            }
        )
    )


if __name__ == "__main__":
    main()

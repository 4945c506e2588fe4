"""Time Beacon /individuals counts with three HPO filters (with descendants) over N cases.

    .venv/bin/python bench/beacon.py --cases 1000000 [--queries 100] [--seed 7] [--http]

The cases are bench/speed.py's synthetic ones (sampled from the disease annotations, 70%
shareable, 2% test) held in a `CaseIndex`, exactly as a web process holds the node's cases. Each
query takes three observed terms of a random case and widens each to a random ancestor (so the
descendant closure matters), then counts what `/beacon/individuals` counts: the filters' term
masks and excluded-term mask (`matchmaker.beacon.selectors`) and `CaseIndex.select`, shareable
and not test. Checks each count against a brute-force count over the arrays for the first
queries. With --http, the same queries are also POSTed to /beacon/individuals through Django's
test client (a throwaway database, a registered count client, the index saved and loaded the way
a web process loads it): the whole answer, with authentication, parsing, the index freshness
check and the audit row. The last line printed is one JSON object (cases, p50_ms, p95_ms, ...).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "matchmaker.settings")
import django

django.setup()

from bench.speed import HPO_CACHE_DIR, build_index, sample_cases  # noqa: E402
from matchmaker.beacon.protocol import TermFilter  # noqa: E402
from matchmaker.beacon.selectors import excluded_mask, term_mask  # noqa: E402
from ontologies.case_index import FLAG_SHAREABLE, FLAG_TEST  # noqa: E402
from ontologies.hpo import HpoSources, load_ontology  # noqa: E402

_BRUTE_FORCE_CHECKS = 3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--http", action="store_true", help="also time POST /beacon/individuals")
    arguments = parser.parse_args()
    rng = np.random.default_rng(arguments.seed)
    ontology = load_ontology(HpoSources.bundled(), cache_dir=HPO_CACHE_DIR)
    started = time.perf_counter()
    cases = sample_cases(ontology, arguments.cases, rng)
    index = build_index(cases, ontology.release)
    print(f"{arguments.cases} cases sampled and indexed in {time.perf_counter() - started:.1f} s")

    timings, counts, queries = [], [], []
    for query_number in range(arguments.queries):
        row = int(rng.integers(len(cases.keys)))
        terms = cases.observed_terms[cases.observed_indptr[row] : cases.observed_indptr[row + 1]]
        chosen = rng.choice(terms, size=min(3, len(terms)), replace=False)
        filters = []
        for term in chosen.tolist():
            ancestors = ontology.ancestor_indices[
                ontology.ancestor_indptr[term] : ontology.ancestor_indptr[term + 1]
            ]
            ancestors = ancestors[ontology.depth[ancestors] >= 3]
            widened = int(rng.choice(ancestors)) if len(ancestors) else term
            filters.append(TermFilter(ontology.term_ids[widened]))
        began = time.perf_counter()
        keys = index.select(
            term_filters=[term_mask(term, ontology=ontology) for term in filters],
            excluded_terms=excluded_mask(filters, ontology=ontology),
            required_flags=FLAG_SHAREABLE,
            rejected_flags=FLAG_TEST,
        )
        timings.append((time.perf_counter() - began) * 1000)
        counts.append(len(keys))
        queries.append(filters)
        if query_number < _BRUTE_FORCE_CHECKS:
            assert len(keys) == _brute_force(cases, ontology, filters), filters

    timings.sort()
    result = {
        "cases": arguments.cases,
        "queries": arguments.queries,
        "filters": 3,
        "p50_ms": round(statistics.median(timings), 1),
        "p95_ms": round(timings[int(0.95 * (len(timings) - 1))], 1),
        "max_ms": round(timings[-1], 1),
        "median_count": int(statistics.median(counts)),
    }
    if arguments.http:
        http = _time_http(index, queries, counts)
        result.update(http_p50_ms=round(statistics.median(http), 1))
        result.update(http_p95_ms=round(http[int(0.95 * (len(http) - 1))], 1))
    print(json.dumps(result))


def _time_http(index: Any, queries: list[list[TermFilter]], counts: list[int]) -> list[float]:
    """POST each query to /beacon/individuals; the sorted latencies in ms."""
    import tempfile

    from django.conf import settings
    from django.db import connection
    from django.test import Client
    from django.test.utils import setup_test_environment

    from matchmaker.beacon.services import add_beacon_client
    from matchmaker.matching.index import forget_case_index, get_case_index, save_case_index
    from matchmaker.reference.ontology import get_phenotype_scorer

    setup_test_environment()
    connection.creation.create_test_db(verbosity=0, autoclobber=True)
    settings.BEACON_RATE_LIMIT_PER_MINUTE = 1_000_000
    settings.BEACON_MIN_COUNT = 1
    token = secrets.token_hex(20)
    add_beacon_client("bench", token=token, granularity="count")
    profiler = get_phenotype_scorer().disease_profiler
    index.metadata["disease_profiler"] = profiler.fingerprint if profiler else None
    with tempfile.TemporaryDirectory() as folder:
        settings.CASE_INDEX_PATH = Path(folder) / "case-index.npz"
        save_case_index(index, 0, settings.CASE_INDEX_PATH)
        forget_case_index()
        assert len(get_case_index()) == len(index)  # loaded from the file, not rebuilt
    client = Client()
    timings = []
    for filters, expected in zip(queries, counts, strict=True):
        body = {
            "meta": {"apiVersion": "v2.0"},
            "query": {
                "filters": [{"id": term.hpo_id} for term in filters],
                "requestedGranularity": "count",
            },
        }
        began = time.perf_counter()
        response = client.post(
            "/beacon/individuals",
            data=json.dumps(body),
            content_type="application/json",
            headers={"Authorization": f"Bearer {token}"},
        )
        timings.append((time.perf_counter() - began) * 1000)
        assert response.status_code == 200, response.content
        assert response.json()["responseSummary"]["numTotalResults"] == expected
    return sorted(timings)


def _brute_force(cases: object, ontology: object, filters: list[TermFilter]) -> int:
    """The same count, case by case, from the arrays and the ontology's id sets."""
    wanted = [ontology.descendants(term.hpo_id) for term in filters]  # type: ignore[attr-defined]
    ruled_out = set().union(*(ontology.ancestors(term.hpo_id) for term in filters))  # type: ignore[attr-defined]
    ids = ontology.term_ids  # type: ignore[attr-defined]
    count = 0
    for row in range(len(cases.keys)):  # type: ignore[attr-defined]
        flags = int(cases.flags[row])  # type: ignore[attr-defined]
        if not flags & FLAG_SHAREABLE or flags & FLAG_TEST:
            continue
        start, stop = cases.observed_indptr[row], cases.observed_indptr[row + 1]  # type: ignore[attr-defined]
        observed = {ids[t] for t in cases.observed_terms[start:stop].tolist()}  # type: ignore[attr-defined]
        start, stop = cases.excluded_indptr[row], cases.excluded_indptr[row + 1]  # type: ignore[attr-defined]
        excluded = {ids[t] for t in cases.excluded_terms[start:stop].tolist()}  # type: ignore[attr-defined]
        if all(observed & terms for terms in wanted) and not excluded & ruled_out:
            count += 1
    return count


if __name__ == "__main__":
    main()

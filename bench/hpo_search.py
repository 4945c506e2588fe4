"""How well and how fast the HPO term search finds what clinicians type.

    .venv/bin/python bench/hpo_search.py [--cache-dir DIR] [--show-misses]

Reads tests/fixtures/hpo_search_queries.tsv (typed query, intended term), runs each query
through ``Ontology.search`` on the bundled release, and prints hit@1 (the intended term is the
first offer) and hit@3 (among the first three, what the picker shows without scrolling), then
the time to build the search index and per-query latencies.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from ontologies.hpo import HpoSources, Ontology, load_ontology

QUERIES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "hpo_search_queries.tsv"


def read_queries(path: Path = QUERIES) -> list[tuple[str, str]]:
    """(typed query, intended HPO id) pairs; lines starting with # are comments."""
    pairs = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            query, hpo_id, *_ = line.split("\t")
            pairs.append((query, hpo_id))
    return pairs


def hit_rates(ontology: Ontology, pairs: list[tuple[str, str]]) -> tuple[float, float, list[str]]:
    """hit@1 and hit@3 (0..1), and a line per query whose intended term is not first."""
    first = top3 = 0
    misses = []
    for query, hpo_id in pairs:
        offered = [match.hpo_id for match in ontology.search(query, limit=3)]
        first += offered[:1] == [hpo_id]
        top3 += hpo_id in offered
        if offered[:1] != [hpo_id]:
            labels = ", ".join(ontology.label(offer) for offer in offered) or "nothing"
            misses.append(f"{query!r}: wanted {ontology.label(hpo_id)}, got {labels}")
    return first / len(pairs), top3 / len(pairs), misses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache-dir", type=Path, help="default: a fresh temporary directory")
    parser.add_argument("--show-misses", action="store_true")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hpo-bench-") as temporary:
        ontology = load_ontology(
            HpoSources.bundled(), cache_dir=arguments.cache_dir or Path(temporary)
        )
        started = time.perf_counter()
        ontology.search("seiz")
        print(f"search index build (first query): {time.perf_counter() - started:.3f} s")
        pairs = read_queries()
        at_1, at_3, misses = hit_rates(ontology, pairs)
        print(f"{len(pairs)} queries: hit@1 {at_1:.1%}, hit@3 {at_3:.1%}")
        if arguments.show_misses:
            print("\n".join(f"  not first: {miss}" for miss in misses))
        for query in (
            "seiz",
            "a",
            "ia",
            "microcefaly",
            "intelectual disability",
            "abnormality of the",
        ):
            times = []
            for _ in range(20):
                started = time.perf_counter()
                ontology.search(query, limit=15)
                times.append(time.perf_counter() - started)
            print(
                f"  {query!r}: median {statistics.median(times) * 1000:.2f} ms, max {max(times) * 1000:.2f} ms"
            )


if __name__ == "__main__":
    main()

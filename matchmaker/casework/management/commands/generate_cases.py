from __future__ import annotations

import time
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from matchmaker.cases.models import Case
from matchmaker.casework.management.commands._importing import (
    add_ownership_arguments,
    ownership_from_options,
)
from matchmaker.casework.services.synthetic import generate_synthetic_cases
from matchmaker.reference.ontology import get_gene_catalogue, get_hpo

SYNTHETIC_INSTITUTION = "Synthetic demo cases"


class Command(BaseCommand):
    help = (
        "Generate N synthetic cases from the HPO disease annotations (never from real patients), "
        "for demos and benchmarks. Fast enough for N = 1,000,000."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("count", type=int)
        parser.add_argument("--seed", type=int, default=0, help="random seed (labels include it)")
        add_ownership_arguments(parser, default_institution=SYNTHETIC_INSTITUTION)
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="do nothing when the institution already has cases (for start-up scripts)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        count = options["count"]
        if count < 1:
            raise CommandError("count: must be at least 1")
        ownership = ownership_from_options(options, source=Case.Source.SYNTHETIC)
        institution = ownership.institution
        if not (institution.contact_email or institution.contact_url):
            # Synthetic cases carry no contact of their own; without one for their institution
            # nobody could be reached about them, and MME answers leave such cases out.
            institution.contact_name = institution.contact_name or institution.name
            institution.contact_email = "synthetic-cases@example.org"
            institution.save(update_fields=["contact_name", "contact_email"])
        if options["if_empty"] and Case.objects.filter(institution=ownership.institution).exists():
            self.stdout.write(f"{ownership.institution.name} already has cases; nothing generated.")
            return
        label_prefix = "SYN"
        if Case.objects.filter(
            institution=ownership.institution,
            label__startswith=f"{label_prefix}-{options['seed']}-",
        ).exists():
            raise CommandError(
                f"--seed: cases generated with seed {options['seed']} already exist in "
                f"{ownership.institution.name}; choose another seed"
            )
        started = time.perf_counter()
        ontology, genes = get_hpo(), get_gene_catalogue()

        def progress(done: int) -> None:
            if options["verbosity"] >= 1 and (done % 100_000 == 0 or done == count):
                rate = done / (time.perf_counter() - started)
                self.stdout.write(f"  {done:,} cases ({rate:,.0f}/s)")

        inserted = generate_synthetic_cases(
            count,
            ontology=ontology,
            genes=genes,
            ownership=ownership,
            seed=options["seed"],
            label_prefix=label_prefix,
            progress=progress,
        )
        elapsed = time.perf_counter() - started
        self.stdout.write(
            self.style.SUCCESS(
                f"Generated {inserted:,} synthetic cases in {ownership.institution.name} "
                f"in {elapsed:.1f} s."
            )
        )

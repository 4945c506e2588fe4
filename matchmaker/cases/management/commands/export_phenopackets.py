from __future__ import annotations

import contextlib
import gzip
import json
import sys
from argparse import ArgumentParser
from pathlib import Path
from typing import IO, Any

from django.core.management.base import BaseCommand, CommandError
from django.db.models import QuerySet

from matchmaker.cases.models import Case
from matchmaker.cases.selectors import (
    DOCUMENT_FORMATS,
    case_document,
    iterate_cases_with_details,
)
from matchmaker.reference.ontology import get_hpo
from ontologies.hpo import Ontology


class Command(BaseCommand):
    help = (
        "Export cases as GA4GH Phenopacket v2 (default) or MME patient JSON, one document per "
        "line (JSON-lines; gzipped when OUTPUT ends in .gz; '-' for standard output)."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("output", help="file to write (.jsonl or .jsonl.gz), or - for stdout")
        parser.add_argument("--institution", help="only the cases of this institution")
        parser.add_argument("--public-id", action="append", default=[], help="only these cases")
        parser.add_argument("--format", choices=DOCUMENT_FORMATS, default="phenopacket")
        parser.add_argument(
            "--include-withdrawn", action="store_true", help="also export withdrawn cases"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        cases = Case.objects.select_related("institution").order_by("id")
        if options["institution"]:
            cases = cases.filter(institution__name=options["institution"])
        if options["public_id"]:
            cases = cases.filter(public_id__in=options["public_id"])
            missing = set(options["public_id"]) - set(cases.values_list("public_id", flat=True))
            if missing:
                raise CommandError(f"--public-id: no case {', '.join(sorted(missing))}")
        if not options["include_withdrawn"]:
            cases = cases.filter(status=Case.Status.ACTIVE)
        ontology = get_hpo()
        output = options["output"]
        with contextlib.ExitStack() as stack:
            stream: IO[str] = sys.stdout
            if output.endswith(".gz"):
                stream = stack.enter_context(gzip.open(Path(output), "wt", encoding="utf-8"))
            elif output != "-":
                stream = stack.enter_context(Path(output).open("w", encoding="utf-8"))
            count = self._write(cases, stream, options["format"], ontology)
        self.stderr.write(self.style.SUCCESS(f"Exported {count} cases to {output}"))

    def _write(
        self, cases: QuerySet[Case], stream: IO[str], format_name: str, ontology: Ontology
    ) -> int:
        count = 0
        for case in iterate_cases_with_details(cases):
            try:
                document = case_document(case, fmt=format_name, ontology=ontology)
            except ValueError as error:
                # e.g. MME requires a contact, which an institution without contact details lacks.
                self.stderr.write(f"skipped {case.public_id}: {error}")
                continue
            stream.write(json.dumps(document, ensure_ascii=False) + "\n")
            count += 1
        return count

"""What the import commands share: ownership options, and the printed report."""

from __future__ import annotations

import re
import time
from argparse import ArgumentParser
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from matchmaker.cases.interchange import parse_documents, read_documents
from matchmaker.cases.records import CaseRecord
from matchmaker.cases.services import ensure_institution
from matchmaker.casework.services import CaseOwnership, import_case_records

DEFAULT_INSTITUTION = "Local institution"


def add_ownership_arguments(
    parser: ArgumentParser, *, default_institution: str = DEFAULT_INSTITUTION
) -> None:
    """--institution, --owner and --consented: who new cases belong to and their consent."""
    parser.add_argument(
        "--institution",
        default=default_institution,
        help=f"institution that owns the cases (created if missing; default {default_institution!r})",
    )
    parser.add_argument("--owner", help="username of the clinician who owns the cases")
    parser.add_argument(
        "--consented",
        action="store_true",
        help="record consent to external matching for every case (consent collected elsewhere)",
    )


def ownership_from_options(options: Mapping[str, Any], *, source: str) -> CaseOwnership:
    owner = None
    if options.get("owner"):
        try:
            owner = get_user_model().objects.get(username=options["owner"])
        except get_user_model().DoesNotExist:
            raise CommandError(f"--owner: no user {options['owner']!r}") from None
    return CaseOwnership(
        institution=ensure_institution(options["institution"]),
        owner=owner,
        source=source,
        consented=bool(options.get("consented")),
        consent_note="bulk import: consent collected outside the node"
        if options.get("consented")
        else "",
    )


def run_import(
    command: BaseCommand,
    path: Path,
    parse: Callable[[Mapping[str, Any]], CaseRecord],
    *,
    ownership: CaseOwnership,
    verbosity: int,
    drop_unknown_terms: bool = False,
) -> None:
    """Read every document under `path`, import each all-or-nothing, and print the report."""
    if not path.exists():
        raise CommandError(f"{path}: no such file or folder")

    started = time.perf_counter()
    report = import_case_records(
        parse_documents(read_documents(path), parse),
        ownership=ownership,
        drop_unknown_terms=drop_unknown_terms,
    )
    elapsed = time.perf_counter() - started
    for origin, reason in report.rejected:
        command.stderr.write(f"rejected {origin}: {reason}")
    if verbosity >= 2:
        for origin, note in report.notes:
            command.stdout.write(f"note {origin}: {note}")
    # Group notes by their wording with ids blanked out: "HP:0025826 is not a term ..." and
    # "HP:5210141 is not a term ..." are one kind of note.
    notes_by_kind: dict[str, int] = {}
    for _, note in report.notes:
        kind = re.sub(r"\S*\d\S*", "…", note)
        notes_by_kind[kind] = notes_by_kind.get(kind, 0) + 1
    command.stdout.write(
        command.style.SUCCESS(
            f"Imported {report.imported} of {report.seen} documents into "
            f"{ownership.institution.name} in {elapsed:.1f} s; rejected {len(report.rejected)}."
        )
    )
    for kind, count in sorted(notes_by_kind.items(), key=lambda item: -item[1])[:10]:
        command.stdout.write(f"  {count} notes: {kind}")
    if report.notes and verbosity < 2:
        command.stdout.write("  (run with -v 2 to list every note)")
    if report.rejected and not report.imported:
        raise CommandError("no document was imported")


class ImportCommand(BaseCommand):
    """Base of the import commands; a subclass names its parser and its case source."""

    source: str
    format_name: str

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("path", type=Path, help="a JSON file, a folder, or JSON-lines (.gz ok)")
        add_ownership_arguments(parser)
        parser.add_argument(
            "--drop-unknown-terms",
            action="store_true",
            help="leave out (with a note) HPO terms that the loaded release does not have, e.g. "
            "terms from a newer release, instead of rejecting the document",
        )

    def parse(self, document: Mapping[str, Any]) -> CaseRecord:
        raise NotImplementedError

    def handle(self, *args: Any, **options: Any) -> None:
        run_import(
            self,
            options["path"],
            self.parse,
            ownership=ownership_from_options(options, source=self.source),
            verbosity=options["verbosity"],
            drop_unknown_terms=options["drop_unknown_terms"],
        )

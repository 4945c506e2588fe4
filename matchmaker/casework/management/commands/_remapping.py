"""What the remap commands share: `--dry-run` and `--no-rematch`."""

from __future__ import annotations

from argparse import ArgumentParser

from django.core.management.base import BaseCommand


class RemapCommand(BaseCommand):
    """Base of `remap_case_terms` and `remap_case_genes`: both rewrite stored identifiers onto a
    newer reference release, and may be previewed or left without re-matching."""

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="report what would change; change nothing"
        )
        parser.add_argument(
            "--no-rematch",
            action="store_true",
            help="do not queue the changed cases for matching (e.g. `match --all` follows)",
        )

"""`manage.py remap_case_genes`: resolve the genes stored as submitted, after `load_genes`
(the work is `matchmaker.casework.services.remap.remap_case_genes`)."""

from __future__ import annotations

from typing import Any

from matchmaker.casework.management.commands._remapping import RemapCommand
from matchmaker.casework.services.remap import GeneRemapReport, remap_case_genes
from matchmaker.reference.ontology import get_gene_catalogue


class Command(RemapCommand):
    help = (
        "After `load_genes` loaded a newer gene catalogue: resolve the genes that cases keep "
        "as submitted because an older catalogue did not know them (a newly approved symbol), "
        "queue the changed cases for matching, and report what is still unknown."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        report = remap_case_genes(
            get_gene_catalogue(), dry_run=options["dry_run"], rematch=not options["no_rematch"]
        )
        self._print(report, dry_run=options["dry_run"], rematch=not options["no_rematch"])

    def _print(self, report: GeneRemapReport, *, dry_run: bool, rematch: bool) -> None:
        would = "would be " if dry_run else ""
        self.stdout.write(f"Gene catalogue: {report.catalogue}.")
        if not report.resolved and not report.still_unknown:
            self.stdout.write("Every stored gene is a gene of this catalogue: nothing to remap.")
        if report.resolved:
            self.stdout.write("Resolved:")
            for old, (gene_id, symbol, count) in sorted(report.resolved.items()):
                self.stdout.write(f"  {old} -> {gene_id} ({symbol}): {count} {would}rewritten")
        if report.still_unknown:
            self.stdout.write(
                self.style.WARNING(
                    f"Still unknown to this catalogue, kept as submitted "
                    f"({len(report.still_unknown)}); they match only the same gene written the "
                    "same way:"
                )
            )
            for public_id, gene_id in sorted(report.still_unknown):
                self.stdout.write(f"  {public_id}: {gene_id}")
        changed = len(report.changed_case_ids)
        self.stdout.write(
            f"{changed} cases {would}changed (logged for every process's index"
            f"{' and queued for matching' if rematch and not dry_run else ''})."
        )
        if dry_run:
            self.stdout.write("Dry run: nothing was changed.")

"""`manage.py remap_case_terms`: bring the stored cases to the HPO release loaded by `load_hpo`
(the work is `matchmaker.casework.services.remap.remap_case_terms`)."""

from __future__ import annotations

from typing import Any

from matchmaker.casework.management.commands._remapping import RemapCommand
from matchmaker.casework.services.remap import RemapReport, remap_case_terms
from matchmaker.reference.ontology import get_hpo
from ontologies.hpo import Ontology


class Command(RemapCommand):
    help = (
        "After `load_hpo` loaded a new HPO release: rewrite the stored HPO ids of cases that "
        "became alternative or obsolete ids to their current terms (the submitted id is kept), "
        "queue the changed cases for matching, and report what was changed and what a curator "
        "must look at (obsolete terms without a single replacement are left as they are)."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        ontology = get_hpo()
        report = remap_case_terms(
            ontology, dry_run=options["dry_run"], rematch=not options["no_rematch"]
        )
        self._print(report, ontology, dry_run=options["dry_run"], rematch=not options["no_rematch"])

    def _print(
        self, report: RemapReport, ontology: Ontology, *, dry_run: bool, rematch: bool
    ) -> None:
        would = "would be " if dry_run else ""
        self.stdout.write(f"HPO release {report.release}.")
        if not report.remapped and not report.not_remapped:
            self.stdout.write("Every stored HPO id is a current term: nothing to remap.")
        for place, changes in report.remapped.items():
            self.stdout.write(f"Remapped ({place}):")
            for old, (target, count) in sorted(changes.items()):
                label = ontology.label(target)
                self.stdout.write(f"  {old} -> {target} ({label}): {count} {would}rewritten")
        if report.merged:
            self.stdout.write(
                f"Merged into the same term the case already had ({len(report.merged)}):"
            )
            for public_id, old, target in report.merged:
                self.stdout.write(f"  {public_id}: {old} -> {target}")
        if report.not_remapped:
            self.stdout.write(
                self.style.WARNING(
                    f"Not remapped, left as they are ({len(report.not_remapped)}); the index "
                    "ignores these terms until a curator edits the case:"
                )
            )
            for public_id, hpo_id, reason in sorted(report.not_remapped):
                self.stdout.write(f"  {public_id}: {hpo_id}: {reason}")
        changed = len(report.changed_case_ids)
        self.stdout.write(
            f"{changed} cases {would}changed (logged for every process's index"
            f"{' and queued for matching' if rematch and not dry_run else ''}); "
            f"{report.cases_on_release} cases "
            f"{would}recorded as validated against {report.release}."
        )
        if dry_run:
            self.stdout.write("Dry run: nothing was changed.")

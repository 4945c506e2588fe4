from __future__ import annotations

import time
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from matchmaker.cases.models import Case
from matchmaker.matching.services import find_matches


class Command(BaseCommand):
    help = "Rank the local cases against one case and print each match with its explanation."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("public_id")
        parser.add_argument("--limit", type=int, default=None, help="default MATCHING_MAX_RESULTS")
        parser.add_argument("--min-score", type=float, default=None)
        parser.add_argument(
            "--require-shared-gene", action="store_true", help="only cases sharing a gene"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        case = (
            Case.objects.filter(public_id=options["public_id"].strip().upper())
            .prefetch_related("features", "genomic_features")
            .first()
        )
        if case is None:
            raise CommandError(f"no case with public id {options['public_id']!r}")
        started = time.perf_counter()
        results = find_matches(
            case,
            limit=options["limit"],
            min_score=options["min_score"],
            require_shared_gene=options["require_shared_gene"] or None,
        )
        elapsed = (time.perf_counter() - started) * 1000
        self.stdout.write(
            f"{case.public_id} ({case.label}): {len(results)} matches in {elapsed:.0f} ms"
        )
        for rank, result in enumerate(results, start=1):
            other = result.case
            self.stdout.write(
                self.style.SUCCESS(
                    f"\n{rank:>3}. {other.public_id} ({other.label}, {other.institution.name})  "
                    f"score {result.score:.3f}  phenotype {result.phenotype_score:.3f}  "
                    f"genotype {result.genotype_score:.3f}"
                )
            )
            for line in describe_explanation(result.explanation):
                self.stdout.write(f"       {line}")


def describe_explanation(explanation: dict[str, Any]) -> list[str]:
    """The explanation of a match as short lines for a terminal."""
    lines = []
    for gene in explanation.get("genes", []):
        lines.append(f"gene {gene['gene_symbol']}: {gene['note']}")
    for pair in explanation.get("term_matches", []):
        if pair.get("case_term"):
            lines.append(
                f"{pair['query_term']} {pair['query_label']} ~ {pair['case_term']} "
                f"{pair['case_label']} via {pair['common_ancestor']} {pair['common_ancestor_label']}"
                f" (IC {pair['information_content']:.2f})"
            )
    for conflict in explanation.get("conflicts", []):
        lines.append(f"conflict: {conflict.get('description', conflict)}")
    return lines

from __future__ import annotations

import time
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from matchmaker.cases.models import Case
from matchmaker.casework.models import Match
from matchmaker.casework.services.matches import run_matching
from matchmaker.casework.services.rescoring import (
    cases_to_rematch,
    rescore_stale_matches,
    stale_matches,
)
from matchmaker.matching.services import bridge_share_percent, find_matches, scoring_basis


class Command(BaseCommand):
    help = (
        "Rank the local cases against one case and print each match with its explanation; or, "
        "with --all, re-match every active case now and record the matches; with --stale, "
        "score again the matches scored by an earlier scoring method or HPO release."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("public_id", nargs="?")
        parser.add_argument(
            "--all",
            action="store_true",
            help="run matching for every active case in this process and record new matches",
        )
        parser.add_argument(
            "--stale",
            action="store_true",
            help="score again, now, every current match scored by an earlier scoring method or "
            "HPO release (beat does it in the background, a few minutes every ten)",
        )
        parser.add_argument(
            "--if-no-matches",
            action="store_true",
            help="with --all: do nothing when matches are already recorded (for start-up scripts)",
        )
        parser.add_argument("--limit", type=int, default=None, help="default MATCHING_MAX_RESULTS")
        parser.add_argument("--min-score", type=float, default=None)
        parser.add_argument(
            "--require-shared-gene", action="store_true", help="only cases sharing a gene"
        )
        parser.add_argument(
            "--peers",
            action="store_true",
            help="search every enabled peer for this case now, print each peer's status and "
            "results, and record them (the case must be consented and active)",
        )
        parser.add_argument(
            "--no-notify",
            action="store_true",
            help="with --all or --stale: record new matches without e-mailing their owners",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["stale"]:
            self._rescore_stale(notify=not options["no_notify"])
            return
        if options["all"]:
            if options["if_no_matches"] and Match.objects.exists():
                self.stdout.write("Matches are already recorded; nothing to do.")
                return
            self._match_all(notify=not options["no_notify"])
            return
        if not options["public_id"]:
            raise CommandError("give a case's public id, or --all")
        case = (
            Case.objects.filter(public_id=options["public_id"].strip().upper())
            .prefetch_related("features", "genomic_features")
            .first()
        )
        if case is None:
            raise CommandError(f"no case with public id {options['public_id']!r}")
        if options["peers"]:
            self._search_peers(case)
            return
        started = time.perf_counter()
        results = find_matches(
            case,
            limit=options["limit"],
            min_score=options["min_score"],
            require_shared_gene=options["require_shared_gene"] or None,
        )
        elapsed = (time.perf_counter() - started) * 1000
        self.stdout.write(f"{case.public_id}: {len(results)} matches in {elapsed:.0f} ms")
        for rank, result in enumerate(results, start=1):
            other = result.case
            self.stdout.write(
                self.style.SUCCESS(
                    f"\n{rank:>3}. {other.public_id} ({other.institution.name})  "
                    f"score {result.score:.3f}  phenotype {result.phenotype_score:.3f}  "
                    f"genotype {result.genotype_score:.3f}"
                )
            )
            for line in describe_explanation(result.explanation):
                self.stdout.write(f"       {line}")

    def _search_peers(self, case: Case) -> None:
        from matchmaker.casework.services import outbound

        if not outbound.is_shared(case):
            raise CommandError(
                f"{case.public_id} is not shared with peers (withdrawn, or no consent recorded)"
            )
        if not outbound.searchable_peers():
            raise CommandError("no enabled peer with a base URL and an outbound token")
        started = time.perf_counter()
        outcomes = outbound.search_peers_now(case)
        elapsed = time.perf_counter() - started
        self.stdout.write(f"{case.public_id} searched at {len(outcomes)} peers in {elapsed:.1f} s")
        for outcome in outcomes:
            if outcome.status == "answered":
                line = f"{outcome.peer_name}: answered, {outcome.result_count} results"
                self.stdout.write(self.style.SUCCESS(line))
            else:
                self.stdout.write(
                    self.style.WARNING(f"{outcome.peer_name}: {outcome.status}: {outcome.detail}")
                )
        for match in (
            Match.objects.filter(
                case=case, direction=Match.Direction.OUTGOING, removed_at__isnull=True
            )
            .select_related("peer")
            .order_by("peer__name", "-score")
        ):
            contact = match.remote_patient.get("contact") or {}
            peer_name = match.peer.name if match.peer is not None else "?"  # outgoing: never None
            self.stdout.write(
                f"  {peer_name}  {match.remote_patient_id}  score {match.score:.3f}"
                f"  contact {contact.get('name', '?')} {contact.get('email') or contact.get('href', '')}"
            )
            for line in describe_explanation(match.explanation):
                self.stdout.write(f"       {line}")

    def _rescore_stale(self, *, notify: bool) -> None:
        stale, cases = stale_matches().count(), cases_to_rematch().count()
        if not stale and not cases:
            self.stdout.write(f"Every current match is scored with {scoring_basis()}.")
            return
        self.stdout.write(
            f"{stale:,} matches to score again and {cases:,} cases to match again "
            f"with {scoring_basis()}."
        )
        started = time.perf_counter()
        outcome = rescore_stale_matches(notify=notify)
        elapsed = time.perf_counter() - started
        self.stdout.write(
            self.style.SUCCESS(
                f"Scored again the matches of {outcome.cases:,} "
                f"case{'' if outcome.cases == 1 else 's'} in {elapsed:.1f} s; "
                f"{outcome.new_matches:,} new matches recorded."
            )
        )
        if outcome.remaining or outcome.cases_remaining:
            self.stdout.write(
                self.style.WARNING(
                    f"{outcome.remaining:,} matches could not be scored again (their case is no "
                    "longer active, or the peer's patient can no longer be read); "
                    f"{outcome.cases_remaining:,} cases are still to match again."
                )
            )

    def _match_all(self, *, notify: bool) -> None:
        started = time.perf_counter()
        case_ids = list(
            Case.objects.filter(status=Case.Status.ACTIVE)
            .order_by("id")
            .values_list("id", flat=True)
        )
        new = 0
        for done, case_id in enumerate(case_ids, start=1):
            new += run_matching(case_id, notify=notify)
            if done % 1000 == 0:
                self.stdout.write(f"  {done:,} of {len(case_ids):,} cases matched")
        elapsed = time.perf_counter() - started
        self.stdout.write(
            self.style.SUCCESS(
                f"Matched {len(case_ids):,} cases in {elapsed:.1f} s; {new:,} new matches recorded."
            )
        )


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
    share = bridge_share_percent(explanation)
    if share is not None:
        lines.append(f"disease bridge: {share}% of the phenotype score")
    for disease in explanation.get("shared_diseases", [])[:3]:
        lines.append(
            f"both resemble {disease['disease_id']} {disease['disease_name']}"
            f" (bridge {disease['contribution']:.2f})"
        )
    closer = explanation.get("closer_disease")
    if isinstance(closer, dict):
        whose = "this case" if closer.get("patient") == "this" else "the matched case"
        lines.append(
            f"lowered by {closer['lowered_by']:.2f}: {whose} resembles "
            f"{closer['disease_id']} {closer['disease_name']} more closely"
            f" ({closer['patient_fit']:.2f} against {closer['query_fit']:.2f})"
        )
    return lines

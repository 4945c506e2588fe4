"""Re-scoring the matches whose scores came from an earlier scoring method or HPO release.

Every score the node computes is stored with its basis (`Match.scored_with`: the scoring method
and HPO release, `matching.services.scoring_basis`). After an upgrade that changes the method, or
a `load_hpo` followed by a restart, the stored scores no longer mean what new ones do: a match
list would rank old and new scores side by side. This module finds those matches and scores
them again: a local match by re-matching its case (which may also find new matches and drop
ones no longer found, as any re-match does; `Case.matched_with` records the basis of a case's
last matching), an incoming match from the peer's patient as stored.
Outgoing matches are the peer's scores and are not ours to redo.

Beat runs `rescore_stale_matches` every ten minutes with a time budget, so a large node catches
up in the background; `manage.py match --stale` does it all at once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.db.models import Q, QuerySet

from matchmaker.cases.models import Case
from matchmaker.casework.models import Match
from matchmaker.casework.services.matches import run_matching
from matchmaker.casework.services.refresh import rescore_incoming_matches
from matchmaker.matching.services import scoring_basis

# The directions whose scores this node computed (outgoing scores are the peer's).
_OUR_SCORES = [Match.Direction.LOCAL, Match.Direction.INCOMING]


def stale_matches() -> QuerySet[Match]:
    """Current matches scored by this node with another scoring basis than this process's."""
    return Match.objects.filter(direction__in=_OUR_SCORES, removed_at__isnull=True).exclude(
        scored_with=scoring_basis()
    )


def is_stale(match: Match) -> bool:
    """Whether `stale_matches()` holds this match (read from the row, no query)."""
    return (
        match.direction in _OUR_SCORES
        and match.removed_at is None
        and match.scored_with != scoring_basis()
    )


@dataclass(frozen=True, slots=True)
class RescoreOutcome:
    cases: int  # cases re-matched, or whose incoming matches were scored again
    new_matches: int  # local matches the re-match found that were not recorded before
    remaining: int  # stale matches left (time budget spent, or a case that could not be redone)
    cases_remaining: int  # cases still to match again (time budget spent)


def cases_to_rematch() -> QuerySet[Case]:
    """Active cases whose last local matching used an earlier scoring basis, and those owning a
    stale local match. Cases never matched (`matched_with` "") are not among them."""
    stale_local = stale_matches().filter(direction=Match.Direction.LOCAL).values("case_id")
    return Case.objects.filter(status=Case.Status.ACTIVE).filter(
        (Q(matched_with__gt="") & ~Q(matched_with=scoring_basis())) | Q(pk__in=stale_local)
    )


def rescore_stale_matches(
    *, notify: bool = True, time_budget_s: float | None = None
) -> RescoreOutcome:
    """Match again the cases matched with an earlier scoring basis, and score again the
    incoming matches scored with one; case by case, oldest case first.

    A case is matched again even when another case's re-match has already re-scored its copy of
    their pair: its own search under the current scoring may find other cases. A case never
    matched is left alone (`match --all` matches every case).

    Each case is redone in its own transaction, so an interrupted run loses nothing and the
    next one carries on. With `time_budget_s` no new case is started once it is spent (the first
    always is, so every sweep makes progress). New local matches found on the way are e-mailed
    to their owners if `notify`.
    """
    started = time.monotonic()
    rematch_ids = set(cases_to_rematch().values_list("id", flat=True))
    incoming_case_ids = set(
        stale_matches().filter(direction=Match.Direction.INCOMING).values_list("case_id", flat=True)
    )
    cases = new_matches = 0
    for case_id in sorted(rematch_ids | incoming_case_ids):
        if cases and time_budget_s is not None and time.monotonic() - started > time_budget_s:
            break
        if case_id in rematch_ids:
            new_matches += run_matching(case_id, notify=notify)
        if case_id in incoming_case_ids:
            case = Case.objects.filter(pk=case_id).first()
            if case is not None:
                rescore_incoming_matches(case)
        cases += 1
    return RescoreOutcome(
        cases=cases,
        new_matches=new_matches,
        remaining=stale_matches().count(),
        cases_remaining=cases_to_rematch().count(),
    )

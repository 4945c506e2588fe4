"""Re-scoring the matches whose scores came from an earlier scoring method or HPO release.

Every score the node computes is stored with its basis (`Match.scored_with`: the scoring method
and HPO release, `matching.services.scoring_basis`). After an upgrade that changes the method, or
a `load_hpo` followed by a restart, the stored scores no longer mean what new ones do: a match
list would rank old and new scores side by side. This module finds those matches and scores
them again: a local match by re-matching its case (which may also find new matches and drop
ones no longer found, as any re-match does), an incoming match from the peer's patient as stored.
Outgoing matches are the peer's scores and are not ours to redo.

Beat runs `rescore_stale_matches` every ten minutes with a time budget, so a large node catches
up in the background; `manage.py match --stale` does it all at once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.db.models import QuerySet

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
    cases: int  # cases whose matches were scored again
    new_matches: int  # local matches the re-match found that were not recorded before
    remaining: int  # stale matches left (time budget spent, or a case that could not be redone)


def rescore_stale_matches(
    *, notify: bool = True, time_budget_s: float | None = None
) -> RescoreOutcome:
    """Score every stale match again, case by case, oldest case first.

    Each case is redone at most once per call, in its own transaction, so an interrupted run
    loses nothing and the next one carries on. With `time_budget_s` no new case is started once
    it is spent (the first case always is, so every sweep makes progress). New local matches found on the way are e-mailed to their owners if `notify`.
    """
    started = time.monotonic()
    stale = stale_matches()
    local_case_ids = set(
        stale.filter(direction=Match.Direction.LOCAL).values_list("case_id", flat=True)
    )
    incoming_case_ids = set(
        stale.filter(direction=Match.Direction.INCOMING).values_list("case_id", flat=True)
    )
    cases = new_matches = 0
    for case_id in sorted(local_case_ids | incoming_case_ids):
        if cases and time_budget_s is not None and time.monotonic() - started > time_budget_s:
            break
        # Re-matching one case also re-scores the other owner's copy of each pair, so the
        # other case may have nothing stale left by the time it comes up.
        if (
            case_id in local_case_ids
            and stale.filter(direction=Match.Direction.LOCAL, case_id=case_id).exists()
        ):
            new_matches += run_matching(case_id, notify=notify)
        if case_id in incoming_case_ids:
            case = Case.objects.filter(pk=case_id).first()
            if case is not None:
                rescore_incoming_matches(case)
        cases += 1
    return RescoreOutcome(cases=cases, new_matches=new_matches, remaining=stale_matches().count())

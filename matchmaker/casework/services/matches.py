"""Local matches: recording what the engine finds for both owners, triage, and queueing.

The engine (`matchmaker.matching.services`) ranks and explains; this module stores its answers
as `Match` rows, keeps them current, and queues the work that follows a change.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import IntegrityError, models, transaction
from django.utils import timezone
from kombu.exceptions import OperationalError as KombuOperationalError

from matchmaker.cases.models import Case
from matchmaker.casework import tasks
from matchmaker.casework.models import Match, MatchEvent
from matchmaker.lib.api import warn_degraded
from matchmaker.lib.errors import FieldValidationError
from matchmaker.lib.transactions import after_commit
from matchmaker.matching.index import record_index_change
from matchmaker.matching.services import (
    SCORE_OUT_OF_DATE,
    explain_profiles,
    find_matches,
    query_of_case,
    scored_by_the_other_side,
    scoring_basis,
)

if TYPE_CHECKING:
    from django.contrib.auth.models import User

logger = logging.getLogger(__name__)


def mark_local_scores_out_of_date(case_id: int) -> None:
    """Flag the current local matches of an edited case until its re-match (queued) rewrites them.

    Both sides' copies: their scores and explanations were computed from the case as it was.
    `run_matching` replaces the explanation, which drops the flag.
    """
    matches = Match.objects.filter(
        models.Q(case_id=case_id) | models.Q(matched_case_id=case_id),
        direction=Match.Direction.LOCAL,
        removed_at__isnull=True,
    ).only("pk", "explanation")
    for match in matches:
        explanation = dict(match.explanation) if isinstance(match.explanation, dict) else {}
        explanation[SCORE_OUT_OF_DATE] = True
        Match.objects.filter(pk=match.pk).update(explanation=explanation)


@transaction.atomic
def run_matching(case_id: int, *, notify: bool = True) -> int:
    """Match one case against the local cases and record the matches for both owners.

    Idempotent: running it again updates scores and `last_seen` instead of adding rows. A match
    that neither this case's search nor the other case's last search finds is marked removed
    (kept for the record); one the other case's search found stays current. A pair's scores are
    those of the last search that found it. Returns the number of new matches. Withdrawn or
    deleted cases are not matched. New matches are e-mailed to both owners after commit (test
    cases never are); without `notify` they are recorded as told.
    """
    case = (
        Case.objects.filter(pk=case_id, status=Case.Status.ACTIVE)
        .prefetch_related("features", "genomic_features")
        .first()
    )
    if case is None:
        return 0
    now = timezone.now()
    results = find_matches(case, include_test=case.is_test)
    basis = scoring_basis()
    Case.objects.filter(pk=case.pk).update(matched_with=basis)
    found_ids = {result.case.pk for result in results}
    existing = {
        (match.case_id, match.matched_case_id): match
        for match in Match.objects.filter(direction=Match.Direction.LOCAL).filter(
            case_id__in=[case.pk, *found_ids], matched_case_id__in=[case.pk, *found_ids]
        )
    }
    new_ids: list[int] = []
    for result in results:
        # Each owner reads the explanation from their own case's side: "my term X met their Y";
        # the found case's copy holds this search's score, which result.explanation explains.
        reverse_explanation = scored_by_the_other_side(
            _explanation_from_other_side(result.case, case), result.explanation
        )
        for owner_case, other_case, explanation, found_flag in (
            (case.pk, result.case.pk, result.explanation, "found_by_owner"),
            (result.case.pk, case.pk, reverse_explanation, "found_by_other"),
        ):
            match = existing.get((owner_case, other_case))
            values = {
                "score": result.score,
                "phenotype_score": result.phenotype_score,
                "genotype_score": result.genotype_score,
                "explanation": explanation,
                "scored_with": basis,
                "last_seen": now,
                "removed_at": None,
                found_flag: True,
            }
            if match is None:
                created_id = _create_local_match(
                    owner_case,
                    other_case,
                    notified_at=None if notify and not case.is_test else now,
                    values=values,
                )
                if created_id is not None:
                    new_ids.append(created_id)
            else:
                Match.objects.filter(pk=match.pk).update(**values)
    # This case's search no longer holds these pairs; those the other case's search does not
    # hold either are removed, on both sides. (A pair only the other case's search found stays:
    # its owner keeps the match until that search drops it.)
    local = Match.objects.filter(direction=Match.Direction.LOCAL)
    local.filter(case_id=case.pk).exclude(matched_case_id__in=found_ids).update(
        found_by_owner=False
    )
    local.filter(matched_case_id=case.pk).exclude(case_id__in=found_ids).update(
        found_by_other=False
    )
    local.filter(
        models.Q(case_id=case.pk) | models.Q(matched_case_id=case.pk),
        removed_at__isnull=True,
        found_by_owner=False,
        found_by_other=False,
    ).update(removed_at=now)
    if new_ids and notify and not case.is_test:
        queue_notifications(new_ids)
    return len(new_ids)


def queue_searches_that_found(case_id: int) -> None:
    """Queue the re-match of every case whose own search found this one (after an edit or a
    reactivation: whether those searches still find it is theirs to say, not this case's)."""
    queue_matching(
        Match.objects.filter(
            direction=Match.Direction.LOCAL, matched_case_id=case_id, found_by_owner=True
        )
        .order_by("case_id")
        .values_list("case_id", flat=True)
    )


def remove_matches_of_case(case_id: int) -> int:
    """Mark every current match of a case removed, on both sides, at once (a withdrawal).

    Our owner's copies (local, incoming, outgoing) and the other owners' local matches to it;
    a reactivation re-matches the case, which clears `removed_at` of those found again.
    Returns how many matches were marked.
    """
    return Match.objects.filter(
        models.Q(case_id=case_id) | models.Q(matched_case_id=case_id), removed_at__isnull=True
    ).update(removed_at=timezone.now())


def _create_local_match(
    owner_case: int, other_case: int, *, notified_at: Any, values: dict[str, Any]
) -> int | None:
    """Insert the pair's match and return its id; or, when a concurrent run of the other case
    inserted the pair first (it matched this case at the same moment), update that row and
    return None: the match is not new."""
    try:
        with transaction.atomic():  # a savepoint: the failed insert must not end the transaction
            return Match.objects.create(
                case_id=owner_case,
                matched_case_id=other_case,
                direction=Match.Direction.LOCAL,
                notified_at=notified_at,
                **values,
            ).pk
    except IntegrityError:
        Match.objects.filter(case_id=owner_case, matched_case_id=other_case).update(**values)
        return None


def _explanation_from_other_side(owner: Case, other: Case) -> dict[str, Any]:
    return explain_profiles(query_of_case(owner), query_of_case(other))


def note_case_changed(
    first_case_id: int, last_case_id: int | None = None, *, rematch: bool
) -> None:
    """Tell matching that cases changed: log it for every process's index, and re-match if asked.

    Call inside the transaction that changes the cases. Matching is queued only after commit, so
    a worker never sees a row that is not committed yet.
    """
    record_index_change(first_case_id, last_case_id)
    if rematch:
        last = first_case_id if last_case_id is None else last_case_id
        queue_matching(range(first_case_id, last + 1))


def queue_matching(case_ids: Iterable[int]) -> None:
    """Match each case against the local cases, in a task queued after the transaction commits.

    With the broker (Redis) down, the cases are matched in this process instead: the save has
    been committed and must get its matches, at the cost of the caller's time.
    """
    after_commit(_send_matching_tasks, list(case_ids))


def _send_matching_tasks(case_ids: list[int]) -> None:
    for position, case_id in enumerate(case_ids):
        try:
            tasks.run_matching.delay(case_id)
        except KombuOperationalError as error:
            warn_degraded(
                logger, "broker unreachable, cases matched in the request instead: %r", error
            )
            for unsent_case_id in case_ids[position:]:
                run_matching(unsent_case_id)
            return


def queue_notifications(match_ids: list[int]) -> None:
    """E-mail the owners of new matches, in a task queued after the transaction commits.

    With the broker down nothing is lost: `notify_pending_matches` (beat) sends them later.
    """
    after_commit(_send_notification_task, list(match_ids))


def _send_notification_task(match_ids: list[int]) -> None:
    try:
        tasks.notify_new_matches.delay(match_ids)
    except KombuOperationalError as error:
        warn_degraded(
            logger, "broker unreachable, new-match e-mails left to the periodic sweep: %r", error
        )


MAX_NOTES_LENGTH = 10_000


@transaction.atomic
def triage_match(match: Match, *, status: str, notes: str, by: User | None) -> MatchEvent | None:
    """Set a match's triage status and notes, appending the step to its history.

    Returns the new history entry, or None when nothing changed. Raises `FieldValidationError`
    naming `status` or `notes` for a value the match cannot take (nothing is changed then).
    """
    errors = []
    if status not in Match.Status.values:
        errors.append(
            ("status", f"must be one of {', '.join(Match.Status.values)}, not {status!r}")
        )
    if len(notes) > MAX_NOTES_LENGTH:
        errors.append(("notes", f"is longer than {MAX_NOTES_LENGTH} characters"))
    if errors:
        raise FieldValidationError(errors)
    # Lock the row: two clinicians triaging at once must each see the other's step in the history.
    current = Match.objects.select_for_update().get(pk=match.pk)
    if current.status == status and current.notes == notes:
        return None
    event = MatchEvent.objects.create(
        match=current, by=by, from_status=current.status, to_status=status, notes=notes
    )
    Match.objects.filter(pk=match.pk).update(status=status, notes=notes)
    match.status, match.notes = status, notes
    return event


@transaction.atomic
def record_contact(match: Match, *, contacted: str, message: str, by: User | None) -> MatchEvent:
    """Log that `by` contacted the other team about `match` (at `contacted`, with `message`),
    and set the match's status to Contacted; the notes stay as they were."""
    current = Match.objects.select_for_update().get(pk=match.pk)
    event = MatchEvent.objects.create(
        match=current,
        by=by,
        from_status=current.status,
        to_status=Match.Status.CONTACTED,
        notes=current.notes,
        contacted=contacted[:512],
        message=message,
    )
    Match.objects.filter(pk=match.pk).update(status=Match.Status.CONTACTED)
    match.status = Match.Status.CONTACTED
    return event


def purge_removed_matches(*, now: datetime.datetime | None = None) -> int:
    """Delete matches removed more than MATCH_RETENTION_DAYS ago (the retention job's part);
    returns how many. They hold a copy of a patient its owner has stopped sharing."""
    days = settings.MATCH_RETENTION_DAYS
    if days <= 0:
        return 0
    cutoff = (now or timezone.now()) - datetime.timedelta(days=days)
    deleted = Match.objects.filter(removed_at__lt=cutoff).delete()[1]
    return deleted.get(Match._meta.label, 0)

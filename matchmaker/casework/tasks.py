"""Celery adapters for the casework services: take ids, call one service, own the retries.

Each task keeps the name it had before the apps were layered (`matchmaker.matching.tasks...`,
`matchmaker.federation.tasks...`), so tasks queued by a node before an upgrade still run after it.
The services are imported inside each task: they queue these tasks, and a task module imported at
their top would make the two import each other.
"""

from __future__ import annotations

from typing import Any

from celery import Task, shared_task
from django.conf import settings
from django.db import OperationalError

# A PostgreSQL restart or failover must not drop the work (bench/faults.sh lost incoming matches
# with 5 jittered retries, all spent within a 19 s restart): waits of 2, 4, 8... seconds, at most
# 5 minutes, without jitter (which can make every wait near zero): about 18 minutes in all.
_DATABASE_RETRIES: dict[str, Any] = {
    "autoretry_for": (OperationalError,),
    "retry_backoff": 2,
    "retry_backoff_max": 300,
    "retry_jitter": False,
    "max_retries": 10,
}


@shared_task(
    name="matchmaker.matching.tasks.run_matching",
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    retry_backoff_max=300,
    max_retries=5,
    acks_late=True,
)
def run_matching(case_id: int) -> int:
    """Match a case against the local cases and record new matches (idempotent)."""
    from matchmaker.casework.services import matches

    return matches.run_matching(case_id)


@shared_task(
    name="matchmaker.matching.tasks.notify_new_matches",
    autoretry_for=(OperationalError, OSError),  # OSError: the mail server did not answer
    retry_backoff=True,
    retry_backoff_max=600,
    max_retries=8,
    acks_late=True,
)
def notify_new_matches(match_ids: list[int]) -> int:
    """E-mail the owners of new matches, once per match (idempotent)."""
    from matchmaker.casework.services import notifications

    return notifications.notify_new_matches(match_ids)


# One sweep runs at a time; it stops taking new cases after this many seconds, so it leaves the
# default queue's worker to new cases and peers' matches most of each ten-minute beat period.
RESCORE_TIME_BUDGET_S = 240


@shared_task(name="matchmaker.casework.tasks.rescore_stale_matches", acks_late=True)
def rescore_stale_matches() -> int:
    """Periodic sweep: score again the matches scored by an earlier method or HPO release."""
    from django.core.cache import cache

    from matchmaker.casework.services import rescoring

    lock = "casework:rescore-stale-matches"
    if not cache.add(lock, 1, timeout=RESCORE_TIME_BUDGET_S + 300):
        return 0  # the previous sweep is still at work
    try:
        return rescoring.rescore_stale_matches(time_budget_s=RESCORE_TIME_BUDGET_S).cases
    finally:
        cache.delete(lock)


@shared_task(name="matchmaker.matching.tasks.notify_pending_matches", acks_late=True)
def notify_pending_matches() -> int:
    """Periodic sweep: e-mail new matches whose notification could not be queued."""
    from matchmaker.casework.services import notifications

    return notifications.notify_pending_matches()


@shared_task(name="matchmaker.federation.tasks.search_peers", acks_late=True, **_DATABASE_RETRIES)
def search_peers(case_id: int, generation: int) -> int:
    """Fan out: one `query_peer` task per peer, unless a newer request superseded this one."""
    from matchmaker.casework.services import outbound

    peer_ids = outbound.start_peer_search(case_id, generation)
    for peer_id in peer_ids:
        # Peer queries wait on the network: a queue of their own lets a thread-pool worker take
        # many at once (deploy/), so one hanging peer never holds up the others.
        query_peer.apply_async(
            (case_id, peer_id, generation), queue=settings.FEDERATION_QUEUE or None
        )
    return len(peer_ids)


@shared_task(name="matchmaker.federation.tasks.query_peer", bind=True, acks_late=True)
def query_peer(self: Task, case_id: int, peer_id: int, generation: int) -> str | None:
    """Ask one peer; transient failures retry with exponential backoff, 4xx and bad answers not."""
    from matchmaker.casework.services import outbound

    # In-process (eager) tasks cannot wait between attempts: one attempt, then the error shows.
    final_attempt = self.request.is_eager or self.request.retries >= settings.FEDERATION_MAX_RETRIES
    try:
        outcome = outbound.query_peer(case_id, peer_id, generation, final_attempt=final_attempt)
    except outbound.RetryableSearchError as error:
        backoff = settings.FEDERATION_RETRY_BACKOFF_SECONDS * 2**self.request.retries
        countdown = min(max(backoff, error.retry_after or 0), settings.FEDERATION_RETRY_BACKOFF_MAX)
        raise self.retry(
            countdown=countdown, max_retries=settings.FEDERATION_MAX_RETRIES
        ) from error
    return outcome.status if outcome else None


@shared_task(name="matchmaker.federation.tasks.requeue_stalled_searches", acks_late=True)
def requeue_stalled_searches() -> int:
    """Periodic: ask again where a peer query's task was lost (the search still says waiting)."""
    from matchmaker.casework.services import outbound

    return outbound.requeue_stalled_searches()


@shared_task(name="matchmaker.federation.tasks.research_due_cases", acks_late=True)
def research_due_cases() -> int:
    """Periodic: search the peers again for shared cases not searched for a while."""
    from matchmaker.casework.services import outbound

    return outbound.research_due_cases()


@shared_task(
    name="matchmaker.federation.tasks.record_incoming_matches",
    acks_late=True,
    **_DATABASE_RETRIES,
)
def record_incoming_matches(
    peer_id: int, patient: dict[str, Any], scored: list[list[Any]], scored_with: str = ""
) -> int:
    """After answering a peer: record the incoming matches, explain them, e-mail the owners.

    `scored_with` defaults to "" (unknown) for tasks queued before a release that passes it.
    """
    from matchmaker.casework.services import inbound

    return len(inbound.record_incoming_matches(peer_id, patient, scored, scored_with=scored_with))

"""Celery adapters for the federation services."""

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


@shared_task(acks_late=True)
def purge_expired_query_payloads() -> int:
    """Clear peers' queries kept past MME_QUERY_RETENTION_DAYS (idempotent)."""
    from matchmaker.federation import services  # local imports break the tasks/services cycle

    return services.purge_expired_query_payloads()


@shared_task(acks_late=True, **_DATABASE_RETRIES)
def search_peers(case_id: int, generation: int) -> int:
    """Fan out: one `query_peer` task per peer, unless a newer request superseded this one."""
    from matchmaker.federation.services import outbound

    peer_ids = outbound.start_peer_search(case_id, generation)
    for peer_id in peer_ids:
        # Peer queries wait on the network: a queue of their own lets a thread-pool worker take
        # many at once (deploy/), so one hanging peer never holds up the others.
        query_peer.apply_async(
            (case_id, peer_id, generation), queue=settings.FEDERATION_QUEUE or None
        )
    return len(peer_ids)


@shared_task(bind=True, acks_late=True)
def query_peer(self: Task, case_id: int, peer_id: int, generation: int) -> str | None:
    """Ask one peer; transient failures retry with exponential backoff, 4xx and bad answers not."""
    from matchmaker.federation.services import outbound

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


@shared_task(acks_late=True)
def requeue_stalled_searches() -> int:
    """Periodic: ask again where a peer query's task was lost (the search still says waiting)."""
    from matchmaker.federation.services import outbound

    return outbound.requeue_stalled_searches()


@shared_task(acks_late=True)
def research_due_cases() -> int:
    """Periodic: search the peers again for shared cases not searched for a while."""
    from matchmaker.federation.services import outbound

    return outbound.research_due_cases()


@shared_task(acks_late=True, **_DATABASE_RETRIES)
def record_incoming_matches(peer_id: int, patient: dict[str, Any], scored: list[list[Any]]) -> int:
    """After answering a peer: record the incoming matches, explain them, e-mail the owners."""
    from matchmaker.federation.services import inbound

    return len(inbound.record_incoming_matches(peer_id, patient, scored))

"""Celery adapters for the matching services: take ids, call one service, own the retries."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError


@shared_task(
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    retry_backoff_max=300,
    max_retries=5,
    acks_late=True,
)
def run_matching(case_id: int) -> int:
    """Match a case against the local cases and record new matches (idempotent)."""
    from matchmaker.matching import services  # the one allowed local import: breaks the cycle

    return services.run_matching(case_id)


@shared_task(
    autoretry_for=(OperationalError, OSError),  # OSError: the mail server did not answer
    retry_backoff=True,
    retry_backoff_max=600,
    max_retries=8,
    acks_late=True,
)
def notify_new_matches(match_ids: list[int]) -> int:
    """E-mail the owners of new matches, once per match (idempotent)."""
    from matchmaker.matching import notifications  # the one allowed local import

    return notifications.notify_new_matches(match_ids)


@shared_task(acks_late=True)
def notify_pending_matches() -> int:
    """Periodic sweep: e-mail new matches whose notification could not be queued."""
    from matchmaker.matching import notifications  # the one allowed local import

    return notifications.notify_pending_matches()

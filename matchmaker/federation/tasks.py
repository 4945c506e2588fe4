"""Celery adapters for the federation services (the peer searches are casework's: casework/tasks.py)."""

from __future__ import annotations

from celery import shared_task


@shared_task(acks_late=True)
def purge_expired_query_payloads() -> int:
    """Clear peers' queries kept past MME_QUERY_RETENTION_DAYS (idempotent)."""
    from matchmaker.federation import services  # local imports break the tasks/services cycle

    return services.purge_expired_query_payloads()

"""Celery adapters for the security package's periodic jobs."""

from __future__ import annotations

from celery import shared_task


@shared_task(acks_late=True)
def apply_retention_policy() -> dict[str, int]:
    """Daily: forget what the retention settings say (idempotent)."""
    from matchmaker.security import retention  # local import: the tasks/services convention

    report = retention.apply_retention_policy()
    return {
        "payloads_cleared": report.payloads_cleared,
        "audit_rows_deleted": report.audit_rows_deleted,
        "matches_deleted": report.matches_deleted,
    }

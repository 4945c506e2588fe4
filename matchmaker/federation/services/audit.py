"""The audit log of requests across the node's boundary, and its retention.

The log is append-only: rows are written by `log_request` and never edited, except by the two
operations below that remove personal data (clearing expired payloads, erasing a deleted case),
and deleted only by the retention job once AUDIT_LOG_RETENTION_DAYS have passed. On PostgreSQL a
trigger (migration 0003) refuses anything else, whoever asks.
"""

from __future__ import annotations

import datetime
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from matchmaker.federation.models import MmeRequestLog, Peer


def log_request(
    *,
    direction: str,
    peer: Peer | None,
    endpoint: str,
    method: str,
    status_code: int | None,
    latency_ms: float,
    api_version: str = "",
    result_count: int | None = None,
    is_test: bool = False,
    remote_address: str | None = None,
    error: str = "",
    query_payload: Any = None,
    matched: bool = False,
    returned_case_ids: list[str] | None = None,
    ignored_identifiers: list[str] | None = None,
) -> MmeRequestLog:
    """Append one row to the audit log.

    The query payload is kept for good only when it matched; otherwise it expires after
    MME_QUERY_RETENTION_DAYS and `purge_expired_query_payloads` clears it.
    """
    expires = None
    if query_payload is not None and not matched:
        expires = timezone.now() + datetime.timedelta(days=settings.MME_QUERY_RETENTION_DAYS)
    return MmeRequestLog.objects.create(
        direction=direction,
        peer=peer,
        peer_name=peer.name if peer is not None else "",
        endpoint=endpoint,
        method=method,
        status_code=status_code,
        api_version=api_version,
        result_count=result_count,
        latency_ms=latency_ms,
        is_test=is_test,
        remote_address=remote_address,
        error=error[:2000],
        query_payload=query_payload,
        payload_expires_at=expires,
        returned_case_ids=returned_case_ids or [],
        ignored_identifiers=ignored_identifiers or [],
    )


def purge_expired_query_payloads(*, now: datetime.datetime | None = None) -> int:
    """Clear stored query payloads whose retention period has ended; returns how many."""
    now = now or timezone.now()
    return MmeRequestLog.objects.filter(
        query_payload__isnull=False, payload_expires_at__lte=now
    ).update(query_payload=None, payload_expires_at=None)


@transaction.atomic
def erase_case_from_audit_log(public_id: str) -> int:
    """Remove a deleted case's traces from the log (GDPR erasure); returns the rows changed.

    A query we sent about the case (its MME patient) loses its payload; an answer that returned
    the case loses the case's public id, and, when no other of our cases is left in it, the
    peer's query that was kept only because it matched. The rows themselves stay: that a request
    happened, when and with what outcome is the audit record, and holds nothing about the case.
    """
    changed = set(
        _payload_about(public_id).values_list("pk", flat=True)  # the patient we sent
    )
    MmeRequestLog.objects.filter(pk__in=changed).update(query_payload=None, payload_expires_at=None)
    for entry in _answers_returning(public_id):
        remaining = [other for other in entry.returned_case_ids if other != public_id]
        fields: dict[str, Any] = {"returned_case_ids": remaining}
        if not remaining:
            fields |= {"query_payload": None, "payload_expires_at": None}
        MmeRequestLog.objects.filter(pk=entry.pk).update(**fields)
        changed.add(entry.pk)
    return len(changed)


def _payload_about(public_id: str) -> Any:
    return MmeRequestLog.objects.filter(
        query_payload__isnull=False, query_payload__patient__id=public_id
    )


def _answers_returning(public_id: str) -> Any:
    if connection.vendor == "postgresql":
        # jsonb containment, served by the GIN index of migration 0003.
        rows = MmeRequestLog.objects.filter(returned_case_ids__contains=[public_id])
    else:
        # SQLite has no JSON containment: narrow down by text, then check each list exactly.
        rows = MmeRequestLog.objects.filter(returned_case_ids__icontains=public_id)
    return [
        entry
        for entry in rows.only("pk", "returned_case_ids")
        if public_id in (entry.returned_case_ids or [])
    ]


def purge_old_audit_rows(*, now: datetime.datetime | None = None) -> int:
    """Delete log rows older than AUDIT_LOG_RETENTION_DAYS (0: keep them for good); how many."""
    days = settings.AUDIT_LOG_RETENTION_DAYS
    if days <= 0:
        return 0
    # An hour's slack: the trigger compares with the database's clock, which may lag ours.
    cutoff = (now or timezone.now()) - datetime.timedelta(days=days, hours=1)
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # The append-only trigger lets a DELETE through only for rows older than this, and
            # only within this transaction (SET LOCAL).
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT set_config('matchmaker.audit_retention_days', %s, true)", [str(days)]
                )
        deleted, _ = MmeRequestLog.objects.filter(requested_at__lt=cutoff).delete()
    return deleted

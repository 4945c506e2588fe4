"""The audit log of requests across the node's boundary, and its retention."""

from __future__ import annotations

import datetime
from typing import Any

from django.conf import settings
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
    )


def purge_expired_query_payloads(*, now: datetime.datetime | None = None) -> int:
    """Clear stored query payloads whose retention period has ended; returns how many."""
    now = now or timezone.now()
    return MmeRequestLog.objects.filter(
        query_payload__isnull=False, payload_expires_at__lte=now
    ).update(query_payload=None, payload_expires_at=None)

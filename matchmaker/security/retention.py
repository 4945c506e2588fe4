"""The retention policy: what the node forgets, and when (the daily `apply_retention` job).

- Peers' queries that matched nothing: their payload after MME_QUERY_RETENTION_DAYS (hourly,
  federation's own job; repeated here so one run of this job applies the whole policy).
- Audit log rows: deleted after AUDIT_LOG_RETENTION_DAYS (0: kept for good).
- Matches that a later search no longer returned (`removed_at`, e.g. the peer deleted its
  patient or our case stopped matching): deleted after MATCH_RETENTION_DAYS (0: kept for good).
  They hold a copy of the other patient, which the peer has since stopped sharing.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.utils import timezone

from matchmaker.casework.services.matches import purge_removed_matches
from matchmaker.federation.services.audit import (
    purge_expired_query_payloads,
    purge_old_audit_rows,
)


@dataclass(frozen=True, slots=True)
class RetentionReport:
    payloads_cleared: int
    audit_rows_deleted: int
    matches_deleted: int


def apply_retention_policy(*, now: datetime.datetime | None = None) -> RetentionReport:
    now = now or timezone.now()
    return RetentionReport(
        payloads_cleared=purge_expired_query_payloads(now=now),
        audit_rows_deleted=purge_old_audit_rows(now=now),
        matches_deleted=purge_removed_matches(now=now),
    )

from __future__ import annotations

from django.apps import AppConfig


class ObservabilityConfig(AppConfig):
    name = "matchmaker.observability"
    label = "observability"
    verbose_name = "Health and metrics"

    def ready(self) -> None:
        # Counting peer queries hangs off the audit log they already write (see metrics.py).
        from matchmaker.observability import metrics

        metrics.connect_audit_log_counters()
        metrics.connect_identifier_counters()
        # Registers the system checks: production settings, the age of the loaded releases.
        from matchmaker.observability import checks  # noqa: F401

from __future__ import annotations

from django.apps import AppConfig
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class MatchingConfig(AppConfig):
    name = "matchmaker.matching"
    label = "matching"

    def ready(self) -> None:
        configure_search_threads(settings.CASE_INDEX_SEARCH_THREADS)


def configure_search_threads(count: int) -> None:
    """Apply CASE_INDEX_SEARCH_THREADS: 0 keeps one thread per core."""
    from ontologies.case_index import threads

    if count < 0:
        raise ImproperlyConfigured(
            f"CASE_INDEX_SEARCH_THREADS must be 0 (one per core) or more, not {count}"
        )
    threads.set_workers(count or threads.PER_CORE)

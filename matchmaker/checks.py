"""System checks that refuse to run production with development defaults.

WSGI servers do not run checks, so the deploy entrypoint runs
`manage.py check --deploy --fail-level WARNING` before it starts web or worker processes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.core.checks import Error, Tags, register


@register(Tags.security, deploy=True)
def production_settings_check(app_configs: Sequence[Any] | None, **kwargs: Any) -> list[Error]:
    if settings.DEBUG:
        return []
    errors = []
    if settings.SECRET_KEY == settings.DEVELOPMENT_SECRET_KEY:
        errors.append(
            Error(
                "SECRET_KEY is the development default while DEBUG is off.",
                hint="Set SECRET_KEY or SECRET_KEY_FILE to a long random value.",
                id="matchmaker.E001",
            )
        )
    if settings.DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
        errors.append(
            Error(
                "The database is SQLite while DEBUG is off.",
                hint="Set POSTGRES_HOST (and POSTGRES_DB/USER/PASSWORD) for production.",
                id="matchmaker.E002",
            )
        )
    if settings.CELERY_TASK_ALWAYS_EAGER:
        errors.append(
            Error(
                "Celery runs tasks in-process (eager) while DEBUG is off.",
                hint="Set REDIS_URL and run a Celery worker.",
                id="matchmaker.E003",
            )
        )
    return errors

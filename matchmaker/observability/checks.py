"""System checks: production must not run with development defaults; reference data ages;
matches scored by an earlier scoring method or HPO release.

WSGI servers do not run checks, so the deploy entrypoint runs
`manage.py check --deploy --fail-level WARNING` before it starts web or worker processes.
The age of the loaded HPO release and gene catalogue needs the database, so (as Django does with
every check that queries a database) it runs when asked: `manage.py check --database default`.
An old release is a warning to act on, not a reason to refuse to start.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, register
from django.core.checks import Warning as CheckWarning
from django.db import DatabaseError


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


@register(Tags.database)
def reference_release_age_check(
    app_configs: Sequence[Any] | None, databases: Sequence[str] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """Warn when the HPO release or gene catalogue is older than REFERENCE_RELEASE_MAX_AGE_DAYS."""
    if not databases or "default" not in databases:
        return []
    from matchmaker.reference.releases import loaded_release_ages

    try:
        ages = loaded_release_ages()
    except DatabaseError:
        return []  # not migrated yet: nothing is loaded, and `migrate` comes first
    return [
        CheckWarning(
            f"{age.describe()}: older than REFERENCE_RELEASE_MAX_AGE_DAYS "
            f"({settings.REFERENCE_RELEASE_MAX_AGE_DAYS} days).",
            hint=(
                "Peers on newer releases send terms and genes this node cannot read. Load a "
                "current release: "
                + (
                    "manage.py load_hpo --release-url <official release folder>"
                    if age.kind == "hpo"
                    else "manage.py load_genes <HGNC complete set URL>"
                )
                + " (docs/operations.md, 'Reference data')."
            ),
            id="matchmaker.W001" if age.kind == "hpo" else "matchmaker.W002",
        )
        for age in ages
        if age.stale
    ]


@register(Tags.database)
def stale_match_scores_check(
    app_configs: Sequence[Any] | None, databases: Sequence[str] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """Warn while current matches carry scores of an earlier scoring method or HPO release."""
    if not databases or "default" not in databases:
        return []
    from matchmaker.casework.services.rescoring import stale_matches
    from matchmaker.matching.services import scoring_basis

    try:
        stale = stale_matches().count()
    except DatabaseError:
        return []  # not migrated yet
    if not stale:
        return []
    return [
        CheckWarning(
            f"{stale:,} current matches were scored with an earlier scoring method or HPO "
            f"release than this node's ({scoring_basis()}): their scores do not compare with "
            "new ones.",
            hint=(
                "Celery beat scores them again in the background, a few minutes every ten; "
                "to do it now: manage.py match --stale (docs/operations.md, 'Upgrade')."
            ),
            id="matchmaker.W003",
        )
    ]

"""The Celery application; tasks are discovered in each app's `tasks.py`."""

from __future__ import annotations

import os

from celery import Celery
from celery.signals import worker_process_init, worker_ready

# Connects its handlers: request ids from a web request to its tasks, task failure counters, and
# the log format of workers.
from matchmaker.observability import celery_signals  # noqa: F401

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "matchmaker.settings")

app = Celery("matchmaker")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_ready.connect
@worker_process_init.connect
def _load_reference_data(**kwargs: object) -> None:
    """Load the HPO and gene catalogue when a worker (or a prefork child) starts, not in a task.

    Otherwise the first tasks after a start each wait seconds for them, holding their locks.
    """
    from matchmaker.reference.ontology import warm_up  # needs Django set up: the worker has it

    warm_up()

"""Celery signal handlers: request ids across the broker, task failure counters, log format.

Connected by importing this module from `matchmaker.celery`, which every web and worker process
imports. Nothing here may import Django models at import time: that module loads before Django
is set up.
"""

from __future__ import annotations

import logging
import threading
from contextvars import Token
from typing import Any

from celery import Task
from celery.signals import (
    after_setup_logger,
    after_setup_task_logger,
    before_task_publish,
    task_failure,
    task_postrun,
    task_prerun,
    task_retry,
)

from matchmaker.observability import metrics
from matchmaker.observability.logs import use_our_format
from matchmaker.observability.request_ids import (
    RunningTask,
    accepted_request_id,
    bind_request_id,
    bind_task,
    current_request_id,
    reset_request_id,
    reset_task,
)

# The message header carrying the id of the request (or task) that queued a task.
REQUEST_ID_MESSAGE_HEADER = "matchmaker_request_id"

# Tokens to restore the context when a task ends, by task id. prerun and postrun run in the same
# thread; a dict (not a context variable) because eager tasks nest inside the caller's context.
_bound: dict[str, tuple[Token[Any], Token[Any] | None]] = {}
_bound_lock = threading.Lock()


@before_task_publish.connect(dispatch_uid="matchmaker.observability.carry_request_id")
def _carry_request_id(headers: dict[str, Any] | None = None, **kwargs: Any) -> None:
    request_id = current_request_id()
    if request_id is not None and headers is not None:
        headers.setdefault(REQUEST_ID_MESSAGE_HEADER, request_id)


@task_prerun.connect(dispatch_uid="matchmaker.observability.bind_task_context")
def _bind_task_context(task_id: str, task: Task, **kwargs: Any) -> None:
    task_token = bind_task(RunningTask(task_id, task.name))
    # The header crossed the broker: checked again like any id from outside. An eager task has
    # no header and keeps the id of the request it runs in.
    request_id = accepted_request_id(getattr(task.request, REQUEST_ID_MESSAGE_HEADER, None))
    request_token = bind_request_id(request_id) if request_id is not None else None
    with _bound_lock:
        _bound[task_id] = (task_token, request_token)


@task_postrun.connect(dispatch_uid="matchmaker.observability.unbind_task_context")
def _unbind_task_context(task_id: str, **kwargs: Any) -> None:
    with _bound_lock:
        tokens = _bound.pop(task_id, None)
    if tokens is None:
        return
    task_token, request_token = tokens
    try:
        if request_token is not None:
            reset_request_id(request_token)
        reset_task(task_token)
    except ValueError:
        # Another context (a different thread) than prerun's: nothing of ours to restore there.
        pass


@task_failure.connect(dispatch_uid="matchmaker.observability.count_task_failure")
def _count_task_failure(sender: Task | None = None, **kwargs: Any) -> None:
    metrics.increment(metrics.TASK_FAILURES, getattr(sender, "name", "unknown"))


@task_retry.connect(dispatch_uid="matchmaker.observability.count_task_retry")
def _count_task_retry(sender: Task | None = None, **kwargs: Any) -> None:
    metrics.increment(metrics.TASK_RETRIES, getattr(sender, "name", "unknown"))


@after_setup_logger.connect(dispatch_uid="matchmaker.observability.worker_log_format")
@after_setup_task_logger.connect(dispatch_uid="matchmaker.observability.task_log_format")
def _use_our_log_format(logger: logging.Logger, **kwargs: Any) -> None:
    """A worker's log lines in the web processes' format (LOG_FORMAT), with the request id."""
    from django.conf import settings

    use_our_format(logger, settings.LOG_FORMAT)

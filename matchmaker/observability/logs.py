"""Log records with the request id, as plain text lines or one JSON object per line.

`LOG_FORMAT=json` (settings) selects `JsonFormatter` for the console handler of web processes
and (through `matchmaker.celery`) of Celery workers; `plain` is for a developer's terminal.
`RequestIdFilter` goes on handlers, not loggers: a logger's filter does not see the records that
propagate to it from child loggers. It only adds fields; removing secrets from messages is
another filter's job, kept separate so each can be reasoned about alone.
"""

from __future__ import annotations

import json
import logging
import math
from datetime import UTC, datetime
from typing import Any

from matchmaker.observability.request_ids import current_request_id, current_task

NO_REQUEST_ID = "-"

# Attributes every LogRecord has; anything else on a record came from `extra=` (or a filter).
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "request_id",
    "task_id",
    "task_name",
}
# Extra fields never written out: Django's `django.request` passes the request object (its repr
# carries the query string, which may hold a token); Celery passes whole task payloads as `data`.
_NEVER_LOGGED = frozenset({"request", "data", "args", "kwargs"})


class RequestIdFilter(logging.Filter):
    """Put `request_id` (or "-"), and in a Celery task `task_id` and `task_name`, on each record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not isinstance(getattr(record, "request_id", None), str):
            request_id = current_request_id()
            if request_id is None:
                # Django logs 4xx/5xx responses ("Not Found: /x") after the middleware has
                # returned, with the request in `extra`: the middleware left the id on it.
                request_id = getattr(getattr(record, "request", None), "request_id", None)
            record.request_id = request_id if isinstance(request_id, str) else NO_REQUEST_ID
        task = current_task()
        if task is not None:
            if not hasattr(record, "task_id"):
                record.task_id = task.task_id
            if not hasattr(record, "task_name"):
                record.task_name = task.task_name
        return True


class PlainFormatter(logging.Formatter):
    """`time level logger [request id] message`: readable in a terminal, greppable by id."""

    def __init__(self) -> None:
        super().__init__(
            "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s",
            defaults={"request_id": NO_REQUEST_ID},
        )


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id, then extra fields.

    Extra fields are written only when they are plain JSON values (str, int, float, bool, None);
    objects are left out rather than written as their repr, which could carry anything.
    """

    def format(self, record: logging.LogRecord) -> str:
        request_id = getattr(record, "request_id", None)
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": None if request_id in (None, NO_REQUEST_ID) else request_id,
        }
        for name in ("task_id", "task_name"):
            value = getattr(record, name, None)
            if isinstance(value, str) and value and value != "???":
                line[name] = value
        for name, value in vars(record).items():
            if name in _RECORD_ATTRIBUTES or name in _NEVER_LOGGED or name.startswith("_"):
                continue
            if name in line:
                continue
            if value is None or isinstance(value, str | bool | int):
                line[name] = value
            elif isinstance(value, float):
                line[name] = value if math.isfinite(value) else str(value)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False)


def formatter_for(log_format: str) -> logging.Formatter:
    return JsonFormatter() if log_format == "json" else PlainFormatter()


def use_our_format(logger: logging.Logger, log_format: str) -> None:
    """Give every handler of `logger` the request-id filter and our formatter (Celery's loggers)."""
    for handler in logger.handlers:
        if not any(isinstance(existing, RequestIdFilter) for existing in handler.filters):
            handler.addFilter(RequestIdFilter())
        handler.setFormatter(formatter_for(log_format))

"""The id of the request being served, shared by every log line and task it leads to.

A context variable rather than a thread-local: it follows the request into threads started with
`contextvars.copy_context()` and stays separate between a thread-pool worker's threads. The web
middleware binds it per request, and the Celery signals bind it per task (from a message header
set when the request queued the task).
"""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar, Token
from dataclasses import dataclass

REQUEST_ID_HEADER = "X-Request-ID"
# A proxy's id (nginx $request_id: 32 hex characters; UUIDs; most tracing ids) fits this. Anything
# else is replaced rather than logged: the header comes from outside, and a newline or a quote in
# it would let a client forge log lines.
_ACCEPTED = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")

_request_id: ContextVar[str | None] = ContextVar("matchmaker_request_id", default=None)


@dataclass(frozen=True, slots=True)
class RunningTask:
    task_id: str
    task_name: str


_task: ContextVar[RunningTask | None] = ContextVar("matchmaker_task", default=None)


def accepted_request_id(value: object) -> str | None:
    """`value` when it is a usable request id (short, letters, digits and `._:-`), else None."""
    if isinstance(value, str) and _ACCEPTED.fullmatch(value):
        return value
    return None


def new_request_id() -> str:
    return uuid.uuid4().hex


def current_request_id() -> str | None:
    return _request_id.get()


def bind_request_id(request_id: str | None) -> Token[str | None]:
    return _request_id.set(request_id)


def reset_request_id(token: Token[str | None]) -> None:
    _request_id.reset(token)


def current_task() -> RunningTask | None:
    return _task.get()


def bind_task(task: RunningTask | None) -> Token[RunningTask | None]:
    return _task.set(task)


def reset_task(token: Token[RunningTask | None]) -> None:
    _task.reset(token)

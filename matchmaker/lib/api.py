"""The one DRF exception handler: domain errors become JSON answers naming the field.

Also what every JSON API of the node refuses before reading further (how much of a case one
request may carry, MME and REST alike; JSON too deep for the parser), and how the APIs behave
when a service they lean on is down (the database: 503; Redis: logged, the request goes on).
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.db import InterfaceError, OperationalError
from rest_framework import parsers
from rest_framework.exceptions import ParseError
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from matchmaker.lib.errors import DomainError, FieldValidationError

# How many of each list one case may hold when it comes through an API. The published dev cases
# have at most 192 terms, 2 genes and 1 disorder; past these, a request is refused before it is
# validated term by term (100k features took seconds of a web worker).
MAX_FEATURES = 1000
MAX_GENOMIC_FEATURES = 100
MAX_DISORDERS = 100


def error_body(error: DomainError) -> dict[str, Any]:
    body: dict[str, Any] = {"message": error.message}
    if isinstance(error, FieldValidationError):
        body["errors"] = [{"field": field, "message": message} for field, message in error.errors]
    elif error.field:
        body["errors"] = [{"field": error.field, "message": error.message}]
    return body


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DomainError):
        return Response(error_body(exc), status=exc.status_code)
    if isinstance(exc, ParseError):
        # A body that is not JSON at all is a 400 like any other, in the same shape (which
        # the OpenAPI schema promises), naming no field.
        message = str(exc.detail)
        return Response({"message": message, "errors": [{"field": "", "message": message}]}, 400)
    if isinstance(exc, OperationalError | InterfaceError):
        return database_unavailable()
    if isinstance(exc, RequestDataTooBig):
        # Django refuses bodies over DATA_UPLOAD_MAX_MEMORY_SIZE when DRF reads them; without
        # this, the client would get Django's HTML 400 page.
        return Response({"message": "request body too large"}, status=413)
    return drf_exception_handler(exc, context)


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, but JSON nested past Python's recursion limit is a 400, not a 500."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply") from None


# What every client hears while the database cannot be reached (APIs here, pages in
# web/views/errors.py).
DATABASE_UNAVAILABLE_MESSAGE = "the node's database is unavailable; try again in a minute"
DATABASE_UNAVAILABLE_HEADERS = {"Retry-After": "30"}


def database_unavailable() -> Response:
    """503 while the database cannot be reached (restarting, failing over): the client should
    retry; the node reconnects by itself (CONN_HEALTH_CHECKS). The error goes to the log."""
    logging.getLogger("matchmaker.api").warning("database unavailable", exc_info=True)
    return Response(
        {"message": DATABASE_UNAVAILABLE_MESSAGE},
        status=503,
        headers=DATABASE_UNAVAILABLE_HEADERS,
    )


_last_warned: dict[str, float] = {}


def warn_degraded(logger: logging.Logger, message: str, *args: object) -> None:
    """Log that a dependency failed and the request went on without it, at most once a minute
    per message: an outage would otherwise write one line per request."""
    now = time.monotonic()
    if now - _last_warned.get(message, -math.inf) >= 60:
        _last_warned[message] = now
        logger.warning(message, *args)

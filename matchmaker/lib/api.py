"""The one DRF exception handler: domain errors become JSON answers naming the field."""

from __future__ import annotations

from typing import Any

from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from matchmaker.lib.errors import DomainError, FieldValidationError


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
    return drf_exception_handler(exc, context)

"""The node's answer when a request fails outside any view's own error handling."""

from __future__ import annotations

import sys

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.views import defaults

from matchmaker.lib.api import DATABASE_UNAVAILABLE_HEADERS, DATABASE_UNAVAILABLE_MESSAGE

# Paths whose clients read JSON, not pages.
JSON_PATH_PREFIXES = ("/mme/", "/api/", "/health/", "/metrics")


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: 503 with Retry-After while the database is unreachable, else Django's 500.

    Reached from any layer (a view, or a middleware such as the session's), so the database
    being down or restarting is a clean "come back shortly" everywhere, never a bare 500. The
    page is rendered without the request: its context processors would ask the database again.
    """
    error = sys.exc_info()[1]
    if not isinstance(error, OperationalError | InterfaceError):
        return defaults.server_error(request)
    headers = DATABASE_UNAVAILABLE_HEADERS
    if request.path.startswith(JSON_PATH_PREFIXES):
        return JsonResponse({"message": DATABASE_UNAVAILABLE_MESSAGE}, status=503, headers=headers)
    page = render_to_string("web/errors/database_unavailable.html")
    return HttpResponse(page, status=503, headers=headers)

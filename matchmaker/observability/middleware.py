"""Request ids for every request, and the MME API's request counters."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from matchmaker.federation.models import Peer
from matchmaker.observability import metrics
from matchmaker.observability.request_ids import (
    REQUEST_ID_HEADER,
    accepted_request_id,
    bind_request_id,
    new_request_id,
    reset_request_id,
)


class RequestIdMiddleware:
    """Take the proxy's X-Request-ID (when it is a safe, short id) or make one; log it; echo it.

    First in MIDDLEWARE, so every log line of the request, and every task it queues, carries it.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = accepted_request_id(request.headers.get(REQUEST_ID_HEADER)) or new_request_id()
        # On the request too: Django logs error responses after the middleware has returned.
        request.request_id = request_id  # type: ignore[attr-defined]
        token = bind_request_id(request_id)
        try:
            response = self.get_response(request)
        finally:
            reset_request_id(token)
        response[REQUEST_ID_HEADER] = request_id
        return response


class MmeMetricsMiddleware:
    """Count each MME API request by peer, endpoint and status, and time it by endpoint.

    A middleware rather than code in the MME views: it also sees the answers given before a view
    runs (404, 405, a broken database), and it times the whole request.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith("/mme/"):
            return self.get_response(request)
        started = time.perf_counter()
        response = self.get_response(request)
        seconds = time.perf_counter() - started
        endpoint = _endpoint(request)
        # DRF puts the authenticated peer on the Django request too (`request.auth`).
        peer = getattr(request, "auth", None)
        peer_name = peer.name if isinstance(peer, Peer) else ""
        # Both in one round trip to the metrics store.
        metrics.record(
            metrics.counted(metrics.MME_REQUESTS, peer_name, endpoint, str(response.status_code))
            + metrics.timed(metrics.MME_REQUEST_DURATION, seconds, endpoint)
        )
        return response


def _endpoint(request: HttpRequest) -> str:
    match = request.resolver_match
    view_class = getattr(match.func, "view_class", None) if match is not None else None
    endpoint = getattr(view_class, "endpoint", "")
    # Unknown paths under /mme/ share one label: a scanner must not create a series per path.
    return endpoint if isinstance(endpoint, str) and endpoint else "other"

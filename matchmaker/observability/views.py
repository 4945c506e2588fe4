"""Health endpoints for load balancers and orchestrators, and /metrics for Prometheus.

Plain Django views: no DRF, no authentication classes, no session and no CSRF (GET and HEAD
only), so a probe touches nothing it is not meant to test.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging

from django.conf import settings
from django.db import DatabaseError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_safe

from matchmaker.observability import health, metrics, selectors

logger = logging.getLogger(__name__)


@csrf_exempt  # nothing to protect: GET and HEAD only, and a POST is a plain 405
@require_safe
@never_cache
def live(request: HttpRequest) -> JsonResponse:
    """The process is up and serving requests (nothing else is checked: no database)."""
    return JsonResponse({"status": "ok"})


@csrf_exempt  # nothing to protect: GET and HEAD only, and a POST is a plain 405
@require_safe
@never_cache
def ready(request: HttpRequest) -> JsonResponse:
    """The process can answer: database, Redis, HPO and case index (503 naming what failed)."""
    readiness = health.readiness()
    return JsonResponse(readiness.as_json(), status=200 if readiness.ready else 503)


@csrf_exempt  # nothing to protect: GET and HEAD only, and a POST is a plain 405
@require_safe
@never_cache
def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus text format; only with the metrics token or from an allowed address."""
    if not settings.METRICS_TOKEN and not settings.METRICS_ALLOWED_IPS:
        raise Http404("metrics are not enabled")
    if not _may_scrape(request):
        return HttpResponse("forbidden\n", status=403, content_type="text/plain")
    shared, store_up = metrics.collect()
    gauges = [
        metrics.Gauge(
            "matchmaker_metrics_store_up",
            "1 when the shared counters could be read from Redis (or live in memory), else 0.",
            (),
            {(): 1 if store_up else 0},
        )
    ]
    try:
        cases, matches = selectors.case_counts(), selectors.match_counts()
    except DatabaseError:
        logger.warning("metrics: the database did not answer", exc_info=True)
        gauges.append(_database_up(False))
    else:
        gauges += [
            _database_up(True),
            metrics.Gauge(
                "matchmaker_cases",
                "Cases stored, by status (active, withdrawn) and whether they are shared with "
                "peers (consented to external matching).",
                ("status", "shared"),
                cases,
            ),
            metrics.Gauge(
                "matchmaker_matches",
                "Matches recorded, by direction (local, incoming, outgoing).",
                ("direction",),
                matches,
            ),
        ]
    return HttpResponse(metrics.exposition(shared, gauges), content_type=metrics.CONTENT_TYPE)


def _database_up(up: bool) -> metrics.Gauge:
    return metrics.Gauge(
        "matchmaker_database_up",
        "1 when the database answered this scrape's counts, else 0.",
        (),
        {(): 1 if up else 0},
    )


def _may_scrape(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    if token:
        scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(
            presented.strip().encode(), token.encode()
        ):
            return True
    return _from_allowed_address(request)


def _from_allowed_address(request: HttpRequest) -> bool:
    # Behind the reverse proxy every request comes from the proxy's address, so an address is
    # trusted only on a direct connection: a request the proxy forwarded (it adds these headers)
    # needs the token.
    if "X-Forwarded-For" in request.headers or "X-Real-IP" in request.headers:
        return False
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(address in network for network in _allowed_networks())


def _allowed_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(entry, strict=False) for entry in settings.METRICS_ALLOWED_IPS]

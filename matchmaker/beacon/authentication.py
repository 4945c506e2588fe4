"""Who is asking the Beacon: `Authorization: Bearer <token>` of a registered client, or nobody.

Clients are limited per client, anonymous requests per address (`matchmaker/lib/rate_limits`),
both per clock minute in the shared cache; while the cache is down nothing is limited.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.http import HttpRequest

from matchmaker.beacon.models import GRANULARITY_ORDER, MAX_TOKEN_LENGTH, BeaconClient
from matchmaker.lib.api import warn_degraded
from matchmaker.lib.client_address import client_address
from matchmaker.lib.rate_limits import CACHE_ERRORS, clock_window, count_hit
from matchmaker.lib.secrets import hash_token

logger = logging.getLogger(__name__)

WINDOW_SECONDS = 60


class UnknownTokenError(Exception):
    """A bearer token that names no enabled client."""


def beacon_client_of(request: HttpRequest) -> BeaconClient | None:
    """The client whose bearer token the request carries; None without a token.

    Raises UnknownTokenError for a token no enabled client holds (and for malformed headers).
    """
    header = request.headers.get("Authorization", "").strip()
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > MAX_TOKEN_LENGTH:
        raise UnknownTokenError
    client = BeaconClient.objects.filter(token_hash=hash_token(token), enabled=True).first()
    if client is None:
        raise UnknownTokenError
    return client


def granted_granularity(client: BeaconClient | None) -> str | None:
    """The finest answer this caller may get: the client's grant; for anonymous callers boolean
    when BEACON_ANONYMOUS_BOOLEAN is on, else None (no answers at all)."""
    if client is not None:
        return client.granularity
    return "boolean" if settings.BEACON_ANONYMOUS_BOOLEAN else None


def coarser(first: str, second: str) -> str:
    return min(first, second, key=GRANULARITY_ORDER.index)


def rate_limit_wait(request: HttpRequest, client: BeaconClient | None) -> float | None:
    """Count this request; the seconds to wait when its client (or, anonymous, its address) is
    over the limit this clock minute, None while within it."""
    window, seconds_left = clock_window(WINDOW_SECONDS)
    if client is not None:
        limit = client.rate_limit_per_minute or settings.BEACON_RATE_LIMIT_PER_MINUTE
        key = f"beacon-rate:{client.pk}:{window}"
    else:
        limit = settings.BEACON_ANONYMOUS_LIMIT_PER_MINUTE
        key = f"beacon-anonymous:{client_address(request) or 'unknown'}:{window}"
    try:
        count = count_hit(key, window_seconds=2 * WINDOW_SECONDS)
    except CACHE_ERRORS as error:
        warn_degraded(logger, "Beacon rate limit not applied: the cache failed: %r", error)
        return None
    return seconds_left if count > limit else None

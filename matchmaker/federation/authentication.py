"""Peer authentication for the MME API: the `X-Auth-Token` header, and rate limits.

These classes are used by the MME views only, so a peer token opens those three endpoints and
nothing else; clinicians and scripts authenticate elsewhere with their own credentials. Peers are
limited per peer (`PeerRateThrottle`); requests without a valid token per client address
(`unauthenticated_wait`), so that strangers cannot fill the audit log.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from matchmaker.federation.models import MAX_TOKEN_LENGTH, Peer
from matchmaker.lib.api import warn_degraded
from matchmaker.lib.client_address import client_address
from matchmaker.lib.rate_limits import CACHE_ERRORS, clock_window, count_hit
from matchmaker.lib.secrets import hash_token

if TYPE_CHECKING:
    from drf_spectacular.openapi import AutoSchema
    from rest_framework.views import APIView

logger = logging.getLogger(__name__)

TOKEN_HEADER = "X-Auth-Token"  # noqa: S105 (a header name, not a secret)
# Both limits count per clock minute.
WINDOW_SECONDS = 60


class PeerPrincipal:
    """`request.user` for a peer: authenticated, but no Django user and no staff rights."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    pk = None

    def __init__(self, peer: Peer) -> None:
        self.peer = peer

    def __str__(self) -> str:
        return f"peer {self.peer.name}"


class PeerTokenAuthentication(BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[PeerPrincipal, Peer] | None:
        token = request.headers.get(TOKEN_HEADER)
        if token is None:
            return None  # the permission check answers 401 "missing token"
        token = token.strip()
        if not token or len(token) > MAX_TOKEN_LENGTH:
            raise AuthenticationFailed(f"unknown {TOKEN_HEADER}")
        peer = Peer.objects.filter(inbound_token_hash=hash_token(token), enabled=True).first()
        if peer is None:
            raise AuthenticationFailed(f"unknown {TOKEN_HEADER}")
        return PeerPrincipal(peer), peer

    def authenticate_header(self, request: Request) -> str:
        # Any value makes DRF answer 401 rather than 403, which is what MME prescribes.
        return TOKEN_HEADER


class IsPeer(BasePermission):
    message = f"missing {TOKEN_HEADER} header"

    def has_permission(self, request: Request, view: APIView) -> bool:
        return isinstance(request.auth, Peer)


class PeerRateThrottle(BaseThrottle):
    """At most `Peer.rate_limit_per_minute` requests per clock minute per peer.

    One counter per peer and minute in the shared cache (Redis), raised with an atomic INCR, so
    every web process counts the same requests and no two overwrite each other's count (DRF's
    SimpleRateThrottle reads, edits and writes back a list of timestamps). A fixed window: across
    a minute boundary a peer may send up to twice its rate in a short while.
    """

    def __init__(self) -> None:
        self.seconds_left = 0.0

    def allow_request(self, request: Request, view: APIView) -> bool:
        peer = request.auth
        if not isinstance(peer, Peer):
            return True
        limit = peer.rate_limit_per_minute or settings.MME_RATE_LIMIT_PER_MINUTE
        window, self.seconds_left = clock_window(WINDOW_SECONDS)
        try:
            count = count_hit(f"mme-rate:{peer.pk}:{window}", window_seconds=2 * WINDOW_SECONDS)
        except CACHE_ERRORS as error:
            # The counters live in the shared cache (Redis). Without it, peers are still
            # answered, unthrottled, rather than refused: the MME service matters more.
            warn_degraded(logger, "MME rate limit not applied: the cache failed: %r", error)
            return True
        return count <= limit

    def wait(self) -> float:
        return self.seconds_left


def unauthenticated_wait(request: Request) -> float | None:
    """Count a request that brought no valid token; the seconds to wait when its address is over
    MME_UNAUTHENTICATED_LIMIT_PER_MINUTE this clock minute, None while it is within.

    Called before the audit row is written, so that past the limit a stranger's requests cost
    one cache INCR each and store nothing. The first request over the limit is logged with the
    address (once per address and minute); the metrics count every one (`mme_requests`, status
    429, no peer). While the cache is down nothing is counted: the requests are refused (401) and
    audited as before.
    """
    address = client_address(request)
    window, seconds_left = clock_window(WINDOW_SECONDS)
    limit = settings.MME_UNAUTHENTICATED_LIMIT_PER_MINUTE
    try:
        count = count_hit(
            f"mme-unauthenticated:{address or 'unknown'}:{window}",
            window_seconds=2 * WINDOW_SECONDS,
        )
    except CACHE_ERRORS as error:
        warn_degraded(logger, "MME address limit not applied: the cache failed: %r", error)
        return None
    if count <= limit:
        return None
    if count == limit + 1:
        logger.warning(
            "MME requests without a valid %s from %s: over %d this minute; the rest of the "
            "minute is refused (429) and not audited",
            TOKEN_HEADER,
            address or "an unknown address",
            limit,
        )
    return seconds_left


class PeerTokenScheme(OpenApiAuthenticationExtension):
    """How the OpenAPI schema describes peer authentication: an API key in X-Auth-Token."""

    target_class = PeerTokenAuthentication
    name = "peerToken"

    def get_security_definition(self, auto_schema: AutoSchema) -> dict[str, str]:
        return {"type": "apiKey", "in": "header", "name": TOKEN_HEADER}


def drop_trailing_slash_aliases(
    endpoints: list[tuple[str, str, str, Callable[..., Any]]], **kwargs: object
) -> list[tuple[str, str, str, Callable[..., Any]]]:
    """drf-spectacular hook: /mme/match/ is an alias of /mme/match; document each path once."""
    return [
        endpoint
        for endpoint in endpoints
        if not (endpoint[0].startswith("/mme/") and endpoint[0].endswith("/"))
    ]

"""Login rate limiting: failed logins counted per username and per client address.

After LOGIN_MAX_FAILURES failures for one username (or LOGIN_MAX_FAILURES_PER_IP from one client
address) within LOGIN_FAILURE_WINDOW_SECONDS, further attempts are refused for
LOGIN_LOCKOUT_SECONDS without even checking the password, so guessing stops paying off. Counts
live in the Django cache (Redis in production, shared by every web process; the local-memory
cache of the embedded default counts per process). A username is counted whether or not such a
user exists, and the refusal reads the same either way: the lockout must not tell an attacker
which accounts exist.
"""

from __future__ import annotations

import hashlib
import ipaddress

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest

LOCKOUT_MESSAGE = (
    "Too many failed attempts to log in. For your account's safety, logging in is paused for "
    "{minutes} minutes; try again later, or reset your password."
)


def lockout_message() -> str:
    minutes = max(1, round(settings.LOGIN_LOCKOUT_SECONDS / 60))
    return LOCKOUT_MESSAGE.format(minutes=minutes)


def client_ip(request: HttpRequest) -> str:
    """The client's address: REMOTE_ADDR, or the header the reverse proxy sets (CLIENT_IP_HEADER).

    Only a header that the proxy overwrites may be trusted (nginx: `proxy_set_header X-Real-IP
    $remote_addr`); anything else a client could set itself to dodge the per-address count.
    """
    value = ""
    if settings.CLIENT_IP_HEADER:
        meta_key = "HTTP_" + settings.CLIENT_IP_HEADER.upper().replace("-", "_")
        # X-Forwarded-For style lists: the proxy appends the address it saw last.
        value = request.META.get(meta_key, "").split(",")[-1].strip()
    if not value:
        value = request.META.get("REMOTE_ADDR", "")
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return "unknown"


def _username_key(username: str) -> str:
    # Hashed: cache keys stay short and printable whatever was typed, and Redis holds no names.
    digest = hashlib.sha256(username.strip().casefold().encode("utf-8")).hexdigest()[:32]
    return f"user:{digest}"


def _ip_key(address: str) -> str:
    return f"ip:{address}"


def is_locked_out(*, username: str, client_address: str) -> bool:
    keys = [f"login-lockout:{_ip_key(client_address)}"]
    if username:
        keys.append(f"login-lockout:{_username_key(username)}")
    return bool(cache.get_many(keys))


def note_failed_login(*, username: str, client_address: str) -> bool:
    """Count one failed attempt (a wrong password or one-time code); True when it locks."""
    locked = False
    limits = [(_ip_key(client_address), settings.LOGIN_MAX_FAILURES_PER_IP)]
    if username:
        limits.append((_username_key(username), settings.LOGIN_MAX_FAILURES))
    for key, limit in limits:
        if _count(f"login-failures:{key}") >= limit:
            cache.set(f"login-lockout:{key}", 1, timeout=settings.LOGIN_LOCKOUT_SECONDS)
            # Counting starts afresh after the pause.
            cache.delete(f"login-failures:{key}")
            locked = True
    return locked


def note_successful_login(*, username: str) -> None:
    """A complete login (password and, when enabled, code) clears the username's count.

    The address's count is left alone: one valid account must not reset the count of an address
    that is guessing at others.
    """
    cache.delete(f"login-failures:{_username_key(username)}")


def _count(key: str) -> int:
    # The window starts at the first failure: `add` sets the expiry once, `incr` keeps it.
    cache.add(key, 0, timeout=settings.LOGIN_FAILURE_WINDOW_SECONDS)
    try:
        return int(cache.incr(key))
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=settings.LOGIN_FAILURE_WINDOW_SECONDS)
        return 1

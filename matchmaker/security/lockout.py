"""Login rate limiting: failed logins counted per username and per client address.

After LOGIN_MAX_FAILURES failures for one username (or LOGIN_MAX_FAILURES_PER_IP from one client
address) within LOGIN_FAILURE_WINDOW_SECONDS, further attempts are refused for
LOGIN_LOCKOUT_SECONDS without even checking the password, so guessing stops paying off. Counts
live in the Django cache (Redis in production, shared by every web process; the local-memory
cache of the embedded default counts per process). A username is counted whether or not such a
user exists, and the refusal reads the same either way: the lockout must not tell an attacker
which accounts exist.

Usernames are counted under the name Django's login form resolves them to (NFKC, as its
UsernameField folds them), case-folded: "\uff41_admin" (fullwidth a) and "A_admin " are the same
account as "a_admin" to the form, so they must be the same count here.

While the cache is down (Redis unreachable) nothing is counted and nobody is locked out: logins
go on, without the lockout, and the outage is logged once a minute. Refusing every login instead
would lock out every clinician to slow down a guesser.
"""

from __future__ import annotations

import hashlib
import logging
import unicodedata

from django.conf import settings
from django.core.cache import cache

from matchmaker.lib.api import warn_degraded
from matchmaker.lib.rate_limits import CACHE_ERRORS, count_hit

logger = logging.getLogger(__name__)

LOCKOUT_MESSAGE = (
    "Too many failed attempts to log in. For your account's safety, logging in is paused for "
    "{minutes} minutes; try again later, or reset your password."
)
_DEGRADED = "login lockout not applied: the cache failed: %r"


def lockout_message() -> str:
    minutes = max(1, round(settings.LOGIN_LOCKOUT_SECONDS / 60))
    return LOCKOUT_MESSAGE.format(minutes=minutes)


def normalised_username(username: str) -> str:
    """The username as Django's login form looks it up: stripped and NFKC-normalised."""
    return unicodedata.normalize("NFKC", username.strip())


def _username_key(username: str) -> str:
    # NFKC again after casefold: folding can undo the normal form ("ǰ" folds to "j" and a
    # combining caron, which NFKC joins again).
    folded = unicodedata.normalize("NFKC", normalised_username(username).casefold())
    # Hashed: cache keys stay short and printable whatever was typed, and Redis holds no names.
    digest = hashlib.sha256(folded.encode("utf-8")).hexdigest()[:32]
    return f"user:{digest}"


def _ip_key(address: str | None) -> str:
    return f"ip:{address or 'unknown'}"


def is_locked_out(*, username: str, client_address: str | None) -> bool:
    keys = [f"login-lockout:{_ip_key(client_address)}"]
    if username:
        keys.append(f"login-lockout:{_username_key(username)}")
    try:
        return bool(cache.get_many(keys))
    except CACHE_ERRORS as error:
        warn_degraded(logger, _DEGRADED, error)
        return False


def note_failed_login(*, username: str, client_address: str | None) -> bool:
    """Count one failed attempt (a wrong password or one-time code); True when it locks."""
    locked = False
    limits = [(_ip_key(client_address), settings.LOGIN_MAX_FAILURES_PER_IP)]
    if username:
        limits.append((_username_key(username), settings.LOGIN_MAX_FAILURES))
    try:
        for key, limit in limits:
            failures = count_hit(
                f"login-failures:{key}", window_seconds=settings.LOGIN_FAILURE_WINDOW_SECONDS
            )
            if failures >= limit:
                cache.set(f"login-lockout:{key}", 1, timeout=settings.LOGIN_LOCKOUT_SECONDS)
                # Counting starts afresh after the pause.
                cache.delete(f"login-failures:{key}")
                locked = True
    except CACHE_ERRORS as error:
        warn_degraded(logger, _DEGRADED, error)
    return locked


def note_successful_login(*, username: str) -> None:
    """A complete login (password and, when enabled, code) clears the username's count.

    The address's count is left alone: one valid account must not reset the count of an address
    that is guessing at others.
    """
    try:
        cache.delete(f"login-failures:{_username_key(username)}")
    except CACHE_ERRORS as error:
        warn_degraded(logger, _DEGRADED, error)

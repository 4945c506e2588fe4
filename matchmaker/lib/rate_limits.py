"""Counters of requests or failures over a time window, in the shared cache.

The login lockout, the password-reset throttle and the MME rate limits count with `count_hit`:
one atomic INCR per event in the Django cache (Redis in production), so every web process counts
the same events and no two overwrite each other's count. The cache's own errors propagate: each
caller decides how to go on without it (the node keeps working while Redis is down).
"""

from __future__ import annotations

import time

import redis
from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache

# What the cache raises when Redis is down or unreachable (the local-memory cache never does).
CACHE_ERRORS = (redis.RedisError, OSError)


def count_hit(key: str, *, window_seconds: int) -> int:
    """Add one to the counter `key` and return its new value.

    The counter expires `window_seconds` after its first hit: `add` sets the expiry once and
    `incr` keeps it, so the window starts at the first event and does not slide. On Redis both
    go in one MULTI/EXEC: Django's `add` and `incr` take three round trips (`incr` asks whether
    the key exists first), and the MME rate limit counts every request.
    """
    backend = caches["default"]
    if isinstance(backend, RedisCache):
        # The key as Django's cache names it (prefix and version), so `cache.get` reads it.
        full_key = backend.make_and_validate_key(key)
        pipeline = backend._cache.get_client(full_key, write=True).pipeline(transaction=True)
        pipeline.set(full_key, 0, ex=window_seconds, nx=True)
        pipeline.incr(full_key)
        return int(pipeline.execute()[1])
    cache.add(key, 0, timeout=window_seconds)
    try:
        return int(cache.incr(key))
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=window_seconds)
        return 1


def clock_window(seconds: int) -> tuple[int, float]:
    """The number of the current fixed window of `seconds` (clock-aligned) and the seconds left in it.

    A key holding the number counts per clock minute (say); across a boundary a client may send up
    to twice its rate in a short while, which a limit against floods can live with.
    """
    window, elapsed = divmod(time.time(), seconds)
    return int(window), seconds - elapsed

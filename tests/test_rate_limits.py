"""`count_hit`, the counter behind every rate limit, on the configured cache (Redis in the CI
run on PostgreSQL and Redis, where it takes one MULTI/EXEC; local memory in the other)."""

from __future__ import annotations

import secrets

from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache

from matchmaker.lib.rate_limits import count_hit


def test_counts_each_hit_once_per_key_with_the_window_set_at_the_first() -> None:
    key, other = f"test-hits:{secrets.token_hex(4)}", f"test-hits:{secrets.token_hex(4)}"

    assert [count_hit(key, window_seconds=60) for _ in range(3)] == [1, 2, 3]
    assert count_hit(other, window_seconds=60) == 1
    # The counter is an ordinary cache entry, under the cache's own key naming.
    assert cache.get(key) == 3
    backend = caches["default"]
    if isinstance(backend, RedisCache):
        full_key = backend.make_and_validate_key(key)
        client = backend._cache.get_client(full_key)
        assert 55 <= client.ttl(full_key) <= 60
        client.expire(full_key, 5)
        count_hit(key, window_seconds=60)  # a later hit keeps the first hit's expiry
        assert client.ttl(full_key) <= 5
    cache.delete_many([key, other])

"""Counters in the shared cache (Redis), for the API's rate limits (api.throttling) and the login lockout
(config.login_guard): every process and thread of every server counts in the same place.

A hit is `INCR` then `EXPIRE … NX` in one MULTI/EXEC: atomic, so concurrent hits are all counted and a
counter always has its expiry, and one round trip however many counters a request spends from (a search
spends three budgets: api.throttling counts them together)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache as memoised

import redis
from django.conf import settings
from django.core.cache import cache


@memoised
def _client() -> redis.Redis:
    """The cache's Redis, through a connection pool of this process (thread-safe). The counters are plain
    integers under the cache's own key names (cache.make_key), so `cache.get` reads them too."""
    return redis.Redis.from_url(settings.CACHES["default"]["LOCATION"])


def counters_hit(hits: Sequence[tuple[str, int]]) -> list[int]:
    """Adds one to each counter (key, ttl_s) and returns their new values, in order. A counter is
    created by its first hit and lives ttl_s seconds from then (later hits do not extend it)."""
    if not hits:
        return []
    pipeline = _client().pipeline(transaction=True)
    for key, ttl_s in hits:
        name = cache.make_key(key)
        pipeline.incr(name)
        pipeline.expire(name, ttl_s, nx=True)
    replies = pipeline.execute()
    return [int(count) for count in replies[::2]]


def counter_hit(key: str, *, ttl_s: int) -> int:
    """Adds one to the counter `key` and returns its new value (counters_hit for one counter)."""
    return counters_hit([(key, ttl_s)])[0]

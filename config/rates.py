"""Counters in the shared cache (Redis), for the API's rate limits (api.throttling) and the login lockout
(config.login_guard): every process and thread of every server counts in the same place."""

from __future__ import annotations

from django.core.cache import cache


def counter_hit(key: str, *, ttl_s: int) -> int:
    """Adds one to the counter `key` and returns its new value. A counter is created by its first hit and
    lives ttl_s seconds from then (later hits do not extend it). Atomic on Redis (INCR): concurrent
    hits are all counted."""
    while True:
        try:
            count = cache.incr(key)
            break
        except ValueError:  # no such counter (yet, or any more): create it, unless another hit just did
            if cache.add(key, 1, timeout=ttl_s):
                return 1
    if count == 1:
        # Also repairs the one race Django's incr() leaves open: a counter that expired between its
        # existence check and the INCR comes back without an expiry.
        cache.touch(key, ttl_s)
    return count

"""Rate limits of the API, counted in Redis (config.rates) over fixed windows.

Every request spends from several budgets, and the first one spent answers 429 `throttled` with
`Retry-After` (the seconds until that budget's window starts again) and `retry_after_s` (api.errors):

- `ip`: the client address's (config.client_ip), whoever calls: a ceiling on one machine, however many
  accounts or keys it cycles through; high enough for an association's shared connection;
- `user`: a person's, `api_key`: an API key's, or `anon`: an anonymous caller's, per address;
- a costly view's own scope (`throttle_scope = "search"` or `"stats"`), per caller as above, on top;
- the auth routes (AuthThrottled in api.endpoints.auth) have only `auth`, per address; password logins
  are also locked out per account and per address after failures (config.login_guard).

The rates are REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], from the BOUCLE_RATE_* variables, read at each
request. A window's start is offset per caller, so that callers do not all come back at the same second.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from time import time as clock

from django.core.exceptions import ImproperlyConfigured
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

from config.client_ip import address_bucket, client_ip
from config.env import parse_rate
from config.rates import counters_hit
from organisations.models import ApiKey

from .permissions import allows_anonymous


def _caller(request) -> str:
    """Who spends a per-caller budget: the person, the API key, else the client address."""
    if isinstance(request.auth, ApiKey):
        return f"key:{request.auth.pk}"
    user = request.user
    if user is not None and user.is_authenticated and user.pk is not None:
        return f"user:{user.pk}"
    return f"addr:{address_bucket(client_ip(request))}"


@dataclass(frozen=True)
class Budget:
    """One window of one budget: its counter, how many requests it allows per `period` seconds, and the
    seconds until the next window starts."""

    key: str
    count: int
    period: int
    retry_after_s: int


def _spend(request, view) -> dict[type, tuple[Budget, int]]:
    """Spends the request from every budget of the view's window throttles at once (one Redis round
    trip, config.rates.counters_hit), once per request; each throttle then reads its own outcome. DRF
    asks every throttle even after one refused, so all budgets are spent either way, as before."""
    spent = getattr(request, "_boucle_spent", None)
    if spent is None:
        budgets = [
            (type(throttle), budget)
            for throttle in view.get_throttles()
            if isinstance(throttle, WindowThrottle) and (budget := throttle.budget(request, view)) is not None
        ]
        # Kept two periods: a counter only ever expires long after its window has passed.
        hits = counters_hit([(budget.key, 2 * budget.period) for _class, budget in budgets])
        spent = {
            throttle_class: (budget, count)
            for (throttle_class, budget), count in zip(budgets, hits, strict=True)
        }
        setattr(request, "_boucle_spent", spent)  # noqa: B010 (Request declares no such attribute)
    return spent


class WindowThrottle(BaseThrottle):
    """At most `count` requests per `period` seconds per identity, for one scope."""

    scope = ""

    def scope_for(self, view) -> str | None:
        """The scope this throttle counts for `view` (None: it does not apply there)."""
        return self.scope

    def identity(self, request) -> str | None:
        """Whose budget a request spends (None: this throttle does not apply to the request)."""
        raise NotImplementedError

    def budget(self, request, view) -> Budget | None:
        """The window this request spends from (None: this throttle does not count it)."""
        scope = self.scope_for(view)
        if not scope:
            return None
        rates = api_settings.DEFAULT_THROTTLE_RATES
        if scope not in rates:
            raise ImproperlyConfigured(f'No rate for the throttle scope "{scope}" in DEFAULT_THROTTLE_RATES.')
        rate = parse_rate(rates[scope])  # type: ignore[arg-type]  # rates are text (300/min); the stubs say numbers
        if rate is None:
            return None
        identity = self.identity(request)
        if identity is None:
            return None
        count, period = rate
        now = clock()
        offset = zlib.crc32(identity.encode()) % period
        window = int((now - offset) // period)
        return Budget(
            key=f"throttle:{scope}:{identity}:{window}",
            count=count,
            period=period,
            retry_after_s=max(1, math.ceil((window + 1) * period + offset - now)),
        )

    def allow_request(self, request, view) -> bool:
        self.retry_after_s: int | None = None
        spent = _spend(request, view).get(type(self))
        if spent is None:
            return True
        budget, hits = spent
        if hits <= budget.count:
            return True
        self.retry_after_s = budget.retry_after_s
        return False

    def wait(self) -> float | None:
        return self.retry_after_s


class AddressThrottle(WindowThrottle):
    scope = "ip"

    def identity(self, request) -> str:
        return address_bucket(client_ip(request))


class AnonymousThrottle(WindowThrottle):
    scope = "anon"

    def identity(self, request) -> str | None:
        if request.user is not None and request.user.is_authenticated:
            return None
        return address_bucket(client_ip(request))


class PersonThrottle(WindowThrottle):
    scope = "user"

    def identity(self, request) -> str | None:
        caller = _caller(request)
        return caller if caller.startswith("user:") else None


class ApiKeyThrottle(WindowThrottle):
    scope = "api_key"

    def identity(self, request) -> str | None:
        caller = _caller(request)
        return caller if caller.startswith("key:") else None


class CostlyViewThrottle(WindowThrottle):
    """The budget of a view that names a `throttle_scope` of its own (search, statistics), per caller."""

    def scope_for(self, view) -> str | None:
        return getattr(view, "throttle_scope", None)

    def identity(self, request) -> str:
        return _caller(request)


class AuthAddressThrottle(WindowThrottle):
    """The auth routes answer anyone: one budget per client address."""

    scope = "auth"

    def identity(self, request) -> str:
        return address_bucket(client_ip(request))


def rate_limit_scopes(view) -> list[str]:
    """The scopes whose budgets a view's requests spend (for the OpenAPI document). Anonymous callers
    reach the throttles only where the permissions let them in; elsewhere they get their 401 first."""
    anonymous_welcome = allows_anonymous(view)
    scopes = []
    for throttle in view.get_throttles():
        scope = throttle.scope_for(view) if isinstance(throttle, WindowThrottle) else None
        if scope and (anonymous_welcome or not isinstance(throttle, AnonymousThrottle)):
            scopes.append(scope)
    return scopes

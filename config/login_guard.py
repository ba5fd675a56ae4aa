"""Login lockout on the three doors (the API's `auth/token/`, `/dashboard/login/`, `/admin/login/`), on
django-axes, with one store for all of them: Redis (the default cache).

Failed logins count in three tiers, each `N/period` (BOUCLE_LOGIN_FAILURES_*):

- account and address (5/15min): a person who keeps mistyping is stopped on their own connection only;
  a colleague on the same Wi-Fi, with another account, logs in as usual;
- account, from any address (20/h): slows down guessing one account from many machines;
- address, for any account (100/h): slows down one machine trying many accounts; far above what the
  people behind one shared connection mistype in an hour.

A tier's counter lives `period` from its first failure. The failure that brings it to N answers the
lockout (429 with Retry-After), and logins that match a locked tier are refused for `period`, the right
password included, without being counted (they cannot extend the lock). A successful login clears the
counters of its own account (account and address, account), never an address's, which others share.

The account tiers count an attempt before its password is checked (django-axes checks first and counts
failures after): parallel guesses cannot all pass the check before the first of them is counted. An
attempt over the limit that way is refused for a second; the ones still running decide whether a lock
follows.

Operators unlock with django-axes' commands: `axes_reset_username <e-mail>` (the account tier),
`axes_reset_ip <address>` (the address tier), `axes_reset_ip_username <address> <e-mail>` (the pair)."""

from __future__ import annotations

import hashlib
import logging
import math
import time
from dataclasses import dataclass

from axes.handlers.base import AxesHandler
from axes.handlers.proxy import AxesProxyHandler
from axes.signals import user_locked_out
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.cache import cache
from django.utils.translation import ngettext

from api.errors import problem_response
from web.views import locked_out

from .client_ip import address_bucket, client_ip
from .env import parse_rate
from .rates import counter_hit

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Tier:
    name: str
    setting: str
    by_account: bool
    by_address: bool

    def limit(self) -> tuple[int, int] | None:
        """(failures, period in seconds), or None when the tier is switched off."""
        return parse_rate(getattr(settings, self.setting))


TIERS = (
    Tier("account_address", "BOUCLE_LOGIN_FAILURES_ACCOUNT_IP", by_account=True, by_address=True),
    Tier("account", "BOUCLE_LOGIN_FAILURES_ACCOUNT", by_account=True, by_address=False),
    Tier("address", "BOUCLE_LOGIN_FAILURES_IP", by_account=False, by_address=True),
)


def login_username(request, credentials: dict | None = None) -> str:
    """The account a login attempt names, as the User model compares them (AXES_USERNAME_CALLABLE).
    Django's login forms send `username`, the API `email`."""
    field = get_user_model().USERNAME_FIELD
    credentials = credentials or {}
    value = credentials.get(field) or credentials.get("username")
    if value is None and request is not None:
        data = getattr(request, "data", None) or request.POST
        value = data.get(field) or data.get("username")
    return str(value or "").strip().lower()


def _identities(*, username: str, address: str) -> dict[Tier, str]:
    """Each tier that applies → the identity it counts (an attempt without an account name only counts
    against its address)."""
    bucket = address_bucket(address)
    found = {}
    for tier in TIERS:
        if tier.by_account and not username:
            continue
        found[tier] = "\n".join(
            part for part, used in ((username, tier.by_account), (bucket, tier.by_address)) if used
        )
    return found


def _key(kind: str, tier: Tier, identity: str) -> str:
    # Hashed: the store holds no e-mail address.
    return f"login-guard:{kind}:{tier.name}:{hashlib.sha256(identity.encode()).hexdigest()}"


def _raw(request):
    """The Django request under a DRF one: AxesMiddleware reads its flags there."""
    return getattr(request, "_request", request)


def _mark_locked_out(request, *, credentials: dict | None, retry_after_s: int) -> None:
    for target in {id(request): request, id(_raw(request)): _raw(request)}.values():
        target.axes_locked_out = True
        target.axes_credentials = credentials
        target.boucle_login_retry_after_s = retry_after_s


class LoginGuardHandler(AxesHandler):
    """AXES_HANDLER: the three tiers above, in the default cache."""

    def _attempt(self, request, credentials: dict | None) -> dict[Tier, str]:
        return _identities(username=login_username(request, credentials), address=client_ip(request))

    def _keys(self, kind: str, request, credentials: dict | None) -> list[str]:
        return [_key(kind, tier, identity) for tier, identity in self._attempt(request, credentials).items()]

    def lock_remaining_s(self, request, credentials: dict | None = None) -> int:
        """Seconds until every lock that matches this attempt has passed (0: none)."""
        deadlines = cache.get_many(self._keys("lock", request, credentials)).values()
        return max((math.ceil(deadline - time.time()) for deadline in deadlines), default=0)

    def is_locked(self, request, credentials: dict | None = None) -> bool:
        remaining = self.lock_remaining_s(request, credentials)
        if remaining > 0:
            request.boucle_login_retry_after_s = remaining
        return remaining > 0

    def is_allowed(self, request, credentials: dict | None = None) -> bool:
        """Called by AxesStandaloneBackend before the password is checked."""
        if self.is_blacklisted(request, credentials):
            return False
        if self.is_whitelisted(request, credentials):
            return True
        if self.is_locked(request, credentials):
            return False
        counts = {}
        for tier, identity in self._attempt(request, credentials).items():
            limit = tier.limit()
            if limit and tier.by_account:
                counts[tier] = counter_hit(_key("count", tier, identity), ttl_s=limit[1])
                if counts[tier] > limit[0]:
                    request.boucle_login_retry_after_s = 1
                    return False
        request.boucle_login_counts = counts
        return True

    def get_failures(self, request, credentials: dict | None = None) -> int:
        return max(cache.get_many(self._keys("count", request, credentials)).values(), default=0)

    def user_login_failed(self, sender, credentials: dict, request=None, **kwargs) -> None:
        if request is None:
            logger.error("login failure without a request: not counted")
            return
        username = login_username(request, credentials)
        if getattr(request, "axes_locked_out", False):  # refused by is_allowed: not a failure
            self._locked_out(request, credentials, username=username)
            return
        if self.is_whitelisted(request, credentials):
            return
        counted = getattr(request, "boucle_login_counts", {})
        locked_for = 0
        for tier, identity in self._attempt(request, credentials).items():
            limit = tier.limit()
            if not limit:
                continue
            failures, period = limit
            key = _key("count", tier, identity)
            count = counted[tier] if tier in counted else counter_hit(key, ttl_s=period)
            if count >= failures:
                # The counter stays: it dies before the lock (it started earlier with the same period), and
                # deleting it now would let an attempt checked before the lock existed count from 1 again.
                cache.set(_key("lock", tier, identity), time.time() + period, timeout=period)
                locked_for = max(locked_for, period)
                logger.warning("login locked out: %s failures by %s, for %d s", count, tier.name, period)
        if locked_for:
            request.boucle_login_retry_after_s = locked_for
            self._locked_out(request, credentials, username=username)

    def _locked_out(self, request, credentials: dict | None, *, username: str) -> None:
        retry_after_s = getattr(request, "boucle_login_retry_after_s", None) or 1
        _mark_locked_out(request, credentials=credentials, retry_after_s=retry_after_s)
        user_locked_out.send("axes", request=request, username=username, ip_address=client_ip(request))

    def login_succeeded(self, request, *, username: str) -> None:
        """The account's own counters start again; its address's, shared with others, are left alone."""
        for tier, identity in _identities(username=username, address=client_ip(request)).items():
            if tier.by_account:
                cache.delete(_key("count", tier, identity))

    def reset_attempts(
        self, *, ip_address: str | None = None, username: str | None = None, ip_or_username: bool = False
    ) -> int:
        """For django-axes' axes_reset_* commands: the counters and locks of the tier the arguments name."""
        if ip_or_username or (ip_address is None and username is None):
            raise NotImplementedError("Give an address, an account, or both (axes_reset_ip_username).")
        wanted = (username is not None, ip_address is not None)
        identities = _identities(username=(username or "").strip().lower(), address=ip_address or "")
        keys = [
            _key(kind, tier, identity)
            for tier, identity in identities.items()
            if (tier.by_account, tier.by_address) == wanted
            for kind in ("count", "lock")
        ]
        found = len(cache.get_many(keys))
        cache.delete_many(keys)
        return found


class AccountBackend(ModelBackend):
    """Django's ModelBackend, after AxesStandaloneBackend: a successful login clears its account's
    failures, whichever door it came through (Django signals a session login, not a token's)."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is not None and request is not None and settings.AXES_ENABLED:
            handler = AxesProxyHandler.get_implementation()
            if isinstance(handler, LoginGuardHandler):
                handler.login_succeeded(request, username=user.get_username().lower())
        return user


def lockout_response(request, original_response=None, credentials=None):
    """AXES_LOCKOUT_CALLABLE: the API's problem, or the web page for the dashboard and the admin; 429 and
    Retry-After either way."""
    retry_after_s = getattr(request, "boucle_login_retry_after_s", None) or 1
    match = getattr(request, "resolver_match", None)
    if match is not None and "api" in match.namespaces:
        detail = ngettext(
            "Too many failed login attempts. Try again in %(seconds)d second.",
            "Too many failed login attempts. Try again in %(seconds)d seconds.",
            retry_after_s,
        ) % {"seconds": retry_after_s}
        response = problem_response(
            request, 429, "login_locked", detail, extra={"retry_after_s": retry_after_s}
        )
    else:
        response = locked_out(request, retry_after_s=retry_after_s)
    response["Retry-After"] = str(retry_after_s)
    return response

"""State changes of sessions and passwords: refresh tokens, their rotation and their revocation, logout,
the flush of expired tokens, password changes and resets.

The HTTP layer signs the tokens (simplejwt) and records each refresh token as outstanding; these
services decide what a refresh token may still do. A refresh token is good for one use, a refresh
(which hands out its successor) or a logout. A second use of the same token means that two parties
hold it, one of them a thief: every session of the account ends. Each token also carries the
person's epoch (User.token_epoch): revoking moves the epoch on, which ends every access token and
dashboard session too."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from django.contrib.auth.tokens import default_token_generator
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.encoding import force_str
from django.utils.http import urlsafe_base64_decode
from django.utils.translation import gettext as _
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from core.errors import DomainError, InvalidInput
from core.events import event_record

from .. import tasks
from ..models import User
from ._common import _after_commit, _invalid, _password_errors

T = TypeVar("T")

REVOCATION_REASONS = (
    "logout_everywhere",
    "password_changed",
    "password_reset",
    "token_reused",
    "membership_removed",
    "deactivated",
)


class SessionRefused(DomainError):
    """A refresh token that opens no session (unknown, revoked, reused, or its person inactive)."""

    code = "token_not_valid"


@transaction.atomic
def user_revoke_tokens(*, user: User, reason: str, actor: str = "system") -> int:
    """Ends every session of the person at once: refresh tokens are blacklisted, and the epoch moves on
    so that access tokens and dashboard sessions already handed out stop working. The one way to revoke,
    whatever the reason. Returns the new epoch (also set on `user`)."""
    if reason not in REVOCATION_REASONS:
        raise ValueError(f"unknown revocation reason {reason!r}")
    User.objects.filter(pk=user.pk).update(token_epoch=F("token_epoch") + 1)
    user.token_epoch = User.objects.values_list("token_epoch", flat=True).get(pk=user.pk)
    now = timezone.now()
    live = OutstandingToken.objects.filter(user_id=user.pk, expires_at__gt=now, blacklistedtoken__isnull=True)
    blacklisted = BlacklistedToken.objects.bulk_create(
        [BlacklistedToken(token_id=token_id) for token_id in live.values_list("id", flat=True)],
        ignore_conflicts=True,
    )
    event_record(
        name="user.tokens_revoked",
        aggregate_type="user",
        aggregate_id=user.pk,
        actor=actor,
        payload={"reason": reason, "epoch": user.token_epoch, "refresh_tokens": len(blacklisted)},
    )
    return user.token_epoch


def _refresh_token_locked(jti: str) -> tuple[OutstandingToken, User]:
    """The token's row, locked, and its person (active)."""
    token = (
        OutstandingToken.objects.select_for_update(of=("self",))
        .select_related("user")
        .filter(jti=jti)
        .first()
    )
    if token is None:
        # Tokens are recorded as they are signed: one unknown here was never handed out by Boucle.
        raise SessionRefused(_("This token is not valid."), code="token_not_valid")
    user = token.user
    if user is None or not user.is_active:
        raise SessionRefused(_("No active account found for the given token."), code="no_active_account")
    return token, user


def _session_revoked() -> SessionRefused:
    return SessionRefused(_("This session has ended; log in again."), code="token_revoked")


def _session_reused() -> SessionRefused:
    return SessionRefused(
        _("This token had already been used: every session of the account is ended. Log in again."),
        code="token_reused",
    )


def refresh_token_use(*, jti: str, epoch: int, successor: Callable[[User], T]) -> T:
    """Spends a refresh token on a refresh and returns `successor(person)`: the caller's next pair, signed
    and recorded while the token's row is still locked, so that a second use of the token, waiting on
    that lock, finds the successor and ends it with every other session. Raises SessionRefused; a token
    used already ends every session of the account first."""
    with transaction.atomic():
        token, user = _refresh_token_locked(jti)
        if user.token_epoch != epoch:
            raise _session_revoked()
        if not BlacklistedToken.objects.filter(token=token).exists():
            BlacklistedToken.objects.create(token=token)
            return successor(user)
        user_revoke_tokens(user=user, reason="token_reused")
    raise _session_reused()


def session_logout(*, jti: str, epoch: int, everywhere: bool = False) -> None:
    """Logs out the device holding this refresh token (its token is spent), or every device. A token
    whose session has ended already does nothing; one used already ends every session, then raises."""
    with transaction.atomic():
        token, user = _refresh_token_locked(jti)
        if user.token_epoch != epoch:
            return
        if not BlacklistedToken.objects.filter(token=token).exists():
            if everywhere:
                user_revoke_tokens(user=user, reason="logout_everywhere", actor=f"user:{user.pk}")
            else:
                BlacklistedToken.objects.create(token=token)
            return
        user_revoke_tokens(user=user, reason="token_reused")
    raise _session_reused()


def flush_expired_tokens() -> int:
    """Deletes refresh tokens past their expiry, with their blacklist entries (simplejwt's
    flushexpiredtokens, for the beat): an expired token is refused on its own signature. Returns how
    many rows went, blacklist entries included."""
    deleted, _per_model = OutstandingToken.objects.filter(expires_at__lte=timezone.now()).delete()
    return deleted


# ---------------------------------------------------------------------------------------------------
# Passwords
# ---------------------------------------------------------------------------------------------------


def _set_password(user: User, password: str, *, errors: dict[str, list[str]] | None = None) -> None:
    errors = dict(errors or {})
    if password_errors := _password_errors(password, user):
        errors["new_password"] = password_errors
    if errors:
        raise _invalid(errors)
    user.set_password(password)
    user.save(update_fields=["password"])


@transaction.atomic
def user_change_password(*, user: User, current_password: str, new_password: str) -> User:
    """A logged-in person changes their password; every session ends, theirs included (the caller hands
    this device a new one)."""
    errors = {}
    if not user.check_password(current_password):
        errors["current_password"] = [_("This is not your current password.")]
    _set_password(user, new_password, errors=errors)
    user_revoke_tokens(user=user, reason="password_changed", actor=f"user:{user.pk}")
    return user


def password_reset_request(*, email: str) -> None:
    """Someone asks for a reset code for an address. Only an active account gets one, by e-mail; the
    caller learns nothing either way."""
    email = User.objects.normalize_email(email).lower()
    user = User.objects.filter(email__iexact=email, is_active=True).first()
    if user is None:
        return
    with transaction.atomic():
        event_record(name="user.password_reset_requested", aggregate_type="user", aggregate_id=user.pk)
        _after_commit(tasks.send_password_reset, user_id=user.pk)


def _reset_token_invalid() -> InvalidInput:
    message = _("This reset code is not valid, or has expired; ask for a new one.")
    return InvalidInput(message, code="reset_token_invalid", field_errors={"token": [message]})


@transaction.atomic
def password_reset_confirm(*, uid: str, token: str, new_password: str) -> User:
    """The code from the reset e-mail sets a new password and ends every session. A code works once
    (it is derived from the password it replaces) and for PASSWORD_RESET_TIMEOUT seconds."""
    try:
        user_id = int(force_str(urlsafe_base64_decode(uid)))
    except (TypeError, ValueError, OverflowError, UnicodeDecodeError):
        raise _reset_token_invalid() from None
    user = None
    if 0 < user_id < 2**63:  # a bigint, or the database refuses the query
        user = User.objects.select_for_update().filter(pk=user_id, is_active=True).first()
    if user is None or not default_token_generator.check_token(user, token):
        raise _reset_token_invalid()
    _set_password(user, new_password)
    user_revoke_tokens(user=user, reason="password_reset", actor=f"user:{user.pk}")
    return user

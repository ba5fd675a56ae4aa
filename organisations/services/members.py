"""State changes of who belongs to an organisation: invitations, memberships and the API keys of its
systems."""

from __future__ import annotations

import secrets
from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from core.events import event_record

from .. import tasks
from ..actors import Actor
from ..models import ApiKey, ApiKeyScope, Invitation, Membership, MembershipRole, User
from ..tokens import hash_token
from ._common import _after_commit, _invalid, _password_errors, _user_new
from .sessions import user_revoke_tokens

INVITATION_LIFETIME = timedelta(days=7)


# ---------------------------------------------------------------------------------------------------
# Invitations
# ---------------------------------------------------------------------------------------------------


@transaction.atomic
def invitation_create(*, actor: Actor, organisation_id: int, email: str, role: str) -> Invitation:
    """An administrator invites a person by e-mail. The token goes out by e-mail only; the database
    keeps its SHA-256, so a leaked table invites no one."""
    actor.require_admin(organisation_id)
    email = User.objects.normalize_email(email).lower()
    if role not in MembershipRole.values:
        raise _invalid({"role": [_("Unknown role.")]})
    if Membership.objects.filter(organisation_id=organisation_id, user__email__iexact=email).exists():
        raise Conflict(_("This person is already a member of the organisation."), code="already_member")
    raw = secrets.token_urlsafe(32)
    invitation = Invitation.objects.create(
        organisation_id=organisation_id,
        email=email,
        role=role,
        token_hash=hash_token(raw),
        invited_by=actor.user,
        expires_at=timezone.now() + INVITATION_LIFETIME,
    )
    event_record(
        name="invitation.created",
        aggregate_type="invitation",
        aggregate_id=invitation.pk,
        actor=actor.label,
        organisation_id=organisation_id,
        payload={"role": role},
    )
    # The raw token cannot be reloaded from the database, so the task carries it.
    _after_commit(tasks.send_invitation_email, invitation_id=invitation.pk, token=raw)
    return invitation


def _invalid_token(message: str, code: str) -> InvalidInput:
    return InvalidInput(message, code=code, field_errors={"token": [message]})


@transaction.atomic
def invitation_accept(
    *,
    token: str,
    user: User | None,
    password: str = "",
    first_name: str = "",
    last_name: str = "",
    preferred_language: str = "fr",
) -> Membership:
    """The invited person joins. With no account for the invited address, the password and names
    create one; with an account, the caller must be logged in as it."""
    invitation = Invitation.objects.select_for_update().filter(token_hash=hash_token(token or "")).first()
    if invitation is None:
        raise _invalid_token(_("This invitation token is not valid."), "invitation_invalid")
    if invitation.accepted_at is not None:
        raise _invalid_token(_("This invitation has already been used."), "invitation_used")
    if invitation.expires_at <= timezone.now():
        raise _invalid_token(_("This invitation has expired; ask for a new one."), "invitation_expired")
    invitee = User.objects.filter(email__iexact=invitation.email).first()
    if invitee is not None:
        if user is None:
            raise PermissionDenied(
                _("An account exists for the invited address: log in with it to accept."),
                code="login_required",
            )
        if user.pk != invitee.pk:
            raise PermissionDenied(_("This invitation is for another e-mail address."), code="wrong_account")
    else:
        errors: dict[str, list[str]] = {}
        for field, value in (("password", password), ("first_name", first_name), ("last_name", last_name)):
            if not (value or "").strip():
                errors[field] = [_("Required to create your account.")]
        if password and (
            password_errors := _password_errors(
                password, User(email=invitation.email, first_name=first_name, last_name=last_name)
            )
        ):
            errors["password"] = password_errors
        if errors:
            raise _invalid(errors)
        invitee = _user_new(
            email=invitation.email,
            password=password,
            first_name=first_name,
            last_name=last_name,
            preferred_language=preferred_language,
        )
    if Membership.objects.filter(user=invitee, organisation_id=invitation.organisation_id).exists():
        raise Conflict(_("You are already a member of this organisation."), code="already_member")
    membership = Membership.objects.create(
        user=invitee, organisation_id=invitation.organisation_id, role=invitation.role
    )
    invitation.accepted_at = timezone.now()
    invitation.accepted_by = invitee
    invitation.save(update_fields=["accepted_at", "accepted_by", "updated_at"])
    event_record(
        name="invitation.accepted",
        aggregate_type="invitation",
        aggregate_id=invitation.pk,
        actor=f"user:{invitee.pk}",
        organisation_id=invitation.organisation_id,
        payload={"role": invitation.role, "membership_id": membership.pk},
    )
    return membership


# ---------------------------------------------------------------------------------------------------
# API keys
# ---------------------------------------------------------------------------------------------------

API_KEY_LABEL = "bk"


@transaction.atomic
def api_key_create(
    *, actor: Actor, organisation_id: int | None = None, name: str, scopes: list[str]
) -> tuple[ApiKey, str]:
    """An administrator creates a key for the organisation's systems. Returns the key and its raw value
    `bk_<prefix>_<secret>`, which is shown once: only its SHA-256 is stored."""
    organisation = actor.acting_organisation(organisation_id)
    actor.require_admin(organisation.pk)
    wanted = sorted(set(scopes))
    if not wanted or not set(wanted) <= set(ApiKeyScope.values):
        raise _invalid({"scopes": [_("Give at least one of: read, write.")]})
    prefix = secrets.token_hex(6)
    raw = f"{API_KEY_LABEL}_{prefix}_{secrets.token_urlsafe(32)}"
    key = ApiKey.objects.create(
        organisation=organisation,
        name=name,
        prefix=prefix,
        key_hash=hash_token(raw),
        scopes=wanted,
        created_by=actor.user,
    )
    event_record(
        name="api_key.created",
        aggregate_type="api_key",
        aggregate_id=key.pk,
        actor=actor.label,
        organisation_id=organisation.pk,
        payload={"prefix": prefix, "scopes": wanted},
    )
    return key, raw


@transaction.atomic
def api_key_revoke(*, actor: Actor, api_key_id: int) -> ApiKey:
    """Revoke a key for good; revoking a revoked key changes nothing."""
    key = ApiKey.objects.select_for_update().filter(pk=api_key_id).first()
    if key is None:
        raise NotFound(_("No such API key."))
    actor.require_admin(key.organisation_id)
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
        event_record(
            name="api_key.revoked",
            aggregate_type="api_key",
            aggregate_id=key.pk,
            actor=actor.label,
            organisation_id=key.organisation_id,
            payload={"prefix": key.prefix},
        )
    return key


# ---------------------------------------------------------------------------------------------------
# Memberships
# ---------------------------------------------------------------------------------------------------


@transaction.atomic
def membership_remove(*, actor: Actor, membership_id: int) -> None:
    """An administrator of the organisation, or the operator, removes a person from it. Every session of
    that person ends at once: they log in again for one scoped to what they still belong to. An
    administrator cannot remove the organisation's last administrator (the operator can)."""
    membership = Membership.objects.select_for_update().filter(pk=membership_id).first()
    if membership is None:
        raise NotFound(_("No such member."))
    actor.require_admin(membership.organisation_id)
    if (
        membership.role == MembershipRole.ADMIN
        and not actor.is_operator
        and not Membership.objects.filter(
            organisation_id=membership.organisation_id, role=MembershipRole.ADMIN
        )
        .exclude(pk=membership.pk)
        .exists()
    ):
        raise Conflict(
            _("This is the organisation's last administrator; name another one first."), code="last_admin"
        )
    user = membership.user
    membership.delete()
    event_record(
        name="membership.removed",
        aggregate_type="membership",
        aggregate_id=membership_id,
        actor=actor.label,
        organisation_id=membership.organisation_id,
        payload={"user_id": user.pk, "role": membership.role},
    )
    user_revoke_tokens(user=user, reason="membership_removed", actor=actor.label)

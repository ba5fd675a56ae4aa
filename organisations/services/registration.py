"""State changes of sign-ups: a person registers with their organisation, confirms by the code sent by
e-mail, or the sign-up expires and is pruned."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.db.models import ProtectedError
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import InvalidInput
from core.events import event_record

from .. import tasks
from ..models import SELF_REGISTERED_KINDS, Membership, MembershipRole, Organisation, Registration, User
from ..tokens import hash_token
from ._common import (
    ORGANISATION_FIELDS,
    _after_commit,
    _identifier_errors,
    _invalid,
    _password_errors,
    _save_or_field_error,
    _user_new,
)

logger = logging.getLogger(__name__)


@transaction.atomic
def organisation_register(
    *,
    email: str,
    password: str,
    first_name: str,
    last_name: str,
    preferred_language: str,
    organisation: Mapping[str, str],
) -> None:
    """A person signs up with their organisation (company, association or project). The outcome is the
    same, to the caller, whether or not the address already has an account, so that nobody learns who is
    registered: the input is checked alike, the password is hashed alike, and the rest goes by e-mail.

    - A new address gets an inactive account, an unverified organisation it administers, and a
      confirmation code (registration_confirm activates them and tells the operator).
    - An address with an account: its owner is told by e-mail that someone tried to sign up with it.
    - An address whose sign-up is still unconfirmed gets a fresh code for that sign-up, whose details
      and expiry stay as they were: a stranger cannot rewrite them, nor keep them alive."""
    errors: dict[str, list[str]] = {}
    email = User.objects.normalize_email(email).lower()
    candidate = User(email=email, first_name=first_name, last_name=last_name)
    if password_errors := _password_errors(password, candidate):
        errors["password"] = password_errors
    # Sending the same form again (the first e-mail got lost) must not trip on the SIRET that the
    # unconfirmed sign-up holds: that one answers 202 and gets its code again.
    own_pending_organisation = (
        Registration.objects.filter(user__email__iexact=email, confirmed_at__isnull=True)
        .values_list("organisation_id", flat=True)
        .first()
    )
    kind = organisation.get("kind", "")
    if kind not in SELF_REGISTERED_KINDS:
        errors["organisation.kind"] = [
            _("Only companies, associations and projects register; the operator creates the others.")
        ]
    else:
        (siret, rna), identifier_errors = _identifier_errors(
            kind=kind,
            siret=organisation.get("siret", ""),
            rna=organisation.get("rna", ""),
            exclude_id=own_pending_organisation,
        )
        errors.update({f"organisation.{field}": messages for field, messages in identifier_errors.items()})
    if errors:
        raise _invalid(errors)

    existing = User.objects.filter(email__iexact=email).first()
    if existing is None:
        try:
            _registration_new(
                email=email,
                password=password,
                first_name=first_name,
                last_name=last_name,
                preferred_language=preferred_language,
                kind=kind,
                organisation=organisation,
                siret=siret,
                rna=rna,
            )
            return
        except InvalidInput as exc:
            if "email" not in exc.field_errors:
                raise
        # A concurrent sign-up took the address between the check and the insert: from here on it
        # is an address with an account like any other.
        existing = User.objects.get(email__iexact=email)
    # The new-address branch hashes the password: hash it here too, so the answer takes as long.
    make_password(password)
    _registration_of_existing_address(existing)


def _registration_new(
    *,
    email: str,
    password: str,
    first_name: str,
    last_name: str,
    preferred_language: str,
    kind: str,
    organisation: Mapping[str, str],
    siret: str,
    rna: str,
) -> Registration:
    user = _user_new(
        email=email,
        password=password,
        first_name=first_name,
        last_name=last_name,
        preferred_language=preferred_language,
        is_active=False,
    )
    org = Organisation(kind=kind, **{f: organisation.get(f, "") for f in ORGANISATION_FIELDS})
    org.siret, org.rna = siret, rna
    _save_or_field_error(org, prefix="organisation.")
    Membership.objects.create(user=user, organisation=org, role=MembershipRole.ADMIN)
    raw = secrets.token_urlsafe(32)
    registration = Registration.objects.create(
        user=user,
        organisation=org,
        token_hash=hash_token(raw),
        expires_at=timezone.now() + timedelta(days=settings.BOUCLE_REGISTRATION_CONFIRM_DAYS),
    )
    event_record(
        name="registration.requested",
        aggregate_type="registration",
        aggregate_id=registration.pk,
        actor=f"user:{user.pk}",
        organisation_id=org.pk,
        payload={"kind": kind},
    )
    # The raw code cannot be reloaded from the database, so the task carries it.
    _after_commit(tasks.send_registration_confirmation, registration_id=registration.pk, token=raw)
    return registration


def _registration_of_existing_address(user: User) -> None:
    registration = (
        Registration.objects.select_for_update().filter(user=user, confirmed_at__isnull=True).first()
    )
    if registration is not None:
        if registration.expires_at <= timezone.now():
            return  # about to be pruned; a new sign-up is possible once it is
        raw = secrets.token_urlsafe(32)
        registration.token_hash = hash_token(raw)
        registration.save(update_fields=["token_hash", "updated_at"])
        event_record(
            name="registration.code_resent",
            aggregate_type="registration",
            aggregate_id=registration.pk,
            organisation_id=registration.organisation_id,
        )
        _after_commit(tasks.send_registration_confirmation, registration_id=registration.pk, token=raw)
        return
    if not user.is_active:
        return  # deactivated by the operator: nothing to tell
    event_record(name="registration.address_taken", aggregate_type="user", aggregate_id=user.pk)
    _after_commit(tasks.send_registration_attempt_notice, user_id=user.pk)


def _registration_token_invalid() -> InvalidInput:
    message = _("This confirmation code is not valid, or has expired; sign up again for a new one.")
    return InvalidInput(message, code="registration_token_invalid", field_errors={"token": [message]})


@transaction.atomic
def registration_confirm(*, token: str) -> User:
    """The code from the confirmation e-mail activates the account; the organisation then waits for the
    operator's verification, and the operator is told. A code works once, until its sign-up expires."""
    registration = (
        Registration.objects.select_for_update()
        .select_related("user", "organisation")
        .filter(token_hash=hash_token(token or ""))
        .first()
    )
    now = timezone.now()
    if registration is None or not registration.is_pending or registration.expires_at <= now:
        raise _registration_token_invalid()
    user, org = registration.user, registration.organisation
    user.is_active = True
    user.save(update_fields=["is_active"])
    registration.confirmed_at = now
    registration.save(update_fields=["confirmed_at", "updated_at"])
    event = event_record(
        name="organisation.registered",
        aggregate_type="organisation",
        aggregate_id=org.pk,
        actor=f"user:{user.pk}",
        organisation_id=org.pk,
        payload={"kind": org.kind},
    )
    _after_commit(tasks.send_registration_notice, event_id=event.pk)
    return user


def registrations_prune(*, now: datetime | None = None) -> int:
    """Deletes the sign-ups left unconfirmed past their expiry: the inactive account, and its organisation
    unless someone else joined it or it holds records meanwhile (then it stays for the operator). For the
    beat; one transaction each. Returns how many were deleted."""
    now = now or timezone.now()
    # An account the operator activated by hand is theirs to keep.
    expired = Registration.objects.filter(
        confirmed_at__isnull=True, expires_at__lte=now, user__is_active=False
    )
    deleted = 0
    for registration_id in expired.order_by("id").values_list("id", flat=True):
        with transaction.atomic():
            registration = expired.select_for_update(of=("self",)).filter(pk=registration_id).first()
            if registration is None:
                continue  # confirmed in the meantime
            user_id, org_id = registration.user_id, registration.organisation_id
            if not Membership.objects.filter(organisation_id=org_id).exclude(user_id=user_id).exists():
                try:
                    with transaction.atomic():
                        Organisation.objects.filter(pk=org_id).delete()
                except ProtectedError:
                    logger.warning("organisation %s of an expired sign-up kept: it holds records", org_id)
            User.objects.filter(pk=user_id, is_active=False).delete()
            event_record(
                name="registration.expired",
                aggregate_type="registration",
                aggregate_id=registration_id,
                organisation_id=org_id,
            )
            deleted += 1
    return deleted

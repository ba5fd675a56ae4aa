"""State changes of organisations, sign-ups, memberships, sites, API keys, passwords and sessions. One
function per change, in a transaction, called alike by views, the admin, commands and tasks."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import TypeVar

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.tokens import default_token_generator
from django.contrib.gis.geos import Point
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, ProtectedError
from django.utils import timezone
from django.utils.encoding import force_str
from django.utils.http import urlsafe_base64_decode
from django.utils.translation import gettext as _
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from core.errors import Conflict, DomainError, InvalidInput, NotFound, PermissionDenied
from core.events import event_record
from territories.rules import site_territory

from . import tasks
from .actors import Actor
from .models import (
    SELF_REGISTERED_KINDS,
    ApiKey,
    ApiKeyScope,
    Invitation,
    Membership,
    MembershipRole,
    Organisation,
    OrganisationKind,
    Registration,
    Site,
    User,
)
from .tokens import hash_token
from .validators import IdentifierErrors, organisation_identifiers

logger = logging.getLogger(__name__)
T = TypeVar("T")

SITE_FIELDS = ("name", "address", "opening_notes")


def _locate(site: Site) -> None:
    """Attach the site to its territory; a point outside every territory is refused (territories.rules)."""
    site.territory = site_territory(point=site.location)


@transaction.atomic
def site_create(
    *,
    actor: Actor,
    organisation_id: int | None = None,
    name: str,
    location: Point,
    address: str = "",
    opening_notes: str = "",
) -> Site:
    actor.require_write()
    organisation = actor.acting_organisation(organisation_id)
    site = Site(
        organisation=organisation, name=name, location=location, address=address, opening_notes=opening_notes
    )
    _locate(site)
    site.save()
    return site


@transaction.atomic
def site_update(*, actor: Actor, site: Site, location: Point | None = None, **changes: str) -> Site:
    actor.require_write()
    actor.require_member(site.organisation_id)
    site = Site.objects.select_for_update().get(pk=site.pk)
    for name, value in changes.items():
        if name not in SITE_FIELDS:
            raise TypeError(f"site_update() got an unexpected field {name!r}")
        setattr(site, name, value)
    moved = location is not None and not location.equals_exact(site.location, tolerance=0)
    if moved:
        site.location = location
        _locate(site)
    site.save()
    if moved:
        # Offers and needs carry a copy of their site's point (search and matching read one indexed
        # table each): keep them in step, through the reverse relations so that this layer imports
        # neither exchange nor matching.
        site.offers.update(
            location=site.location, public_location=site.public_location, updated_at=timezone.now()
        )
        site.needs.update(location=site.location, updated_at=timezone.now())
    return site


@transaction.atomic
def site_delete(*, actor: Actor, site: Site) -> None:
    """Sites that offers point to are retired (kept for the ledger), others are deleted."""
    actor.require_write()
    actor.require_member(site.organisation_id)
    site = Site.objects.select_for_update().get(pk=site.pk)
    if _site_has_history(site):
        site.is_active = False
        site.save(update_fields=["is_active", "updated_at"])
    else:
        site.delete()


def _site_has_history(site: Site) -> bool:
    # Any related object pointing at the site (offers, needs…) keeps it for the record.
    for relation in site._meta.related_objects:
        if (
            relation.one_to_many
            and relation.related_model is not None
            and relation.related_model._default_manager.filter(**{relation.field.name: site}).exists()
        ):
            return True
    return False


# ---------------------------------------------------------------------------------------------------
# People and organisations
# ---------------------------------------------------------------------------------------------------

ORGANISATION_FIELDS = ("name", "siret", "rna", "description", "email", "phone", "website")
INVITATION_LIFETIME = timedelta(days=7)
LANGUAGES = ("fr", "en")

# Unique constraints the database enforces, and the input field each one is about.
_UNIQUE_FIELDS = {"org_siret_unique": "siret", "org_rna_unique": "rna", "user_email_ci_unique": "email"}


def _invalid(field_errors: dict[str, list[str]]) -> InvalidInput:
    """Business-rule failures on fields read exactly like the serializer's own (one code for clients)."""
    return InvalidInput(
        _("The request has invalid fields."), code="validation_error", field_errors=field_errors
    )


def _after_commit(task, **kwargs) -> None:
    """Enqueue a task once the transaction commits. Robust: a broker outage must not turn a committed
    registration into an error; the daily reminder and re-sent invitations cover a lost message."""
    transaction.on_commit(lambda: task.delay(**kwargs), robust=True)


def _constraint_of(exc: IntegrityError) -> str:
    diag = getattr(exc.__cause__, "diag", None)
    return getattr(diag, "constraint_name", None) or ""


def _unique_field_of(exc: IntegrityError) -> str | None:
    name = _constraint_of(exc)
    if name in _UNIQUE_FIELDS:
        return _UNIQUE_FIELDS[name]
    return "email" if "email" in name else None


def _duplicate_message(field: str) -> str:
    return {
        "email": _("An account already exists for this e-mail address."),
        "siret": _(
            "An organisation with this SIRET is already registered; ask its administrator to invite you."
        ),
        "rna": _(
            "An association with this RNA number is already registered; ask its administrator to invite you."
        ),
    }[field]


def _password_errors(password: str, user: User) -> list[str]:
    try:
        validate_password(password, user=user)
    except DjangoValidationError as exc:
        return list(exc.messages)
    return []


def _identifier_errors(
    *, kind: str, siret: str, rna: str, exclude_id: int | None = None
) -> tuple[tuple[str, str], dict[str, list[str]]]:
    """((siret, rna) normalised, field errors) — format per kind, then uniqueness."""
    try:
        clean_siret, clean_rna = organisation_identifiers(kind=kind, siret=siret, rna=rna)
    except IdentifierErrors as exc:
        return (siret, rna), exc.errors
    errors: dict[str, list[str]] = {}
    others = Organisation.objects.exclude(pk=exclude_id) if exclude_id else Organisation.objects.all()
    if clean_siret and others.filter(siret=clean_siret).exists():
        errors["siret"] = [_duplicate_message("siret")]
    if clean_rna and others.filter(rna=clean_rna).exists():
        errors["rna"] = [_duplicate_message("rna")]
    return (clean_siret, clean_rna), errors


def _save_or_field_error(obj, *, prefix: str = "") -> None:
    """Save; a unique constraint lost to a concurrent request becomes the same field error as the
    check that preceded it."""
    try:
        with transaction.atomic():
            obj.save()
    except IntegrityError as exc:
        field = _unique_field_of(exc)
        if field is None:
            raise
        raise _invalid({f"{prefix}{field}": [_duplicate_message(field)]}) from exc


def _user_new(
    *,
    email: str,
    password: str | None,
    first_name: str,
    last_name: str,
    preferred_language: str,
    is_active: bool = True,
) -> User:
    user = User(
        email=User.objects.normalize_email(email).lower(),
        first_name=first_name,
        last_name=last_name,
        preferred_language=preferred_language if preferred_language in LANGUAGES else "fr",
        is_active=is_active,
    )
    if password:
        user.set_password(password)
    else:
        user.set_unusable_password()
    _save_or_field_error(user)
    return user


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


@transaction.atomic
def organisation_create(
    *, actor: Actor, kind: str, name: str, siret: str = "", rna: str = "", **fields: str
) -> Organisation:
    """An operator creates an organisation of any kind (public authorities and operators come this way)."""
    if not actor.is_operator:
        raise PermissionDenied(_("Only the platform operator creates organisations."))
    if kind not in OrganisationKind.values:
        raise _invalid({"kind": [_("Unknown kind.")]})
    unknown = set(fields) - set(ORGANISATION_FIELDS)
    if unknown:
        raise TypeError(f"organisation_create() got unexpected fields {sorted(unknown)}")
    (siret, rna), errors = _identifier_errors(kind=kind, siret=siret, rna=rna)
    if errors:
        raise _invalid(errors)
    org = Organisation(kind=kind, name=name, siret=siret, rna=rna, **fields)
    _save_or_field_error(org)
    event_record(
        name="organisation.created",
        aggregate_type="organisation",
        aggregate_id=org.pk,
        actor=actor.label,
        organisation_id=org.pk,
        payload={"kind": kind},
    )
    return org


@transaction.atomic
def organisation_update(*, actor: Actor, organisation_id: int, **changes: str) -> Organisation:
    """An administrator edits the organisation's details. The kind and the verification are not
    theirs to change, and once verified the SIRET and RNA number change only through the operator."""
    actor.require_admin(organisation_id)
    unknown = set(changes) - set(ORGANISATION_FIELDS)
    if unknown:
        raise TypeError(f"organisation_update() got unexpected fields {sorted(unknown)}")
    org = Organisation.objects.select_for_update().filter(pk=organisation_id).first()
    if org is None:
        raise NotFound(_("No such organisation."))
    if "siret" in changes or "rna" in changes:
        siret, rna = changes.get("siret", org.siret), changes.get("rna", org.rna)
        (siret, rna), errors = _identifier_errors(kind=org.kind, siret=siret, rna=rna, exclude_id=org.pk)
        if errors:
            raise _invalid(errors)
        if org.is_verified and (siret, rna) != (org.siret, org.rna) and not actor.is_operator:
            raise PermissionDenied(
                _("This organisation is verified: ask the operator to change its SIRET or RNA number."),
                code="verified_identity",
            )
        changes.update(siret=siret, rna=rna)
    changed = sorted(field for field, value in changes.items() if getattr(org, field) != value)
    if not changed:
        return org
    for field in changed:
        setattr(org, field, changes[field])
    _save_or_field_error(org)
    event_record(
        name="organisation.updated",
        aggregate_type="organisation",
        aggregate_id=org.pk,
        actor=actor.label,
        organisation_id=org.pk,
        payload={"fields": changed},
    )
    return org


@transaction.atomic
def organisation_verify(*, actor: Actor, organisation_id: int) -> Organisation:
    """The operator vouches for an organisation, which may then publish and claim. Idempotent: verifying
    a verified organisation changes nothing and sends nothing."""
    if not actor.is_operator:
        actor.require_member(organisation_id)
        raise PermissionDenied(_("Only the platform operator verifies organisations."))
    now = timezone.now()
    newly_verified = Organisation.objects.filter(pk=organisation_id, verified_at__isnull=True).update(
        verified_at=now, verified_by=actor.user, updated_at=now
    )
    org = Organisation.objects.filter(pk=organisation_id).first()
    if org is None:
        raise NotFound(_("No such organisation."))
    if newly_verified:
        event = event_record(
            name="organisation.verified",
            aggregate_type="organisation",
            aggregate_id=org.pk,
            actor=actor.label,
            organisation_id=org.pk,
        )
        _after_commit(tasks.send_verified_email, event_id=event.pk)
    return org


@transaction.atomic
def organisation_provision(
    *,
    kind: str,
    name: str,
    admin_email: str,
    password: str | None = None,
    verified: bool = False,
    siret: str = "",
    rna: str = "",
) -> tuple[Organisation, User, bool]:
    """For the `create_organisation` command: the organisation (found by kind and name, else created),
    its administrator (found by e-mail, else created), optionally verified. Safe to run again.
    Returns (organisation, administrator, whether the organisation was created)."""
    actor = Actor.for_system()
    org = Organisation.objects.filter(kind=kind, name__iexact=name).order_by("id").first()
    created = org is None
    if org is None:
        org = organisation_create(actor=actor, kind=kind, name=name, siret=siret, rna=rna)
    user = User.objects.filter(email__iexact=admin_email).first()
    if user is None:
        if password and (errors := _password_errors(password, User(email=admin_email))):
            raise _invalid({"password": errors})
        user = _user_new(
            email=admin_email, password=password, first_name="", last_name="", preferred_language="fr"
        )
    if kind == OrganisationKind.OPERATOR and not (user.is_staff and user.is_superuser):
        # Operators run the platform; the Django admin, on every model, is their tool.
        user.is_staff = user.is_superuser = True
        user.save(update_fields=["is_staff", "is_superuser"])
    Membership.objects.update_or_create(user=user, organisation=org, defaults={"role": MembershipRole.ADMIN})
    if verified:
        org = organisation_verify(actor=actor, organisation_id=org.pk)
    return org, user, created


@transaction.atomic
def user_update(*, user: User, **changes: str) -> User:
    """A person edits their own names and preferred language."""
    allowed = {"first_name", "last_name", "preferred_language"}
    if set(changes) - allowed:
        raise TypeError(f"user_update() got unexpected fields {sorted(set(changes) - allowed)}")
    if changes.get("preferred_language", "fr") not in LANGUAGES:
        raise _invalid({"preferred_language": [_("Use fr or en.")]})
    if changes:
        for field, value in changes.items():
            setattr(user, field, value)
        user.save(update_fields=[*changes])
    return user


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


# ---------------------------------------------------------------------------------------------------
# Sessions: refresh tokens, their rotation and their revocation
#
# The HTTP layer signs the tokens (simplejwt) and records each refresh token as outstanding; these
# services decide what a refresh token may still do. A refresh token is good for one use, a refresh
# (which hands out its successor) or a logout. A second use of the same token means that two parties
# hold it, one of them a thief: every session of the account ends. Each token also carries the
# person's epoch (User.token_epoch): revoking moves the epoch on, which ends every access token and
# dashboard session too.
# ---------------------------------------------------------------------------------------------------

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


def _refresh_token_locked(jti: str) -> OutstandingToken:
    token = (
        OutstandingToken.objects.select_for_update(of=("self",))
        .select_related("user")
        .filter(jti=jti)
        .first()
    )
    if token is None:
        # Tokens are recorded as they are signed: one unknown here was never handed out by Boucle.
        raise SessionRefused(_("This token is not valid."), code="token_not_valid")
    if token.user is None or not token.user.is_active:
        raise SessionRefused(_("No active account found for the given token."), code="no_active_account")
    return token


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
        token = _refresh_token_locked(jti)
        user = token.user
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
        token = _refresh_token_locked(jti)
        user = token.user
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

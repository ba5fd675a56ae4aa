"""State changes of organisations, memberships, sites and API keys. One function per change, in a
transaction, called alike by views, the admin, commands and tasks."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import timedelta

from django.contrib.auth.password_validation import validate_password
from django.contrib.gis.geos import Point
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from core.events import event_record
from territories.selectors import territory_containing

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
    Site,
    User,
)
from .tokens import hash_token
from .validators import IdentifierErrors, organisation_identifiers

SITE_FIELDS = ("name", "address", "opening_notes")


def _locate(site: Site) -> None:
    site.territory = territory_containing(point=site.location)


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
    if location is not None:
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
    *, email: str, password: str | None, first_name: str, last_name: str, preferred_language: str
) -> User:
    user = User(
        email=User.objects.normalize_email(email).lower(),
        first_name=first_name,
        last_name=last_name,
        preferred_language=preferred_language if preferred_language in LANGUAGES else "fr",
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
) -> Membership:
    """A person signs up with their organisation (company, association or project). The organisation
    starts unverified, the person is its administrator, and the operator is told by e-mail."""
    errors: dict[str, list[str]] = {}
    email = User.objects.normalize_email(email).lower()
    if User.objects.filter(email__iexact=email).exists():
        errors["email"] = [_duplicate_message("email")]
    candidate = User(email=email, first_name=first_name, last_name=last_name)
    if password_errors := _password_errors(password, candidate):
        errors["password"] = password_errors
    kind = organisation.get("kind", "")
    if kind not in SELF_REGISTERED_KINDS:
        errors["organisation.kind"] = [
            _("Only companies, associations and projects register; the operator creates the others.")
        ]
    else:
        (siret, rna), identifier_errors = _identifier_errors(
            kind=kind, siret=organisation.get("siret", ""), rna=organisation.get("rna", "")
        )
        errors.update({f"organisation.{field}": messages for field, messages in identifier_errors.items()})
    if errors:
        raise _invalid(errors)

    user = _user_new(
        email=email,
        password=password,
        first_name=first_name,
        last_name=last_name,
        preferred_language=preferred_language,
    )
    org = Organisation(kind=kind, **{f: organisation.get(f, "") for f in ORGANISATION_FIELDS})
    org.siret, org.rna = siret, rna
    _save_or_field_error(org, prefix="organisation.")
    membership = Membership.objects.create(user=user, organisation=org, role=MembershipRole.ADMIN)
    event = event_record(
        name="organisation.registered",
        aggregate_type="organisation",
        aggregate_id=org.pk,
        actor=f"user:{user.pk}",
        organisation_id=org.pk,
        payload={"kind": kind},
    )
    _after_commit(tasks.send_registration_notice, event_id=event.pk)
    return membership


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

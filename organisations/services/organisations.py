"""State changes of organisations (created by the operator, edited by their administrators, verified,
provisioned by a command) and of a person's own profile."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import NotFound, PermissionDenied
from core.events import event_record

from .. import tasks
from ..actors import Actor
from ..models import Membership, MembershipRole, Organisation, OrganisationKind, User
from ._common import (
    LANGUAGES,
    ORGANISATION_FIELDS,
    _after_commit,
    _identifier_errors,
    _invalid,
    _password_errors,
    _save_or_field_error,
    _user_new,
)


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

"""Reads. Each selector takes the actor and only ever returns what that actor may see."""

from __future__ import annotations

from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _

from core.errors import NotFound

from .actors import Actor
from .models import SELF_REGISTERED_KINDS, ApiKey, Invitation, Membership, Organisation, Site, User


def sites_visible_to(*, actor: Actor) -> QuerySet[Site]:
    qs = Site.objects.select_related("territory", "organisation").filter(is_active=True)
    if actor.is_operator:
        return qs
    return qs.filter(organisation_id__in=actor.organisation_ids)


def site_get(*, actor: Actor, site_id: int) -> Site:
    """Fetch and authorise in one call: out of scope reads as absent."""
    site = sites_visible_to(actor=actor).filter(pk=site_id).first()
    if site is None:
        raise NotFound(_("No such site."))
    return site


def organisations_visible_to(*, actor: Actor) -> QuerySet[Organisation]:
    qs = Organisation.objects.all()
    if actor.is_operator:
        return qs
    return qs.filter(id__in=actor.organisation_ids)


def organisation_get(*, actor: Actor, organisation_id: int) -> Organisation:
    organisation = organisations_visible_to(actor=actor).filter(pk=organisation_id).first()
    if organisation is None:
        raise NotFound(_("No such organisation."))
    return organisation


def api_keys_visible_to(*, actor: Actor, organisation_id: int | None = None) -> QuerySet[ApiKey]:
    """Keys of the organisations the actor administers; naming one the actor only belongs to is a 403,
    one it does not belong to a 404."""
    if organisation_id is not None:
        actor.require_admin(organisation_id)
        return ApiKey.objects.filter(organisation_id=organisation_id)
    admin_of = [org_id for org_id in actor.organisation_ids if actor.is_admin(org_id)]
    return ApiKey.objects.filter(organisation_id__in=admin_of)


def organisations_pending_verification(*, actor: Actor) -> QuerySet[Organisation]:
    """Self-registered organisations not verified yet, oldest first (operators only). A sign-up whose
    e-mail address is not confirmed yet is not the operator's business."""
    if not actor.is_operator:
        return Organisation.objects.none()
    return (
        Organisation.objects.filter(verified_at__isnull=True, kind__in=SELF_REGISTERED_KINDS)
        .filter(Q(registration__isnull=True) | Q(registration__confirmed_at__isnull=False))
        .order_by("created_at", "id")
    )


def memberships_of(*, user: User) -> QuerySet[Membership]:
    return (
        Membership.objects.filter(user=user)
        .select_related("organisation")
        .order_by("organisation__name", "id")
    )


def invitations_of(*, actor: Actor, organisation_id: int) -> QuerySet[Invitation]:
    """An organisation's invitations, for its administrators (members: 403, others: 404)."""
    actor.require_admin(organisation_id)
    return Invitation.objects.filter(organisation_id=organisation_id)


def api_key_get(*, actor: Actor, api_key_id: int) -> ApiKey:
    """A key of one of the actor's organisations; anything else reads as absent."""
    qs = (
        ApiKey.objects.all()
        if actor.is_operator
        else ApiKey.objects.filter(organisation_id__in=actor.organisation_ids)
    )
    key = qs.filter(pk=api_key_id).first()
    if key is None:
        raise NotFound(_("No such API key."))
    return key

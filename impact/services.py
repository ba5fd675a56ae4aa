"""State changes of the impact app: which territories a public authority sees. Operator only; the
admin, the `link_authority_territories` command and the demo call these same functions."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction
from django.utils.translation import gettext as _

from core.errors import InvalidInput, NotFound, PermissionDenied
from core.events import event_record
from organisations.actors import Actor
from organisations.models import Organisation, OrganisationKind
from territories.models import Territory

from .models import PublicAuthorityTerritory


def _authority_for_update(*, actor: Actor, organisation_id: int) -> Organisation:
    if not actor.is_operator:
        raise PermissionDenied(_("Only the platform operator links authorities to territories."))
    organisation = Organisation.objects.select_for_update().filter(pk=organisation_id).first()
    if organisation is None:
        raise NotFound(_("No such organisation."))
    if organisation.kind != OrganisationKind.PUBLIC_AUTHORITY:
        message = _("Only a public authority is linked to territories.")
        raise InvalidInput(message, code="not_public_authority", field_errors={"organisation": [message]})
    return organisation


@transaction.atomic
def authority_territories_link(*, actor: Actor, organisation_id: int, territory_ids: Iterable[int]) -> int:
    """Let a public authority see these territories' statistics. Idempotent; returns how many links
    were added."""
    organisation = _authority_for_update(actor=actor, organisation_id=organisation_id)
    wanted = set(territory_ids)
    known = set(Territory.objects.filter(pk__in=wanted).values_list("pk", flat=True))
    if wanted - known:
        message = _("Unknown territory.")
        raise InvalidInput(message, field_errors={"territories": [message]})
    existing = set(
        PublicAuthorityTerritory.objects.filter(organisation=organisation).values_list(
            "territory_id", flat=True
        )
    )
    added = sorted(wanted - existing)
    PublicAuthorityTerritory.objects.bulk_create(
        [PublicAuthorityTerritory(organisation=organisation, territory_id=t) for t in added],
        ignore_conflicts=True,
    )
    if added:
        event_record(
            name="authority.territories_linked",
            aggregate_type="organisation",
            aggregate_id=organisation.pk,
            actor=actor.label,
            organisation_id=organisation.pk,
            payload={"territory_ids": added},
        )
    return len(added)


@transaction.atomic
def authority_territories_unlink(*, actor: Actor, organisation_id: int, territory_ids: Iterable[int]) -> int:
    """Stop a public authority seeing these territories. Returns how many links were removed."""
    organisation = _authority_for_update(actor=actor, organisation_id=organisation_id)
    links = PublicAuthorityTerritory.objects.filter(
        organisation=organisation, territory_id__in=set(territory_ids)
    )
    removed = sorted(links.values_list("territory_id", flat=True))
    links.delete()
    if removed:
        event_record(
            name="authority.territories_unlinked",
            aggregate_type="organisation",
            aggregate_id=organisation.pk,
            actor=actor.label,
            organisation_id=organisation.pk,
            payload={"territory_ids": removed},
        )
    return len(removed)

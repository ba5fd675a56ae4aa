"""What the dashboard offers each person, by the one scoping rule of the statistics
(impact.query.stats_scope_for): the territories they may filter by, and a line saying whose figures
these are. A thin adapter: impact.selectors has no "territories in my scope" list of its own."""

from __future__ import annotations

from django.db.models import QuerySet
from django.utils.translation import gettext as _

from impact.query import StatsScope
from organisations.actors import Actor
from organisations.models import Organisation
from territories.models import Territory


def territory_choices(*, scope: StatsScope) -> QuerySet[Territory]:
    """The territories a filter may name without a 404, as StatsScope.sees_territory decides: every
    territory for the operator and for organisations (their own handovers, wherever they took place),
    the linked territories for a public authority."""
    territories = Territory.objects.defer("geometry", "properties").order_by("kind", "name", "code")
    if scope.everything or scope.organisation_ids:
        return territories
    return territories.filter(pk__in=scope.territory_ids)


def scope_description(*, actor: Actor, scope: StatsScope) -> str:
    if scope.everything:
        return _("Operator: every territory and every organisation.")
    names = list(Organisation.objects.filter(pk__in=actor.organisation_ids).values_list("name", flat=True))
    if not names:
        return _("You are not a member of any organisation yet: there is nothing to show.")
    if scope.territory_ids and not scope.organisation_ids:
        return _("Territories of %(names)s.") % {"names": ", ".join(names)}
    if scope.territory_ids:
        return _(
            "Territories of your public authority and the handovers of your organisations: %(names)s."
        ) % {"names": ", ".join(names)}
    return _("Handovers of your organisations: %(names)s.") % {"names": ", ".join(names)}

"""The anonymised ledger (`stats_ledger`): the ledger rows in scope with the kinds of the parties,
never who they are, for public authorities and the operator. The scope and filters are those of the
statistics' SQL (impact.sql), written for the ORM."""

from __future__ import annotations

from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _

from claims.models import Handover
from core.errors import PermissionDenied
from organisations.actors import Actor

from ..query import StatsParams, StatsQuery, stats_query_resolve, stats_scope_for

LEDGER_FIELDS = (
    "id",
    "collected_at",
    "category__key",
    "territory__code",
    "donor_kind",
    "recipient_kind",
    "quantity",
    "unit",
    "mass_kg",
    "mass_method",
    "factor_version",
    "factor_basis",
    "factor_kgco2e",
    "factor_status",
    "co2e_avoided_kg",
    "reverses_id",
    "corrects_id",
    "mode",
    "outlier",
    "mass_confirmed",
    "expected_mass_kg",
    "factor_items",
)


def _ledger_q(query: StatsQuery) -> Q:
    """The scope and filters of impact.sql._where, for the ORM."""
    condition = Q(collected_at__gte=query.start, collected_at__lt=query.end)
    condition &= query.scope.q(territory="territory_id", parties=("donor_id", "recipient_id"))
    if query.territory is not None:
        condition &= Q(territory_id=query.territory.pk)
    if query.category_ids is not None:
        condition &= Q(category_id__in=query.category_ids)
    if query.donor_kind is not None:
        condition &= Q(donor_kind=query.donor_kind)
    if query.recipient_kind is not None:
        condition &= Q(recipient_kind=query.recipient_kind)
    if query.outlier is not None:
        condition &= Q(outlier=query.outlier)
    return condition


def stats_ledger(*, actor: Actor, params: StatsParams) -> QuerySet:
    """Ledger rows in scope without people or organisations: each row names the kinds of the parties,
    never who they are, nor who recorded it, nor its note. For the operator and public authorities.
    Every row is listed, loans included (`mode` says which rows count as diverted)."""
    scope = stats_scope_for(actor=actor)
    if not scope.is_authority:
        raise PermissionDenied(
            _("The anonymised ledger is for public authorities and the operator."), code="authority_only"
        )
    query = stats_query_resolve(actor=actor, params=params, scope=scope)
    return Handover.objects.filter(_ledger_q(query)).values(*LEDGER_FIELDS)

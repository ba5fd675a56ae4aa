"""The monthly reports a caller may read (`reports_visible_to`, `report_get`), and when the data
behind the figures last changed (`stats_last_modified`, for the HTTP layer's validators)."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Max, Q, QuerySet
from django.utils.translation import gettext as _

from claims.models import Claim, Handover
from core.errors import NotFound
from exchange.models import Offer
from matching.models import Match, Need
from organisations.actors import Actor
from territories.models import Territory

from ..models import MonthlyReport
from ..query import stats_scope_for


def reports_visible_to(*, actor: Actor) -> QuerySet[MonthlyReport]:
    """Reports of the territories in scope; the all-territories report to those who see them all."""
    scope = stats_scope_for(actor=actor)
    reports = MonthlyReport.objects.select_related("territory")
    if scope.everything:
        return reports
    if not scope.territory_ids:
        return reports.none()
    visible = Q(territory_id__in=scope.territory_ids)
    if not Territory.objects.exclude(pk__in=scope.territory_ids).exists():
        visible |= Q(territory__isnull=True)
    return reports.filter(visible)


def report_get(*, actor: Actor, report_id: int) -> MonthlyReport:
    report = reports_visible_to(actor=actor).filter(pk=report_id).first()
    if report is None:
        raise NotFound(_("No such report."))
    return report


def stats_last_modified(*, market: bool = False, loans: bool = False) -> datetime | None:
    """When the data behind the figures last changed: the latest ledger row; with `loans` the latest
    change to a claim (a loan's return), with `market` also to offers, needs and matches."""
    latest = Handover.objects.order_by("-id").values_list("recorded_at", flat=True).first()
    moments = [latest]
    if loans and not market:
        moments.append(Claim.objects.aggregate(m=Max("updated_at"))["m"])
    if market:
        moments += [
            Offer.objects.aggregate(m=Max("updated_at"))["m"],
            Claim.objects.aggregate(m=Max("updated_at"))["m"],
            Need.objects.aggregate(m=Max("updated_at"))["m"],
            Match.objects.order_by("-id").values_list("created_at", flat=True).first(),
        ]
    known = [moment for moment in moments if moment is not None]
    return max(known) if known else None

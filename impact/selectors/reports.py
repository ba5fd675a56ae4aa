"""The monthly reports a caller may read (`reports_visible_to`, `report_get`), and when the data
behind the figures last changed (`stats_last_modified`, for the HTTP layer's validators)."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Max, Q, QuerySet
from django.utils.translation import gettext as _

from core.errors import NotFound
from organisations.actors import Actor
from territories.models import Territory

from ..models import DataVersion, MonthlyReport
from ..query import stats_scope_for
from ..versions import ALL_SOURCES, LEDGER_SOURCES, LOAN_SOURCES


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
    """When the data behind the figures last changed: the last commit that bumped the data versions
    (impact.versions) of the ledger and the reference data; with `loans` also of the claims (a loan's
    return), with `market` also of the offers, needs and matches. One query; read it before the
    figures, so that it is never later than what they show."""
    sources = ALL_SOURCES if market else LOAN_SOURCES if loans else LEDGER_SOURCES
    return DataVersion.objects.filter(source__in=sources).aggregate(m=Max("changed_at"))["m"]

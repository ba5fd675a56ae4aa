"""Monthly reports: last month's figures for each territory an authority is linked to, and for all
territories together, as a CSV table and a printable HTML page (French), kept through Django storage.

The CSV is written by core.tables with the rule of every export: the machine keys (those of the
statistics timeseries: `group`, `label`, `handovers`, `tonnes`, `co2e_kg`), then, the report being a
French printable document, its French labels; then one row per category and the total.

`monthly_report_build` is idempotent: a (territory, month) that has its report is left as it is, and
concurrent builders of the same report serialise on an advisory lock."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.core.files.base import ContentFile
from django.db import connection, transaction
from django.template.loader import render_to_string
from django.utils import timezone, translation

from core.tables import columns_of, file_stem, table_bytes
from territories.models import Territory

from .models import MonthlyReport, PublicAuthorityTerritory
from .query import StatsQuery, StatsScope
from .rollups import ROLLUP_TIME_ZONE
from .selectors import summary_for, territories_for, timeseries_for

REPORT_LANGUAGE = "fr"

CSV_COLUMNS = columns_of(
    ("group", "Catégorie", "Category"),
    ("label", "Libellé", "Label"),
    ("handovers", "Remises (nettes des annulations)", "Handovers (net of reversals)"),
    ("tonnes", "Tonnes détournées", "Tonnes diverted"),
    ("co2e_kg", "CO2e évité (kg)", "CO2e avoided (kg)"),
)


def previous_month(now: datetime | None = None) -> date:
    """First day of the month before `now`'s, in Europe/Paris."""
    today = (now or timezone.now()).astimezone(ZoneInfo(ROLLUP_TIME_ZONE)).date()
    return (today.replace(day=1) - timedelta(days=1)).replace(day=1)


def _month_end(month: date) -> date:
    return (month + timedelta(days=32)).replace(day=1) - timedelta(days=1)


def report_query(*, territory: Territory | None, month: date) -> StatsQuery:
    """One territory's figures, or with no territory those of every territory (rows outside any
    territory are left out, as they are for an authority covering them all)."""
    if territory is None:
        scope = StatsScope(territory_ids=frozenset(Territory.objects.values_list("pk", flat=True)))
    else:
        scope = StatsScope(everything=True)
    return StatsQuery(
        scope=scope,
        date_from=month,
        date_to=_month_end(month),
        tz=ZoneInfo(ROLLUP_TIME_ZONE),
        territory=territory,
    )


def _csv(summary: dict, categories: list[dict]) -> bytes:
    """The table, in the active language (the report's)."""
    total = {
        "group": "total",
        "label": "Total",
        "handovers": summary["handovers"],
        "tonnes": summary["tonnes_diverted"],
        "co2e_kg": summary["co2e_avoided_kg"],
    }
    return table_bytes(CSV_COLUMNS, [*categories, total], labels=True)


def _render(territory: Territory | None, month: date) -> tuple[bytes, bytes]:
    query = report_query(territory=territory, month=month)
    with translation.override(REPORT_LANGUAGE):
        summary = summary_for(query)
        categories = [
            p
            for p in timeseries_for(query, interval="month", group_by="category")["points"]
            if p["handovers"] or p["tonnes"]
        ]
        communes = None
        if territory is None:
            communes = [
                t for t in territories_for(query, with_geometry=False) if t["handovers"] or t["mass_kg"]
            ]
            communes.sort(key=lambda t: (-t["mass_kg"], t["code"]))
        csv_bytes = _csv(summary, categories)
        html = render_to_string(
            "impact/monthly_report.html",
            {
                "territory": territory,
                "month": month,
                "summary": summary,
                "categories": categories,
                "communes": communes,
                "generated_at": timezone.now(),
            },
        )
    return csv_bytes, html.encode("utf-8")


def _file_stem(territory: Territory | None, month: date) -> str:
    place = f"{territory.kind}-{territory.code}" if territory is not None else "all-territories"
    return file_stem(f"{month:%Y-%m}", place)


def report_filename(report: MonthlyReport, extension: str) -> str:
    """The name a report is downloaded as (its stored file may carry a suffix the storage added)."""
    return f"{_file_stem(report.territory, report.month)}.{extension}"


@transaction.atomic
def monthly_report_build(*, territory_id: int | None, month: date) -> tuple[MonthlyReport, bool]:
    """The report of a territory (None: all territories) for the month starting `month`; (report,
    whether it was built now)."""
    month = month.replace(day=1)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [f"impact-report:{territory_id}:{month}"]
        )
    reports = MonthlyReport.objects.filter(month=month)
    if territory_id is None:
        existing = reports.filter(territory__isnull=True).first()
    else:
        existing = reports.filter(territory_id=territory_id).first()
    if existing is not None:
        return existing, False
    territory = Territory.objects.defer("geometry").get(pk=territory_id) if territory_id else None
    csv_bytes, html_bytes = _render(territory, month)
    report = MonthlyReport(territory=territory, month=month)
    stem = _file_stem(territory, month)
    report.csv_file.save(f"{stem}.csv", ContentFile(csv_bytes), save=False)
    report.html_file.save(f"{stem}.html", ContentFile(html_bytes), save=False)
    report.save()
    return report, True


def monthly_reports_build(*, month: date | None = None) -> int:
    """Every report due for `month` (default: last month): each territory linked to an authority, and
    all territories together. Returns how many were built now."""
    month = month or previous_month()
    territory_ids = sorted(set(PublicAuthorityTerritory.objects.values_list("territory_id", flat=True)))
    built = 0
    for territory_id in [None, *territory_ids]:
        _report, created = monthly_report_build(territory_id=territory_id, month=month)
        built += created
    return built

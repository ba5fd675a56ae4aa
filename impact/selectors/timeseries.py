"""The time series (`stats_timeseries`): tonnes, CO2e, handovers, outliers, loan and social indicators per
calendar bucket (day, week from Monday, month, year) in the caller's time zone and per group, every
bucket of the period and every group present, zero-filled. The grouping that goes into the SQL text is
checked here, where it is written (`_GROUP_COLUMNS`)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta

from django.utils.translation import gettext as _

from core.errors import InvalidInput
from organisations.actors import Actor

from ..lending import Window, add_loans, empty_loans, loan_figures
from ..outcome_figures import add_outcomes, empty_outcomes, outcome_figures
from ..query import StatsParams, StatsQuery, stats_query_resolve
from ..sql import Sql, facts, fetch
from ..versions import LOAN_SOURCES, figures_cached
from .common import _header, _kg, _tonnes
from .labels import _group_labels

INTERVALS = ("day", "week", "month", "year")
GROUP_BYS = ("category", "territory", "donor_kind", "recipient_kind")
MAX_TIMESERIES_POINTS = 40_000

# The only SQL a grouping may put into the timeseries query: one column of impact.sql.facts per name.
_GROUP_COLUMNS = {
    None: "NULL",
    "category": "f.category_id",
    "territory": "f.territory_id",
    "donor_kind": "f.donor_kind",
    "recipient_kind": "f.recipient_kind",
}


def _bucket_start(day: date, interval: str) -> date:
    if interval == "week":
        return day - timedelta(days=day.weekday())  # weeks start on Monday
    if interval == "month":
        return day.replace(day=1)
    if interval == "year":
        return day.replace(month=1, day=1)
    return day


def _next_bucket(start: date, interval: str) -> date:
    if interval == "day":
        return start + timedelta(days=1)
    if interval == "week":
        return start + timedelta(days=7)
    if interval == "month":
        return (start + timedelta(days=32)).replace(day=1)
    return start.replace(year=start.year + 1)


def buckets_of(date_from: date, date_to: date, interval: str) -> list[date]:
    """Calendar-aligned bucket starts covering the period (the first may start before `date_from`)."""
    out, current = [], _bucket_start(date_from, interval)
    while current <= date_to:
        out.append(current)
        current = _next_bucket(current, interval)
    return out


def stats_timeseries(
    *,
    actor: Actor,
    params: StatsParams,
    interval: str,
    group_by: str | None = None,
    prefer_rollups: bool = True,
) -> dict:
    """Tonnes, CO2e and handovers per calendar bucket (day, week from Monday, month, year) in the
    caller's time zone, per group, with the outliers among them and the loan indicators of the bucket;
    every bucket of the period and every group present, zero-filled."""
    if interval not in INTERVALS:
        raise InvalidInput(_("Unknown interval."), field_errors={"interval": [_("Unknown interval.")]})
    if group_by is not None and group_by not in GROUP_BYS:
        raise InvalidInput(_("Unknown grouping."), field_errors={"group_by": [_("Unknown grouping.")]})
    return figures_cached(
        operation="timeseries",
        sources=LOAN_SOURCES,
        resolve=lambda: replace(
            stats_query_resolve(actor=actor, params=params), prefer_rollups=prefer_rollups
        ),
        compute=lambda query: timeseries_for(query, interval=interval, group_by=group_by),
        arguments={"interval": interval, "group_by": group_by},
        refresh=lambda query, _figures: timeseries_for(query, interval=interval, group_by=group_by),
    )


def _windows(query: StatsQuery, buckets: list[date], interval: str) -> list[Window]:
    """Each bucket as [start, end) instants in the query's zone, clipped to the period."""
    out = []
    for bucket in buckets:
        start = datetime.combine(bucket, datetime.min.time(), tzinfo=query.tz)
        end = datetime.combine(_next_bucket(bucket, interval), datetime.min.time(), tzinfo=query.tz)
        out.append((bucket, max(start, query.start), min(end, query.end)))
    return out


def timeseries_for(query: StatsQuery, *, interval: str, group_by: str | None) -> dict:
    if group_by not in _GROUP_COLUMNS:
        raise InvalidInput(_("Unknown grouping."), field_errors={"group_by": [_("Unknown grouping.")]})
    column = _GROUP_COLUMNS[group_by]
    source = facts(query, months=interval in ("month", "year"))
    rows = fetch(
        Sql(
            f"SELECT date_trunc(%s, f.t)::date, {column}, "
            "SUM(f.handovers), SUM(f.mass_g), SUM(f.co2e_g), SUM(f.outliers), SUM(f.outlier_g) FROM (",
            [interval],
        )
        + source
        + Sql(") f GROUP BY 1, 2")
    )
    buckets = buckets_of(query.date_from, query.date_to, interval)
    windows = _windows(query, buckets, interval) if len(buckets) <= MAX_TIMESERIES_POINTS else []
    ledger_column = column.replace("f.", "h.")
    loans = loan_figures(query, windows, group_column=ledger_column) if windows else {}
    outcomes = outcome_figures(query, windows, interval=interval, group_column=ledger_column)
    raws = {row[1] for row in rows} | {raw for _b, raw in loans} | {raw for _b, raw in outcomes}
    labels = _group_labels(query, group_by, raws)
    groups = sorted(set(labels.values()))
    if len(buckets) * max(len(groups), 1) > MAX_TIMESERIES_POINTS:
        message = _("Too many points: choose a coarser interval or a shorter period.")
        raise InvalidInput(message, code="too_many_points", field_errors={"interval": [message]})
    sums: dict[tuple[date, str], list[int]] = {}
    for bucket, raw, *values in rows:
        cell = sums.setdefault((bucket, labels[raw][0]), [0] * 5)
        for i, value in enumerate(values):
            cell[i] += int(value)
    lent: dict[tuple[date, str], dict] = {}
    for (bucket, raw), figures in loans.items():
        add_loans(lent.setdefault((bucket, labels[raw][0]), empty_loans()), figures)
    reported: dict[tuple[date | None, str], dict] = {}
    for (bucket, raw), figures in outcomes.items():
        add_outcomes(reported.setdefault((bucket, labels[raw][0]), empty_outcomes()), figures)
    points = []
    for bucket in buckets:
        for key, label in groups:
            handovers, mass_g, co2e_g, outliers, outlier_g = sums.get((bucket, key), (0,) * 5)
            points.append(
                {
                    "bucket": bucket,
                    "group": key,
                    "label": label,
                    "handovers": handovers,
                    "tonnes": _tonnes(mass_g),
                    "co2e_kg": _kg(co2e_g),
                    "outliers": {"handovers": outliers, "tonnes": _tonnes(outlier_g)},
                    "loans": lent.get((bucket, key)) or empty_loans(),
                    "outcomes": reported.get((bucket, key)) or empty_outcomes(),
                }
            )
    return {
        **_header(query),
        "interval": interval,
        "group_by": group_by,
        "buckets": buckets,
        "groups": [{"key": key, "label": label} for key, label in groups],
        "points": points,
    }

"""The social indicators beside the tonnage: what the recipients report their lots became
(impact.outcomes), counted once per handover.

A handover is a claim's live ledger row: not a reversal and not reversed (a corrected handover is its
correction), of any mode — a loaned laptop reaches people as a given one does. It is counted in the
window of its collection, with the same scope and filters as every other figure (the row's territory,
category, kinds; impact.sql.ledger_where). Its report, when there is one, adds its people reached (of
whom young people and seniors) and volunteer hours once, however many rows the claim's ledger holds.

- `handovers`: live handovers in the window; `reported`: those with a report; `share_reported`;
- `people_reached`, `young_people`, `seniors`, `volunteer_hours`: sums over the reports;
- `by_use`: per use, the reports and their people reached (totals only, not per bucket)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from claims.models import Handover

from .lending import Window
from .models import OutcomeReport, OutcomeUse
from .query import StatsQuery
from .sql import Sql, fetch, ledger_where, table

HOURS = Decimal("0.1")
SHARE = Decimal("0.0001")


def _share(part: int, whole: int) -> Decimal | None:
    return (Decimal(part) / Decimal(whole)).quantize(SHARE) if whole else None


def _live_rows(query: StatsQuery) -> Sql:
    """The live ledger rows `h` in the query's scope and filters, each with its claim's report `o`."""
    return Sql(
        f"FROM {table(Handover)} h LEFT JOIN {table(OutcomeReport)} o ON o.claim_id = h.claim_id "
        "WHERE h.reverses_id IS NULL "
        f"AND NOT EXISTS (SELECT 1 FROM {table(Handover)} r WHERE r.reverses_id = h.id)"
    ) + ledger_where(query)


_SUMS = (
    "count(*), count(o.id), COALESCE(SUM(o.people_reached), 0), COALESCE(SUM(o.young_people), 0), "
    "COALESCE(SUM(o.seniors), 0), COALESCE(SUM(o.volunteer_hours), 0)"
)


def empty_outcomes() -> dict:
    return {
        "handovers": 0,
        "reported": 0,
        "share_reported": None,
        "people_reached": 0,
        "young_people": 0,
        "seniors": 0,
        "volunteer_hours": Decimal("0.0"),
    }


def _cell(handovers, reported, people, young, seniors, hours) -> dict:
    return {
        "handovers": int(handovers),
        "reported": int(reported),
        "share_reported": _share(int(reported), int(handovers)),
        "people_reached": int(people),
        "young_people": int(young),
        "seniors": int(seniors),
        "volunteer_hours": Decimal(hours).quantize(HOURS),
    }


def add_outcomes(total: dict, cell: dict) -> None:
    """Add the figures of `cell` to `total` (the share recomputed)."""
    for key in ("handovers", "reported", "people_reached", "young_people", "seniors", "volunteer_hours"):
        total[key] += cell[key]
    total["share_reported"] = _share(total["reported"], total["handovers"])


def outcome_figures(
    query: StatsQuery, windows: list[Window], *, interval: str | None, group_column: str = "NULL"
) -> dict[tuple[date | None, object], dict]:
    """(bucket, raw group) → the indicators of that calendar bucket (`interval`, in the query's zone,
    as impact.selectors.timeseries buckets them; None: the windows as one, bucket None) and group;
    buckets and groups without handovers are absent. `group_column` is an SQL expression on the ledger
    row `h`."""
    if not windows:
        return {}
    start, end = min(w[1] for w in windows), max(w[2] for w in windows)
    bucket = (
        Sql("NULL::date") if interval is None
        else Sql("date_trunc(%s, h.collected_at AT TIME ZONE %s)::date", [interval, query.tz.key])
    )  # fmt: skip
    sql = (
        Sql("SELECT ")
        + bucket
        + Sql(f", {group_column}, {_SUMS} ")
        + _live_rows(query)
        + Sql(" AND h.collected_at >= %s AND h.collected_at < %s GROUP BY 1, 2", [start, end])
    )
    return {(bucket, group): _cell(*sums) for bucket, group, *sums in fetch(sql)}


def outcome_totals(query: StatsQuery) -> dict:
    """The indicators of the whole period, with the reports and people reached per use."""
    period = Sql(" AND h.collected_at >= %s AND h.collected_at < %s", [query.start, query.end])
    ((sums),) = fetch(Sql(f"SELECT {_SUMS} ") + _live_rows(query) + period)
    totals = _cell(*sums)
    by_use = {
        use: (int(reports), int(people))
        for use, reports, people in fetch(
            Sql("SELECT o.use, count(*), SUM(o.people_reached) ")
            + _live_rows(query)
            + period
            + Sql(" AND o.id IS NOT NULL GROUP BY 1")
        )
    }
    totals["by_use"] = [
        {"use": use.value, "label": str(use.label), "reports": reports, "people_reached": people}
        for use in OutcomeUse
        for reports, people in [by_use.get(use.value, (0, 0))]
        if reports
    ]
    return totals

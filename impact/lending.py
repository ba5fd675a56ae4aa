"""The loan indicators: what was lent, for how long, and whether it came back on time.

Loans (ledger rows of offers in mode `loan`, see impact.diverted) never count as waste diverted nor as
CO2e avoided; they are counted here instead, from the same ledger rows with the same scope and filters
(the territory of the row, the caller's scope from impact.query.stats_scope_for), and from the claims'
due and return dates (claims.loans):

- `made`: loan rows collected in the window, net of reversals (a corrected loan counts once);
- `items_lent`: their quantity, net;
- `item_days_lent`: Σ quantity × the days each loan was out within the window, from its collection to its
  return (still out: to now), net of reversals, in days with two decimals;
- `returned`: loans (claims with net loan rows) returned in the window; `returned_on_time`: of those,
  returned no later than due.

A window is a period or one bucket of a time series; the figures of the buckets add up to those of the
period (item-days up to their rounding)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal

from django.utils import timezone

from claims.models import Claim, Handover

from .diverted import loan_sql
from .query import StatsQuery
from .sql import Sql, fetch, ledger_where, table

DAY_SECONDS = 86_400
ITEM_DAYS = Decimal("0.01")
SHARE = Decimal("0.0001")

Window = tuple[date, datetime, datetime]  # (bucket, start, exclusive end)


def _loan_rows(query: StatsQuery, group_column: str, now: datetime) -> Sql:
    return (
        Sql(
            f"""loan AS (
            SELECT h.claim_id, {group_column} AS g, h.collected_at, h.quantity,
                   CASE WHEN h.reverses_id IS NULL THEN 1 ELSE -1 END AS n,
                   c.returned_at, c.loan_due_at, COALESCE(c.returned_at, %s) AS back
            FROM {table(Handover)} h JOIN {table(Claim)} c ON c.id = h.claim_id
            WHERE {loan_sql("h")}""",
            [now],
        )
        + ledger_where(query)
        + Sql(")")
    )


def loan_figures(
    query: StatsQuery, windows: Sequence[Window], *, group_column: str = "NULL", now: datetime | None = None
) -> dict[tuple[date, object], dict]:
    """(bucket, raw group) → the loan indicators of that window and group (module docstring); windows
    and groups without loans are absent. `group_column` is an SQL expression on the ledger row `h`."""
    now = now or timezone.now()
    buckets = [w[0] for w in windows]
    starts = [w[1] for w in windows]
    ends = [w[2] for w in windows]
    head = Sql(
        "WITH w AS (SELECT * FROM unnest(%s::date[], %s::timestamptz[], %s::timestamptz[]) "
        "AS w(bucket, ws, we)), ",
        [buckets, starts, ends],
    ) + _loan_rows(query, group_column, now)
    sql = head + Sql(
        """,
        r AS (SELECT l.claim_id, l.g, l.returned_at, l.loan_due_at FROM loan l
              WHERE l.returned_at IS NOT NULL
              GROUP BY 1, 2, 3, 4 HAVING SUM(l.n) > 0)
        SELECT 'lent', w.bucket, l.g,
               SUM(CASE WHEN l.collected_at >= w.ws THEN l.n ELSE 0 END),
               SUM(CASE WHEN l.collected_at >= w.ws THEN l.quantity ELSE 0 END),
               SUM(l.quantity * GREATEST(0, extract(epoch FROM LEAST(l.back, w.we)
                                                    - GREATEST(l.collected_at, w.ws))))
        FROM w JOIN loan l ON l.collected_at < w.we AND GREATEST(l.back, l.collected_at) >= w.ws
        GROUP BY 1, 2, 3
        UNION ALL
        SELECT 'returned', w.bucket, r.g, count(*), count(*) FILTER (WHERE r.returned_at <= r.loan_due_at),
               NULL
        FROM w JOIN r ON r.returned_at >= w.ws AND r.returned_at < w.we
        GROUP BY 1, 2, 3"""
    )
    out: dict[tuple[date, object], dict] = {}
    for kind, bucket, group, first, second, seconds in fetch(sql):
        cell = out.setdefault((bucket, group), empty_loans())
        if kind == "lent":
            cell["made"] = int(first or 0)
            cell["items_lent"] = Decimal(second or 0).quantize(Decimal("0.001"))
            cell["item_days_lent"] = (Decimal(seconds or 0) / DAY_SECONDS).quantize(ITEM_DAYS)
        else:
            cell["returned"] = int(first)
            cell["returned_on_time"] = int(second)
    for cell in out.values():
        cell["returned_on_time_share"] = on_time_share(cell)
    return out


def empty_loans() -> dict:
    return {
        "made": 0,
        "items_lent": Decimal("0.000"),
        "item_days_lent": Decimal("0.00"),
        "returned": 0,
        "returned_on_time": 0,
        "returned_on_time_share": None,
    }


def on_time_share(cell: dict) -> Decimal | None:
    returned = cell["returned"]
    return (Decimal(cell["returned_on_time"]) / Decimal(returned)).quantize(SHARE) if returned else None


def add_loans(total: dict, cell: dict) -> None:
    """Add the figures of `cell` to `total` (shares recomputed)."""
    for key in ("made", "items_lent", "item_days_lent", "returned", "returned_on_time"):
        total[key] += cell[key]
    total["returned_on_time_share"] = on_time_share(total)


def loan_totals(query: StatsQuery, *, now: datetime | None = None) -> dict:
    """The loan indicators of the whole period."""
    cells = loan_figures(query, [(query.date_from, query.start, query.end)], now=now)
    total = empty_loans()
    for cell in cells.values():
        add_loans(total, cell)
    return total

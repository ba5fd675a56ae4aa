"""SQL sources of the statistics: the same columns read from the rollups or from the ledger itself.

`facts(query)` yields rows of (t, category_id, territory_id, donor_kind, recipient_kind, factor_version,
handovers, mass_g, co2e_g, weighed_g, declared_g, estimated_g, outliers, outlier_g), where `t` is a local
timestamp in the query's time zone. Only rows that count as diverted are facts (impact.diverted: loans are
not; their indicators are impact.lending's). From the rollups, whole months come from MonthlyRollup and
the days of the partial months at either edge from DailyRollup; from the ledger, one row per handover.
Selectors aggregate these rows however they need, so both sources give the same figures by construction
(and tests check it).

`parties(query)` yields (role, organisation_id, n) for distinct counts of donors and recipients."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db import connection, models

from claims.models import Handover

from .diverted import diverted_sql
from .factors import restated_co2e_sql, restatement_rules
from .models import DailyRollup, MonthlyRollup, PartyMonthlyRollup
from .query import StatsQuery
from .rollups import ROLLUP_TIME_ZONE

SUM_COLUMNS = (
    "handovers",
    "mass_g",
    "co2e_g",
    "weighed_g",
    "declared_g",
    "estimated_g",
    "outliers",
    "outlier_g",
)


@dataclass
class Sql:
    text: str
    params: list = field(default_factory=list)

    def __add__(self, other: Sql) -> Sql:
        return Sql(self.text + other.text, self.params + other.params)


def table(model: type[models.Model]) -> str:
    """A model's table, quoted, for raw SQL: names come from the models, never as literals."""
    return connection.ops.quote_name(model._meta.db_table)


def fetch(sql: Sql) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql.text, sql.params)
        return cursor.fetchall()


def _where(query: StatsQuery, alias: str, *, ledger: bool) -> Sql:
    """The scope and filters, on columns the ledger and the rollups share (organisations and the outlier
    flag: ledger only)."""
    conditions: list[str] = []
    params: list = []
    if not query.scope.everything:
        # Rollups know territories and kinds, not organisations: the scope refuses them then.
        parties = (f"{alias}.donor_id", f"{alias}.recipient_id") if ledger else ()
        text, scope_params = query.scope.sql(territory=f"{alias}.territory_id", parties=parties)
        conditions.append(text)
        params += scope_params
    if query.organisation_id is not None:
        if not ledger:
            raise ValueError("rollups cannot be scoped to organisations")
        conditions.append(f"({alias}.donor_id = %s OR {alias}.recipient_id = %s)")
        params += [query.organisation_id] * 2
    if query.territory is not None:
        conditions.append(f"{alias}.territory_id = %s")
        params.append(query.territory.pk)
    if query.category_ids is not None:
        conditions.append(f"{alias}.category_id = ANY(%s)")
        params.append(list(query.category_ids))
    for column in ("donor_kind", "recipient_kind"):
        value = getattr(query, column)
        if value is not None:
            conditions.append(f"{alias}.{column} = %s")
            params.append(value)
    if query.outlier is not None:
        if not ledger:
            raise ValueError("rollups cannot be filtered on the outlier flag")
        conditions.append(f"{alias}.outlier = %s")
        params.append(query.outlier)
    return Sql("".join(f" AND {c}" for c in conditions), params)


def ledger_where(query: StatsQuery, alias: str = "h") -> Sql:
    """The scope and filters of `query` on ledger rows aliased `alias` (no period, every mode)."""
    return _where(query, alias, ledger=True)


def _ledger_between(query: StatsQuery, start: datetime, end: datetime) -> Sql:
    """The ledger rows of [start, end) that count as diverted, in the query's scope and filters."""
    return Sql(
        f" WHERE h.collected_at >= %s AND h.collected_at < %s AND {diverted_sql('h')}", [start, end]
    ) + _where(query, "h", ledger=True)


def _ledger_facts(query: StatsQuery, *, with_parties: bool = False) -> Sql:
    grams = "(h.mass_kg * 1000)::bigint"
    co2e, join = "h.co2e_avoided_kg", ""
    co2e_params: list = []
    if query.factor_version is not None:
        join, co2e, co2e_params = restated_co2e_sql(restatement_rules(query.factor_version))
    select = Sql(
        f"""SELECT (h.collected_at AT TIME ZONE %s) AS t, h.category_id, h.territory_id, h.donor_kind,
            h.recipient_kind, h.factor_version,
            CASE WHEN h.reverses_id IS NULL THEN 1 ELSE -1 END AS handovers,
            {grams} AS mass_g, (({co2e}) * 1000)::bigint AS co2e_g,
            CASE WHEN h.mass_method = 'weighed' THEN {grams} ELSE 0 END AS weighed_g,
            CASE WHEN h.mass_method = 'declared' THEN {grams} ELSE 0 END AS declared_g,
            CASE WHEN h.mass_method = 'estimated' THEN {grams} ELSE 0 END AS estimated_g,
            CASE WHEN NOT h.outlier THEN 0 WHEN h.reverses_id IS NULL THEN 1 ELSE -1 END AS outliers,
            CASE WHEN h.outlier THEN {grams} ELSE 0 END AS outlier_g
            {", h.donor_id, h.recipient_id" if with_parties else ""}
            FROM {table(Handover)} h {join}""",
        [query.tz.key, *co2e_params],
    )
    return select + _ledger_between(query, query.start, query.end)


def _rollup_part(query: StatsQuery, table: str, column: str, first: date, stop: date) -> Sql:
    columns = ", ".join(f"r.{c}" for c in SUM_COLUMNS)
    return Sql(
        f"SELECT r.{column}::timestamp AS t, r.category_id, r.territory_id, r.donor_kind, r.recipient_kind, "
        f"r.factor_version, {columns} FROM {table} r WHERE r.{column} >= %s AND r.{column} < %s",
        [first, stop],
    ) + _where(query, "r", ledger=False)


def _next_month(day: date) -> date:
    return (day.replace(day=1) + timedelta(days=32)).replace(day=1)


def whole_months(query: StatsQuery) -> tuple[date, date] | None:
    """[first, stop) of the calendar months wholly inside the period, or None."""
    first = query.date_from if query.date_from.day == 1 else _next_month(query.date_from)
    stop = (query.date_to + timedelta(days=1)).replace(day=1)
    return (first, stop) if first < stop else None


def _union(parts: list[Sql]) -> Sql:
    out = parts[0]
    for part in parts[1:]:
        out = out + Sql(" UNION ALL ") + part
    return out


def facts(query: StatsQuery, *, months: bool = True, with_parties: bool = False) -> Sql:
    """The fact rows of the query (see the module docstring). `months=False` when buckets are finer
    than a month (days, weeks): then rollups are read per day only. `with_parties` adds donor_id and
    recipient_id, which only the ledger knows."""
    if with_parties or not query.uses_rollups:
        return _ledger_facts(query, with_parties=with_parties)
    day_after = query.date_to + timedelta(days=1)
    span = whole_months(query) if months else None
    if span is None:
        return _rollup_part(query, table(DailyRollup), "day", query.date_from, day_after)
    first, stop = span
    parts = [_rollup_part(query, table(MonthlyRollup), "month", first, stop)]
    if query.date_from < first:
        parts.append(_rollup_part(query, table(DailyRollup), "day", query.date_from, first))
    if stop < day_after:
        parts.append(_rollup_part(query, table(DailyRollup), "day", stop, day_after))
    return _union(parts)


def _ledger_parties(query: StatsQuery, start: datetime, end: datetime) -> Sql:
    return Sql(
        "SELECT p.role, p.organisation_id, CASE WHEN h.reverses_id IS NULL THEN 1 ELSE -1 END AS n "
        f"FROM {table(Handover)} h CROSS JOIN LATERAL "
        "(VALUES ('donor', h.donor_id), ('recipient', h.recipient_id)) AS p(role, organisation_id)"
    ) + _ledger_between(query, start, end)


def _local_midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time.min, tzinfo=tz)


def parties(query: StatsQuery) -> Sql:
    """(role, organisation_id, n) rows; an organisation counts when its n add up to more than zero.
    The per-organisation rollup has no category: under a category filter, the ledger answers."""
    span = whole_months(query) if query.uses_rollups and query.category_ids is None else None
    if span is None:
        return _ledger_parties(query, query.start, query.end)
    first, stop = span
    paris = ZoneInfo(ROLLUP_TIME_ZONE)
    parts = [
        Sql(
            f"SELECT r.role, r.organisation_id, r.handovers AS n FROM {table(PartyMonthlyRollup)} r "
            "WHERE r.month >= %s AND r.month < %s",
            [first, stop],
        )
        + _where(query, "r", ledger=False)
    ]
    if query.date_from < first:
        parts.append(_ledger_parties(query, query.start, _local_midnight(first, paris)))
    if stop <= query.date_to:
        parts.append(_ledger_parties(query, _local_midnight(stop, paris), query.end))
    return _union(parts)


def distinct_parties(query: StatsQuery) -> dict[str, int]:
    inner = parties(query)
    sql = (
        Sql("SELECT role, count(*) FROM (SELECT role, organisation_id FROM (")
        + inner
        + Sql(") s GROUP BY role, organisation_id HAVING SUM(n) > 0) x GROUP BY role")
    )
    counts = dict(fetch(sql))
    return {"donors": counts.get("donor", 0), "recipients": counts.get("recipient", 0)}

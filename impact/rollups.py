"""The rollups are maintained by a statement-level trigger on the ledger (migration
impact/0002_rollup_trigger): whatever inserts handovers — a service, the admin, a bulk load — the sums
move in the same transaction, set-based (one upsert per statement, not per row). `rollups_rebuild`
recomputes everything from the ledger with the same statements; it is what the equality tests and the
`rebuild_rollups` command use.

Only rows that count as diverted are summed (impact.diverted: loans are left out), and the rows flagged
`outlier` are also summed apart (`outliers`, `outlier_g`), so the rollups answer how much of the tonnage
rests on confirmed outliers.

Days and months are those of Europe/Paris: the trigger's SQL says so literally, so it must not follow a
setting that could change under rows already summed.

Tables, columns and upsert keys come from the models. The trigger's statements name their tables
unquoted (`_meta.db_table`, not impact.sql.table): the trigger function of migration impact/0004 is a
frozen copy of `rollup_statements("new_rows")`, text for text (tests/test_rollups.py)."""

from __future__ import annotations

from django.db import connection, models, transaction

from claims.models import Handover

from .diverted import diverted_sql
from .models import DailyRollup, FactorUsage, MonthlyRollup, PartyMonthlyRollup

ROLLUP_TIME_ZONE = "Europe/Paris"
ROLLUP_MODELS: tuple[type[models.Model], ...] = (DailyRollup, MonthlyRollup, PartyMonthlyRollup, FactorUsage)


def _column(model: type[models.Model], name: str) -> str:
    field = model._meta.get_field(name)
    if not isinstance(field, models.Field) or not field.column:
        raise LookupError(f"{model.__name__}.{name} is not a column")
    return field.column


def _columns(model: type[models.Model], *names: str, alias: str = "") -> str:
    """The columns of the fields `names` of `model`, comma-separated, each prefixed `alias.` if given."""
    prefix = f"{alias}." if alias else ""
    return ", ".join(prefix + _column(model, name) for name in names)


def _key(model: type[models.Model]) -> str:
    """The name of the unique constraint the upserts of `model` conflict on."""
    (name,) = (c.name for c in model._meta.constraints if isinstance(c, models.UniqueConstraint))
    return name


_KEY = _columns(DailyRollup, "category", "territory", "donor_kind", "recipient_kind")
_SUMS = _columns(
    DailyRollup,
    "handovers",
    "mass_g",
    "co2e_g",
    "weighed_g",
    "declared_g",
    "estimated_g",
    "outliers",
    "outlier_g",
)


def _sums_select(alias: str = "h") -> str:
    """The sums of _SUMS over ledger rows aliased `alias`, in that order."""
    reverses, mass, co2e, method, outlier = (
        _columns(Handover, name, alias=alias)
        for name in ("reverses", "mass_kg", "co2e_avoided_kg", "mass_method", "outlier")
    )
    grams = f"({mass} * 1000)::bigint"
    return (
        f"SUM(CASE WHEN {reverses} IS NULL THEN 1 ELSE -1 END), SUM({grams}), "
        f"SUM(({co2e} * 1000)::bigint), "
        f"SUM(CASE WHEN {method} = 'weighed' THEN {grams} ELSE 0 END), "
        f"SUM(CASE WHEN {method} = 'declared' THEN {grams} ELSE 0 END), "
        f"SUM(CASE WHEN {method} = 'estimated' THEN {grams} ELSE 0 END), "
        f"SUM(CASE WHEN {outlier} THEN (CASE WHEN {reverses} IS NULL THEN 1 ELSE -1 END) "
        "ELSE 0 END), "
        f"SUM(CASE WHEN {outlier} THEN {grams} ELSE 0 END)"
    )


def _add(columns: str) -> str:
    return ", ".join(f"{c} = r.{c} + EXCLUDED.{c}" for c in columns.split(", "))


def rollup_statements(source: str) -> list[str]:
    """The INSERT … SELECT … ON CONFLICT statements that add the rows of `source` (the trigger's
    transition table, or the whole ledger) to every rollup; rows that do not count as diverted (loans)
    are skipped."""
    diverted = f"WHERE {diverted_sql('h')}"
    local = f"(h.{_columns(Handover, 'collected_at')} AT TIME ZONE '{ROLLUP_TIME_ZONE}')"
    ledger_key = _columns(Handover, "category", "territory", "donor_kind", "recipient_kind", alias="h")
    ledger_version = _columns(Handover, "factor_version", alias="h")
    version = _columns(DailyRollup, "factor_version")
    day, month = _columns(DailyRollup, "day"), _columns(MonthlyRollup, "month")
    daily = f"""
INSERT INTO {DailyRollup._meta.db_table} AS r ({day}, {_KEY}, {version}, {_SUMS})
SELECT {local}::date, {ledger_key}, {ledger_version},
       {_sums_select()}
FROM {source} h {diverted} GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 2, 3, 4, 5, 6
ON CONFLICT ON CONSTRAINT {_key(DailyRollup)} DO UPDATE SET {_add(_SUMS)}"""
    monthly = f"""
INSERT INTO {MonthlyRollup._meta.db_table} AS r ({month}, {_KEY}, {version}, {_SUMS})
SELECT date_trunc('month', {local})::date, {ledger_key},
       {ledger_version}, {_sums_select()}
FROM {source} h {diverted} GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 2, 3, 4, 5, 6
ON CONFLICT ON CONSTRAINT {_key(MonthlyRollup)} DO UPDATE SET {_add(_SUMS)}"""
    party_key = _columns(
        PartyMonthlyRollup, "month", "role", "organisation", "territory", "donor_kind", "recipient_kind"
    )
    party_handovers = _columns(PartyMonthlyRollup, "handovers")
    ledger_kinds = _columns(Handover, "territory", "donor_kind", "recipient_kind", alias="h")
    reverses = _columns(Handover, "reverses", alias="h")

    def party_side(role: str) -> str:
        """One side's rows, under the names of party_key (and `n`, +1 or -1)."""
        month_name, role_name, organisation, *_kinds = party_key.split(", ")
        return (
            f"SELECT date_trunc('month', {local})::date AS {month_name}, '{role}' AS {role_name}, "
            f"{_columns(Handover, role, alias='h')} AS {organisation}, "
            f"{ledger_kinds}, "
            f"CASE WHEN {reverses} IS NULL THEN 1 ELSE -1 END AS n FROM {source} h {diverted}"
        )

    party = f"""
INSERT INTO {PartyMonthlyRollup._meta.db_table} AS r
    ({party_key}, {party_handovers})
SELECT {party_key}, SUM(n)
FROM ({party_side("donor")}
      UNION ALL {party_side("recipient")}) s
GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 2, 3, 4, 5, 6
ON CONFLICT ON CONSTRAINT {_key(PartyMonthlyRollup)}
DO UPDATE SET {party_handovers} = r.{party_handovers} + EXCLUDED.{party_handovers}"""
    stamp = ("factor_version", "category", "factor_basis", "factor_kgco2e", "factor_status")
    ledger_source = _columns(Handover, "factor_source", alias="h")
    factors = f"""
INSERT INTO {FactorUsage._meta.db_table}
    ({_columns(FactorUsage, *stamp, "factor_source", "source_md5")})
SELECT DISTINCT {_columns(Handover, *stamp, alias="h")},
       {ledger_source}, md5({ledger_source})
FROM {source} h {diverted}
ON CONFLICT ON CONSTRAINT {_key(FactorUsage)} DO NOTHING"""
    return [daily, monthly, party, factors]


@transaction.atomic
def rollups_rebuild() -> dict[str, int]:
    """Recompute every rollup from the ledger; running it twice gives the same tables. The ledger is
    locked against inserts (SHARE) meanwhile, so no row is counted twice or missed. Returns row counts
    by table name (`_meta.db_table`)."""
    from .sql import table  # impact.sql reads ROLLUP_TIME_ZONE from this module

    with connection.cursor() as cursor:
        cursor.execute(f"LOCK TABLE {table(Handover)} IN SHARE MODE")
        # Deferred foreign-key checks still queued on the rollups (rows inserted earlier in this
        # transaction) would forbid TRUNCATE: run them now.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(f"TRUNCATE {', '.join(table(model) for model in ROLLUP_MODELS)}")
        for statement in rollup_statements(table(Handover)):
            cursor.execute(statement)
        counts = {}
        for model in ROLLUP_MODELS:
            cursor.execute(f"SELECT count(*) FROM {table(model)}")
            counts[model._meta.db_table] = cursor.fetchone()[0]
    return counts

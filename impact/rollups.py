"""The rollups are maintained by a statement-level trigger on the ledger (migration
impact/0002_rollup_trigger): whatever inserts handovers — a service, the admin, a bulk load — the sums
move in the same transaction, set-based (one upsert per statement, not per row). `rollups_rebuild`
recomputes everything from the ledger with the same statements; it is what the equality tests and the
`rebuild_rollups` command use.

Only rows that count as diverted are summed (impact.diverted: loans are left out), and the rows flagged
`outlier` are also summed apart (`outliers`, `outlier_g`), so the rollups answer how much of the tonnage
rests on confirmed outliers.

Days and months are those of Europe/Paris: the trigger's SQL says so literally, so it must not follow a
setting that could change under rows already summed."""

from __future__ import annotations

from django.db import connection, transaction

from .diverted import diverted_sql

ROLLUP_TIME_ZONE = "Europe/Paris"

_KEY = "category_id, territory_id, donor_kind, recipient_kind"
_SUMS = "handovers, mass_g, co2e_g, weighed_g, declared_g, estimated_g, outliers, outlier_g"


def _sums_select(alias: str = "h") -> str:
    grams = f"({alias}.mass_kg * 1000)::bigint"
    return (
        f"SUM(CASE WHEN {alias}.reverses_id IS NULL THEN 1 ELSE -1 END), SUM({grams}), "
        f"SUM(({alias}.co2e_avoided_kg * 1000)::bigint), "
        f"SUM(CASE WHEN {alias}.mass_method = 'weighed' THEN {grams} ELSE 0 END), "
        f"SUM(CASE WHEN {alias}.mass_method = 'declared' THEN {grams} ELSE 0 END), "
        f"SUM(CASE WHEN {alias}.mass_method = 'estimated' THEN {grams} ELSE 0 END), "
        f"SUM(CASE WHEN {alias}.outlier THEN (CASE WHEN {alias}.reverses_id IS NULL THEN 1 ELSE -1 END) "
        "ELSE 0 END), "
        f"SUM(CASE WHEN {alias}.outlier THEN {grams} ELSE 0 END)"
    )


def _add(columns: str) -> str:
    return ", ".join(f"{c} = r.{c} + EXCLUDED.{c}" for c in columns.split(", "))


def rollup_statements(source: str) -> list[str]:
    """The INSERT … SELECT … ON CONFLICT statements that add the rows of `source` (the trigger's
    transition table, or the whole ledger) to every rollup; rows that do not count as diverted (loans)
    are skipped."""
    diverted = f"WHERE {diverted_sql('h')}"
    local = f"(h.collected_at AT TIME ZONE '{ROLLUP_TIME_ZONE}')"
    daily = f"""
INSERT INTO impact_dailyrollup AS r (day, {_KEY}, factor_version, {_SUMS})
SELECT {local}::date, h.category_id, h.territory_id, h.donor_kind, h.recipient_kind, h.factor_version,
       {_sums_select()}
FROM {source} h {diverted} GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 2, 3, 4, 5, 6
ON CONFLICT ON CONSTRAINT impact_daily_rollup_key DO UPDATE SET {_add(_SUMS)}"""
    monthly = f"""
INSERT INTO impact_monthlyrollup AS r (month, {_KEY}, factor_version, {_SUMS})
SELECT date_trunc('month', {local})::date, h.category_id, h.territory_id, h.donor_kind, h.recipient_kind,
       h.factor_version, {_sums_select()}
FROM {source} h {diverted} GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 2, 3, 4, 5, 6
ON CONFLICT ON CONSTRAINT impact_monthly_rollup_key DO UPDATE SET {_add(_SUMS)}"""
    party_side = (
        "SELECT date_trunc('month', {local})::date AS month, '{role}' AS role, "
        "h.{role}_id AS organisation_id, "
        "h.territory_id, h.donor_kind, h.recipient_kind, "
        "CASE WHEN h.reverses_id IS NULL THEN 1 ELSE -1 END AS n FROM {source} h {diverted}"
    )
    party = f"""
INSERT INTO impact_partymonthlyrollup AS r
    (month, role, organisation_id, territory_id, donor_kind, recipient_kind, handovers)
SELECT month, role, organisation_id, territory_id, donor_kind, recipient_kind, SUM(n)
FROM ({party_side.format(local=local, role="donor", source=source, diverted=diverted)}
      UNION ALL {party_side.format(local=local, role="recipient", source=source, diverted=diverted)}) s
GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 2, 3, 4, 5, 6
ON CONFLICT ON CONSTRAINT impact_party_rollup_key_v2
DO UPDATE SET handovers = r.handovers + EXCLUDED.handovers"""
    factors = f"""
INSERT INTO impact_factorusage
    (factor_version, category_id, factor_basis, factor_kgco2e, factor_status, factor_source, source_md5)
SELECT DISTINCT h.factor_version, h.category_id, h.factor_basis, h.factor_kgco2e, h.factor_status,
       h.factor_source, md5(h.factor_source)
FROM {source} h {diverted}
ON CONFLICT ON CONSTRAINT impact_factor_usage_key DO NOTHING"""
    return [daily, monthly, party, factors]


ROLLUP_TABLES = (
    "impact_dailyrollup",
    "impact_monthlyrollup",
    "impact_partymonthlyrollup",
    "impact_factorusage",
)


@transaction.atomic
def rollups_rebuild() -> dict[str, int]:
    """Recompute every rollup from the ledger; running it twice gives the same tables. The ledger is
    locked against inserts (SHARE) meanwhile, so no row is counted twice or missed. Returns row counts."""
    with connection.cursor() as cursor:
        cursor.execute("LOCK TABLE claims_handover IN SHARE MODE")
        # Deferred foreign-key checks still queued on the rollups (rows inserted earlier in this
        # transaction) would forbid TRUNCATE: run them now.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(f"TRUNCATE {', '.join(ROLLUP_TABLES)}")
        for statement in rollup_statements("claims_handover"):
            cursor.execute(statement)
        counts = {}
        for table in ROLLUP_TABLES:
            cursor.execute(f"SELECT count(*) FROM {table}")
            counts[table] = cursor.fetchone()[0]
    return counts

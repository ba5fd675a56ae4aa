from django.db import migrations

# Rollups move with the ledger, in the same transaction, whatever inserts the rows: a statement-level
# AFTER INSERT trigger with a transition table, so a bulk INSERT is summed set-based (one upsert per
# rollup per statement). The statements are a frozen copy of impact.rollups.rollup_statements("new_rows");
# tests/test_rollups.py checks that trigger, rebuild and a direct aggregation of the ledger agree.

SQL = """
CREATE FUNCTION impact_rollup_ledger_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO impact_dailyrollup AS r (day, category_id, territory_id, donor_kind, recipient_kind, factor_version, handovers, mass_g, co2e_g, weighed_g, declared_g, estimated_g)
    SELECT (h.collected_at AT TIME ZONE 'Europe/Paris')::date, h.category_id, h.territory_id, h.donor_kind, h.recipient_kind, h.factor_version,
           SUM(CASE WHEN h.reverses_id IS NULL THEN 1 ELSE -1 END), SUM((h.mass_kg * 1000)::bigint), SUM((h.co2e_avoided_kg * 1000)::bigint), SUM(CASE WHEN h.mass_method = 'weighed' THEN (h.mass_kg * 1000)::bigint ELSE 0 END), SUM(CASE WHEN h.mass_method = 'declared' THEN (h.mass_kg * 1000)::bigint ELSE 0 END), SUM(CASE WHEN h.mass_method = 'estimated' THEN (h.mass_kg * 1000)::bigint ELSE 0 END)
    FROM new_rows h GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 2, 3, 4, 5, 6
    ON CONFLICT ON CONSTRAINT impact_daily_rollup_key DO UPDATE SET handovers = r.handovers + EXCLUDED.handovers, mass_g = r.mass_g + EXCLUDED.mass_g, co2e_g = r.co2e_g + EXCLUDED.co2e_g, weighed_g = r.weighed_g + EXCLUDED.weighed_g, declared_g = r.declared_g + EXCLUDED.declared_g, estimated_g = r.estimated_g + EXCLUDED.estimated_g;
    INSERT INTO impact_monthlyrollup AS r (month, category_id, territory_id, donor_kind, recipient_kind, factor_version, handovers, mass_g, co2e_g, weighed_g, declared_g, estimated_g)
    SELECT date_trunc('month', (h.collected_at AT TIME ZONE 'Europe/Paris'))::date, h.category_id, h.territory_id, h.donor_kind, h.recipient_kind,
           h.factor_version, SUM(CASE WHEN h.reverses_id IS NULL THEN 1 ELSE -1 END), SUM((h.mass_kg * 1000)::bigint), SUM((h.co2e_avoided_kg * 1000)::bigint), SUM(CASE WHEN h.mass_method = 'weighed' THEN (h.mass_kg * 1000)::bigint ELSE 0 END), SUM(CASE WHEN h.mass_method = 'declared' THEN (h.mass_kg * 1000)::bigint ELSE 0 END), SUM(CASE WHEN h.mass_method = 'estimated' THEN (h.mass_kg * 1000)::bigint ELSE 0 END)
    FROM new_rows h GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 2, 3, 4, 5, 6
    ON CONFLICT ON CONSTRAINT impact_monthly_rollup_key DO UPDATE SET handovers = r.handovers + EXCLUDED.handovers, mass_g = r.mass_g + EXCLUDED.mass_g, co2e_g = r.co2e_g + EXCLUDED.co2e_g, weighed_g = r.weighed_g + EXCLUDED.weighed_g, declared_g = r.declared_g + EXCLUDED.declared_g, estimated_g = r.estimated_g + EXCLUDED.estimated_g;
    INSERT INTO impact_partymonthlyrollup AS r (month, role, organisation_id, category_id, territory_id, donor_kind, recipient_kind, handovers)
    SELECT month, role, organisation_id, category_id, territory_id, donor_kind, recipient_kind, SUM(n)
    FROM (SELECT date_trunc('month', (h.collected_at AT TIME ZONE 'Europe/Paris'))::date AS month, 'donor' AS role, h.donor_id AS organisation_id, h.category_id, h.territory_id, h.donor_kind, h.recipient_kind, CASE WHEN h.reverses_id IS NULL THEN 1 ELSE -1 END AS n FROM new_rows h
          UNION ALL SELECT date_trunc('month', (h.collected_at AT TIME ZONE 'Europe/Paris'))::date AS month, 'recipient' AS role, h.recipient_id AS organisation_id, h.category_id, h.territory_id, h.donor_kind, h.recipient_kind, CASE WHEN h.reverses_id IS NULL THEN 1 ELSE -1 END AS n FROM new_rows h) s
    GROUP BY 1, 2, 3, 4, 5, 6, 7 ORDER BY 1, 2, 3, 4, 5, 6, 7
    ON CONFLICT ON CONSTRAINT impact_party_rollup_key DO UPDATE SET handovers = r.handovers + EXCLUDED.handovers;
    INSERT INTO impact_factorusage
        (factor_version, category_id, factor_basis, factor_kgco2e, factor_status, factor_source, source_md5)
    SELECT DISTINCT h.factor_version, h.category_id, h.factor_basis, h.factor_kgco2e, h.factor_status,
           h.factor_source, md5(h.factor_source)
    FROM new_rows h
    ON CONFLICT ON CONSTRAINT impact_factor_usage_key DO NOTHING;
    RETURN NULL;
END;
$$;
CREATE TRIGGER impact_rollup_ledger_insert
    AFTER INSERT ON claims_handover
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION impact_rollup_ledger_insert();
"""

REVERSE = """
DROP TRIGGER IF EXISTS impact_rollup_ledger_insert ON claims_handover;
DROP FUNCTION IF EXISTS impact_rollup_ledger_insert();
"""


class Migration(migrations.Migration):
    dependencies = [
        ("impact", "0001_initial"),
        ("claims", "0003_ledger_append_only"),
    ]
    operations = [migrations.RunSQL(SQL, REVERSE)]

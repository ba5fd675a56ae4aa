import importlib

from django.db import migrations, models

# The per-organisation rollup loses its category (with it, it grew as large as the ledger): emptied,
# reshaped, refilled from the ledger, and the trigger function replaced to match. The function is a
# frozen copy of impact.rollups.rollup_statements("new_rows").

_previous = importlib.import_module("impact.migrations.0002_rollup_trigger")
PREVIOUS_FUNCTION = _previous.SQL.split("CREATE TRIGGER")[0].replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION")

FUNCTION = """
CREATE OR REPLACE FUNCTION impact_rollup_ledger_insert() RETURNS trigger LANGUAGE plpgsql AS $$
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
    INSERT INTO impact_partymonthlyrollup AS r (month, role, organisation_id, territory_id, donor_kind, recipient_kind,
        handovers)
    SELECT month, role, organisation_id, territory_id, donor_kind, recipient_kind, SUM(n)
    FROM (SELECT date_trunc('month', (h.collected_at AT TIME ZONE 'Europe/Paris'))::date AS month, 'donor' AS role, h.donor_id AS organisation_id, h.territory_id, h.donor_kind, h.recipient_kind, CASE WHEN h.reverses_id IS NULL THEN 1 ELSE -1 END AS n FROM new_rows h
          UNION ALL SELECT date_trunc('month', (h.collected_at AT TIME ZONE 'Europe/Paris'))::date AS month, 'recipient' AS role, h.recipient_id AS organisation_id, h.territory_id, h.donor_kind, h.recipient_kind, CASE WHEN h.reverses_id IS NULL THEN 1 ELSE -1 END AS n FROM new_rows h) s
    GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 2, 3, 4, 5, 6
    ON CONFLICT ON CONSTRAINT impact_party_rollup_key_v2 DO UPDATE SET handovers = r.handovers + EXCLUDED.handovers;
    INSERT INTO impact_factorusage
        (factor_version, category_id, factor_basis, factor_kgco2e, factor_status, factor_source, source_md5)
    SELECT DISTINCT h.factor_version, h.category_id, h.factor_basis, h.factor_kgco2e, h.factor_status,
           h.factor_source, md5(h.factor_source)
    FROM new_rows h
    ON CONFLICT ON CONSTRAINT impact_factor_usage_key DO NOTHING;
    RETURN NULL;
END;
$$;
"""

REFILL = """
INSERT INTO impact_partymonthlyrollup AS r (month, role, organisation_id, territory_id, donor_kind, recipient_kind,
    handovers)
SELECT month, role, organisation_id, territory_id, donor_kind, recipient_kind, SUM(n)
FROM (SELECT date_trunc('month', (h.collected_at AT TIME ZONE 'Europe/Paris'))::date AS month, 'donor' AS role, h.donor_id AS organisation_id, h.territory_id, h.donor_kind, h.recipient_kind, CASE WHEN h.reverses_id IS NULL THEN 1 ELSE -1 END AS n FROM claims_handover h
      UNION ALL SELECT date_trunc('month', (h.collected_at AT TIME ZONE 'Europe/Paris'))::date AS month, 'recipient' AS role, h.recipient_id AS organisation_id, h.territory_id, h.donor_kind, h.recipient_kind, CASE WHEN h.reverses_id IS NULL THEN 1 ELSE -1 END AS n FROM claims_handover h) s
GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 2, 3, 4, 5, 6
ON CONFLICT ON CONSTRAINT impact_party_rollup_key_v2 DO UPDATE SET handovers = r.handovers + EXCLUDED.handovers;
"""


class Migration(migrations.Migration):

    dependencies = [
        ('impact', '0002_rollup_trigger'),
    ]

    operations = [
        migrations.RunSQL("TRUNCATE impact_partymonthlyrollup", migrations.RunSQL.noop),
        migrations.RemoveConstraint(
            model_name='partymonthlyrollup',
            name='impact_party_rollup_key',
        ),
        migrations.RemoveField(
            model_name='partymonthlyrollup',
            name='category',
        ),
        migrations.AddConstraint(
            model_name='partymonthlyrollup',
            constraint=models.UniqueConstraint(fields=('month', 'role', 'organisation', 'territory', 'donor_kind', 'recipient_kind'), name='impact_party_rollup_key_v2', nulls_distinct=False),
        ),
        migrations.RunSQL(FUNCTION + REFILL, PREVIOUS_FUNCTION + "TRUNCATE impact_partymonthlyrollup;"),
    ]

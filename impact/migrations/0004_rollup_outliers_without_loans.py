import importlib

from django.db import migrations, models

# Loans leave the rollups (impact.diverted: a loan is not waste diverted) and the rows flagged `outlier`
# are summed apart. The trigger function is replaced by a frozen copy of
# impact.rollups.rollup_statements("new_rows"), and the rollups are refilled from the ledger with the same
# statements on claims_handover (rows recorded before the loan rule was applied are summed again without
# the loans).

_previous = importlib.import_module("impact.migrations.0003_party_rollup_without_category")

FUNCTION = """
CREATE OR REPLACE FUNCTION impact_rollup_ledger_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO impact_dailyrollup AS r (day, category_id, territory_id, donor_kind, recipient_kind, factor_version, handovers, mass_g, co2e_g, weighed_g, declared_g, estimated_g, outliers, outlier_g)
    SELECT (h.collected_at AT TIME ZONE 'Europe/Paris')::date, h.category_id, h.territory_id, h.donor_kind, h.recipient_kind, h.factor_version,
           SUM(CASE WHEN h.reverses_id IS NULL THEN 1 ELSE -1 END), SUM((h.mass_kg * 1000)::bigint), SUM((h.co2e_avoided_kg * 1000)::bigint), SUM(CASE WHEN h.mass_method = 'weighed' THEN (h.mass_kg * 1000)::bigint ELSE 0 END), SUM(CASE WHEN h.mass_method = 'declared' THEN (h.mass_kg * 1000)::bigint ELSE 0 END), SUM(CASE WHEN h.mass_method = 'estimated' THEN (h.mass_kg * 1000)::bigint ELSE 0 END), SUM(CASE WHEN h.outlier THEN (CASE WHEN h.reverses_id IS NULL THEN 1 ELSE -1 END) ELSE 0 END), SUM(CASE WHEN h.outlier THEN (h.mass_kg * 1000)::bigint ELSE 0 END)
    FROM new_rows h WHERE h.mode <> 'loan' GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 2, 3, 4, 5, 6
    ON CONFLICT ON CONSTRAINT impact_daily_rollup_key DO UPDATE SET handovers = r.handovers + EXCLUDED.handovers, mass_g = r.mass_g + EXCLUDED.mass_g, co2e_g = r.co2e_g + EXCLUDED.co2e_g, weighed_g = r.weighed_g + EXCLUDED.weighed_g, declared_g = r.declared_g + EXCLUDED.declared_g, estimated_g = r.estimated_g + EXCLUDED.estimated_g, outliers = r.outliers + EXCLUDED.outliers, outlier_g = r.outlier_g + EXCLUDED.outlier_g;
    INSERT INTO impact_monthlyrollup AS r (month, category_id, territory_id, donor_kind, recipient_kind, factor_version, handovers, mass_g, co2e_g, weighed_g, declared_g, estimated_g, outliers, outlier_g)
    SELECT date_trunc('month', (h.collected_at AT TIME ZONE 'Europe/Paris'))::date, h.category_id, h.territory_id, h.donor_kind, h.recipient_kind,
           h.factor_version, SUM(CASE WHEN h.reverses_id IS NULL THEN 1 ELSE -1 END), SUM((h.mass_kg * 1000)::bigint), SUM((h.co2e_avoided_kg * 1000)::bigint), SUM(CASE WHEN h.mass_method = 'weighed' THEN (h.mass_kg * 1000)::bigint ELSE 0 END), SUM(CASE WHEN h.mass_method = 'declared' THEN (h.mass_kg * 1000)::bigint ELSE 0 END), SUM(CASE WHEN h.mass_method = 'estimated' THEN (h.mass_kg * 1000)::bigint ELSE 0 END), SUM(CASE WHEN h.outlier THEN (CASE WHEN h.reverses_id IS NULL THEN 1 ELSE -1 END) ELSE 0 END), SUM(CASE WHEN h.outlier THEN (h.mass_kg * 1000)::bigint ELSE 0 END)
    FROM new_rows h WHERE h.mode <> 'loan' GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 2, 3, 4, 5, 6
    ON CONFLICT ON CONSTRAINT impact_monthly_rollup_key DO UPDATE SET handovers = r.handovers + EXCLUDED.handovers, mass_g = r.mass_g + EXCLUDED.mass_g, co2e_g = r.co2e_g + EXCLUDED.co2e_g, weighed_g = r.weighed_g + EXCLUDED.weighed_g, declared_g = r.declared_g + EXCLUDED.declared_g, estimated_g = r.estimated_g + EXCLUDED.estimated_g, outliers = r.outliers + EXCLUDED.outliers, outlier_g = r.outlier_g + EXCLUDED.outlier_g;
    INSERT INTO impact_partymonthlyrollup AS r
        (month, role, organisation_id, territory_id, donor_kind, recipient_kind, handovers)
    SELECT month, role, organisation_id, territory_id, donor_kind, recipient_kind, SUM(n)
    FROM (SELECT date_trunc('month', (h.collected_at AT TIME ZONE 'Europe/Paris'))::date AS month, 'donor' AS role, h.donor_id AS organisation_id, h.territory_id, h.donor_kind, h.recipient_kind, CASE WHEN h.reverses_id IS NULL THEN 1 ELSE -1 END AS n FROM new_rows h WHERE h.mode <> 'loan'
          UNION ALL SELECT date_trunc('month', (h.collected_at AT TIME ZONE 'Europe/Paris'))::date AS month, 'recipient' AS role, h.recipient_id AS organisation_id, h.territory_id, h.donor_kind, h.recipient_kind, CASE WHEN h.reverses_id IS NULL THEN 1 ELSE -1 END AS n FROM new_rows h WHERE h.mode <> 'loan') s
    GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 2, 3, 4, 5, 6
    ON CONFLICT ON CONSTRAINT impact_party_rollup_key_v2
    DO UPDATE SET handovers = r.handovers + EXCLUDED.handovers;
    INSERT INTO impact_factorusage
        (factor_version, category_id, factor_basis, factor_kgco2e, factor_status, factor_source, source_md5)
    SELECT DISTINCT h.factor_version, h.category_id, h.factor_basis, h.factor_kgco2e, h.factor_status,
           h.factor_source, md5(h.factor_source)
    FROM new_rows h WHERE h.mode <> 'loan'
    ON CONFLICT ON CONSTRAINT impact_factor_usage_key DO NOTHING;
    RETURN NULL;
END;
$$;
"""

REFILL = """
SET CONSTRAINTS ALL IMMEDIATE;
TRUNCATE impact_dailyrollup, impact_monthlyrollup, impact_partymonthlyrollup, impact_factorusage;
INSERT INTO impact_dailyrollup AS r (day, category_id, territory_id, donor_kind, recipient_kind, factor_version, handovers, mass_g, co2e_g, weighed_g, declared_g, estimated_g, outliers, outlier_g)
SELECT (h.collected_at AT TIME ZONE 'Europe/Paris')::date, h.category_id, h.territory_id, h.donor_kind, h.recipient_kind, h.factor_version,
       SUM(CASE WHEN h.reverses_id IS NULL THEN 1 ELSE -1 END), SUM((h.mass_kg * 1000)::bigint), SUM((h.co2e_avoided_kg * 1000)::bigint), SUM(CASE WHEN h.mass_method = 'weighed' THEN (h.mass_kg * 1000)::bigint ELSE 0 END), SUM(CASE WHEN h.mass_method = 'declared' THEN (h.mass_kg * 1000)::bigint ELSE 0 END), SUM(CASE WHEN h.mass_method = 'estimated' THEN (h.mass_kg * 1000)::bigint ELSE 0 END), SUM(CASE WHEN h.outlier THEN (CASE WHEN h.reverses_id IS NULL THEN 1 ELSE -1 END) ELSE 0 END), SUM(CASE WHEN h.outlier THEN (h.mass_kg * 1000)::bigint ELSE 0 END)
FROM claims_handover h WHERE h.mode <> 'loan' GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 2, 3, 4, 5, 6
ON CONFLICT ON CONSTRAINT impact_daily_rollup_key DO UPDATE SET handovers = r.handovers + EXCLUDED.handovers, mass_g = r.mass_g + EXCLUDED.mass_g, co2e_g = r.co2e_g + EXCLUDED.co2e_g, weighed_g = r.weighed_g + EXCLUDED.weighed_g, declared_g = r.declared_g + EXCLUDED.declared_g, estimated_g = r.estimated_g + EXCLUDED.estimated_g, outliers = r.outliers + EXCLUDED.outliers, outlier_g = r.outlier_g + EXCLUDED.outlier_g;
INSERT INTO impact_monthlyrollup AS r (month, category_id, territory_id, donor_kind, recipient_kind, factor_version, handovers, mass_g, co2e_g, weighed_g, declared_g, estimated_g, outliers, outlier_g)
SELECT date_trunc('month', (h.collected_at AT TIME ZONE 'Europe/Paris'))::date, h.category_id, h.territory_id, h.donor_kind, h.recipient_kind,
       h.factor_version, SUM(CASE WHEN h.reverses_id IS NULL THEN 1 ELSE -1 END), SUM((h.mass_kg * 1000)::bigint), SUM((h.co2e_avoided_kg * 1000)::bigint), SUM(CASE WHEN h.mass_method = 'weighed' THEN (h.mass_kg * 1000)::bigint ELSE 0 END), SUM(CASE WHEN h.mass_method = 'declared' THEN (h.mass_kg * 1000)::bigint ELSE 0 END), SUM(CASE WHEN h.mass_method = 'estimated' THEN (h.mass_kg * 1000)::bigint ELSE 0 END), SUM(CASE WHEN h.outlier THEN (CASE WHEN h.reverses_id IS NULL THEN 1 ELSE -1 END) ELSE 0 END), SUM(CASE WHEN h.outlier THEN (h.mass_kg * 1000)::bigint ELSE 0 END)
FROM claims_handover h WHERE h.mode <> 'loan' GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 2, 3, 4, 5, 6
ON CONFLICT ON CONSTRAINT impact_monthly_rollup_key DO UPDATE SET handovers = r.handovers + EXCLUDED.handovers, mass_g = r.mass_g + EXCLUDED.mass_g, co2e_g = r.co2e_g + EXCLUDED.co2e_g, weighed_g = r.weighed_g + EXCLUDED.weighed_g, declared_g = r.declared_g + EXCLUDED.declared_g, estimated_g = r.estimated_g + EXCLUDED.estimated_g, outliers = r.outliers + EXCLUDED.outliers, outlier_g = r.outlier_g + EXCLUDED.outlier_g;
INSERT INTO impact_partymonthlyrollup AS r
    (month, role, organisation_id, territory_id, donor_kind, recipient_kind, handovers)
SELECT month, role, organisation_id, territory_id, donor_kind, recipient_kind, SUM(n)
FROM (SELECT date_trunc('month', (h.collected_at AT TIME ZONE 'Europe/Paris'))::date AS month, 'donor' AS role, h.donor_id AS organisation_id, h.territory_id, h.donor_kind, h.recipient_kind, CASE WHEN h.reverses_id IS NULL THEN 1 ELSE -1 END AS n FROM claims_handover h WHERE h.mode <> 'loan'
      UNION ALL SELECT date_trunc('month', (h.collected_at AT TIME ZONE 'Europe/Paris'))::date AS month, 'recipient' AS role, h.recipient_id AS organisation_id, h.territory_id, h.donor_kind, h.recipient_kind, CASE WHEN h.reverses_id IS NULL THEN 1 ELSE -1 END AS n FROM claims_handover h WHERE h.mode <> 'loan') s
GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 2, 3, 4, 5, 6
ON CONFLICT ON CONSTRAINT impact_party_rollup_key_v2
DO UPDATE SET handovers = r.handovers + EXCLUDED.handovers;
INSERT INTO impact_factorusage
    (factor_version, category_id, factor_basis, factor_kgco2e, factor_status, factor_source, source_md5)
SELECT DISTINCT h.factor_version, h.category_id, h.factor_basis, h.factor_kgco2e, h.factor_status,
       h.factor_source, md5(h.factor_source)
FROM claims_handover h WHERE h.mode <> 'loan'
ON CONFLICT ON CONSTRAINT impact_factor_usage_key DO NOTHING;
"""


class Migration(migrations.Migration):

    dependencies = [
        ("impact", "0003_party_rollup_without_category"),
        ("claims", "0005_ledger_truth"),
    ]

    operations = [
        migrations.AddField(
            model_name="dailyrollup",
            name="outlier_g",
            field=models.BigIntegerField(db_default=0, default=0),
        ),
        migrations.AddField(
            model_name="dailyrollup",
            name="outliers",
            field=models.BigIntegerField(db_default=0, default=0, help_text="outlier rows net of reversals"),
        ),
        migrations.AddField(
            model_name="monthlyrollup",
            name="outlier_g",
            field=models.BigIntegerField(db_default=0, default=0),
        ),
        migrations.AddField(
            model_name="monthlyrollup",
            name="outliers",
            field=models.BigIntegerField(db_default=0, default=0, help_text="outlier rows net of reversals"),
        ),
        migrations.RunSQL(FUNCTION + REFILL, _previous.FUNCTION),
    ]

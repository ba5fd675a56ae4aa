from django.db import migrations, models

# The data versions of impact.versions: one row per source of the statistics, given a new token by the
# database once per transaction that changed the source, at its commit (a DEFERRABLE INITIALLY DEFERRED
# constraint trigger: the rows are locked after the transaction's own statements, every row in one
# order), and by TRUNCATE. Frozen copy of the tables of impact.versions.SOURCE_MODELS. A partial index
# on the loan rows lets the loan indicators (impact.lending) read those rows instead of the whole ledger.

SOURCE_TABLES = {
    "ledger": (
        "claims_handover",
        "impact_dailyrollup",
        "impact_monthlyrollup",
        "impact_partymonthlyrollup",
        "impact_factorusage",
    ),
    "claims": ("claims_claim",),
    "market": ("exchange_offer", "matching_need", "matching_need_category", "matching_match"),
    "reference": (
        "inventory_category",
        "inventory_factorversion",
        "inventory_emissionfactor",
        "territories_territory",
        "organisations_organisation",
        "organisations_site",
        "impact_publicauthorityterritory",
    ),
}

FUNCTION = """
CREATE FUNCTION impact_data_version_bump() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    flag text := 'impact.bumped_' || TG_ARGV[0];
BEGIN
    -- Once per transaction and source: the flag is transaction-local (and undone with a savepoint
    -- that rolls the bump back).
    IF current_setting(flag, true) IS DISTINCT FROM 'on' THEN
        -- Every source's row, in one order, before any is written: two writers bumping sources in
        -- different orders never deadlock on them.
        PERFORM 1 FROM impact_dataversion ORDER BY source FOR UPDATE;
        INSERT INTO impact_dataversion AS v (source, token, bumps, changed_at)
        VALUES (TG_ARGV[0], gen_random_uuid(), 1, clock_timestamp())
        ON CONFLICT (source) DO UPDATE
        SET token = EXCLUDED.token, bumps = v.bumps + 1, changed_at = EXCLUDED.changed_at;
        PERFORM set_config(flag, 'on', true);
    END IF;
    RETURN NULL;
END;
$$;
"""


def _triggers() -> str:
    statements = [FUNCTION]
    for source, tables in SOURCE_TABLES.items():
        statements.append(
            "INSERT INTO impact_dataversion (source, token, bumps, changed_at) "
            f"VALUES ('{source}', gen_random_uuid(), 0, clock_timestamp());"
        )
        for table in tables:
            statements.append(
                f"CREATE CONSTRAINT TRIGGER impact_version_{table} AFTER INSERT OR UPDATE OR DELETE "
                f"ON {table} DEFERRABLE INITIALLY DEFERRED FOR EACH ROW "
                f"EXECUTE FUNCTION impact_data_version_bump('{source}');"
            )
            statements.append(
                f"CREATE TRIGGER impact_version_{table}_truncate AFTER TRUNCATE ON {table} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION impact_data_version_bump('{source}');"
            )
    statements.append("CREATE INDEX handover_loans ON claims_handover (collected_at) WHERE mode = 'loan';")
    return "\n".join(statements)


def _reverse() -> str:
    statements = ["DROP INDEX IF EXISTS handover_loans;"]
    for tables in SOURCE_TABLES.values():
        for table in tables:
            statements.append(f"DROP TRIGGER IF EXISTS impact_version_{table} ON {table};")
            statements.append(f"DROP TRIGGER IF EXISTS impact_version_{table}_truncate ON {table};")
    statements.append("DROP FUNCTION IF EXISTS impact_data_version_bump();")
    return "\n".join(statements)


class Migration(migrations.Migration):
    dependencies = [
        ("impact", "0004_rollup_outliers_without_loans"),
        ("claims", "0007_notifications"),
        ("exchange", "0008_imports"),
        ("matching", "0003_search_cells"),
        ("organisations", "0003_sessions_and_registrations"),
        ("inventory", "0003_category_mass_range"),
        ("territories", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="DataVersion",
            fields=[
                (
                    "source",
                    models.CharField(max_length=16, primary_key=True, serialize=False, verbose_name="source"),
                ),
                ("token", models.UUIDField(verbose_name="token")),
                ("bumps", models.BigIntegerField(default=0, verbose_name="bumps")),
                ("changed_at", models.DateTimeField(verbose_name="changed at")),
            ],
            options={"verbose_name": "data version", "verbose_name_plural": "data versions"},
        ),
        migrations.RunSQL(_triggers(), _reverse()),
    ]

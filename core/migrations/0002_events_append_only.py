from django.db import migrations

# Shared by every append-only table (events here, the handover ledger later): a row trigger that
# refuses UPDATE and DELETE whoever asks, the admin and raw ORM included. TRUNCATE stays possible for
# the table owner (test teardown); application roles should not own the tables in production.

SQL = """
CREATE OR REPLACE FUNCTION boucle_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% rows are append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER core_domainevent_append_only
    BEFORE UPDATE OR DELETE ON core_domainevent
    FOR EACH ROW EXECUTE FUNCTION boucle_refuse_change();
"""

REVERSE = """
DROP TRIGGER IF EXISTS core_domainevent_append_only ON core_domainevent;
"""


class Migration(migrations.Migration):
    dependencies = [("core", "0001_domain_events")]
    operations = [migrations.RunSQL(SQL, REVERSE)]

from django.db import migrations

# The ledger and its confirmations are append-only, whoever asks (the admin and raw ORM included):
# row triggers refuse UPDATE and DELETE with the shared function from core. No TRUNCATE trigger: the
# table owner may still truncate (test teardown); application roles should not own the tables.

SQL = """
CREATE TRIGGER claims_handover_append_only
    BEFORE UPDATE OR DELETE ON claims_handover
    FOR EACH ROW EXECUTE FUNCTION boucle_refuse_change();
CREATE TRIGGER claims_handoverconfirmation_append_only
    BEFORE UPDATE OR DELETE ON claims_handoverconfirmation
    FOR EACH ROW EXECUTE FUNCTION boucle_refuse_change();
"""

REVERSE = """
DROP TRIGGER IF EXISTS claims_handoverconfirmation_append_only ON claims_handoverconfirmation;
DROP TRIGGER IF EXISTS claims_handover_append_only ON claims_handover;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0002_events_append_only"),
        ("claims", "0002_claim_party_handover_confirmation"),
    ]
    operations = [migrations.RunSQL(SQL, REVERSE)]

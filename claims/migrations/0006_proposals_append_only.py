from django.db import migrations

# Proposals that settle a disputed ledger row are append-only like the ledger itself (0003).
SQL = """
CREATE TRIGGER claims_handoverproposal_append_only
    BEFORE UPDATE OR DELETE ON claims_handoverproposal
    FOR EACH ROW EXECUTE FUNCTION boucle_refuse_change();
"""
REVERSE = "DROP TRIGGER IF EXISTS claims_handoverproposal_append_only ON claims_handoverproposal;"


class Migration(migrations.Migration):
    dependencies = [("claims", "0005_ledger_truth")]
    operations = [migrations.RunSQL(SQL, REVERSE)]

from django.db import migrations

# Published factors are facts that handovers are stamped with: nobody rewrites or removes one, the admin
# and raw ORM included. A correction is a new factor version. Reuses core's boucle_refuse_change().

SQL = """
CREATE TRIGGER inventory_emissionfactor_append_only
    BEFORE UPDATE OR DELETE ON inventory_emissionfactor
    FOR EACH ROW EXECUTE FUNCTION boucle_refuse_change();
"""

REVERSE = """
DROP TRIGGER IF EXISTS inventory_emissionfactor_append_only ON inventory_emissionfactor;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("inventory", "0001_initial"),
        ("core", "0002_events_append_only"),
    ]
    operations = [migrations.RunSQL(SQL, REVERSE)]

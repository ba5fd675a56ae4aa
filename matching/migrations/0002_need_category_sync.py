from django.db import migrations

# Each need_category row carries a copy of what matching reads of its need, so that finding the needs
# that cover an offer is one GiST scan on (category, location) with no other table to visit. This
# trigger keeps the copies in step with every UPDATE of the need, whatever issues it (services, the
# expiry sweep, a site that moves, raw SQL).
SQL = """
CREATE OR REPLACE FUNCTION matching_need_category_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE matching_need_category
       SET organisation_id = NEW.organisation_id, location = NEW.location, radius_m = NEW.radius_m,
           quantity_wanted = NEW.quantity_wanted, unit = NEW.unit, deadline = NEW.deadline,
           is_open = (NEW.status = 'open')
     WHERE need_id = NEW.id;
    RETURN NULL;
END;
$$;

CREATE TRIGGER matching_need_category_sync
    AFTER UPDATE OF organisation_id, location, radius_m, quantity_wanted, unit, deadline, status
    ON matching_need
    FOR EACH ROW EXECUTE FUNCTION matching_need_category_sync();
"""

REVERSE = """
DROP TRIGGER IF EXISTS matching_need_category_sync ON matching_need;
DROP FUNCTION IF EXISTS matching_need_category_sync();
"""


class Migration(migrations.Migration):
    dependencies = [("matching", "0001_initial")]
    operations = [migrations.RunSQL(SQL, REVERSE)]

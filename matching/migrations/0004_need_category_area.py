from django.db import migrations

# Matching a published offer looks each need up by its *area*: a box that contains the need's disc,
# so that the index finds the needs whose area holds the offer's point, and the exact sphere test only
# decides at the edges. Before, the index found every need within the largest radius (100 km), and the
# exact test discarded most of them in the densest areas.
#
# matching_need_area(location, radius_m) is that box, in degrees (longitude, latitude), on the sphere
# ST_DWithin(…, false) measures on, taken smaller than it is (the polar radius, 6,356,752 m, under the
# mean 6,371,009 m) so that the box is a little wider than the disc:
#   latitude ± d, d = radius / R; longitude ± asin(sin d / cos latitude), the meridians tangent to the
#   disc. Where the disc reaches a pole, or the box would cross the 180° meridian, the box spans every
#   longitude (its latitudes still bound the disc): such a need is a candidate for every offer of its
#   category in its band of latitudes, and the exact test still decides. No need in France is one.
# A stored generated column holds it: computed by the database on every write of the row (the trigger
# of migration 0002 copying the need, the ORM, raw SQL), never written by the application.
#
# The index is on (category, area), for open rows, and includes every column the query reads, so the
# scan is index-only (no heap visit while the visibility map is set, as autovacuum keeps it). PostgreSQL
# box, not PostGIS geometry: its GiST operator class stores the box as it is, so it can return it.
SQL = """
CREATE FUNCTION matching_need_area(location geography, radius_m integer) RETURNS box
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
SELECT CASE
    WHEN abs(c.lat) + c.d >= 90
        THEN box(point(-180, greatest(c.lat - c.d, -90)), point(180, least(c.lat + c.d, 90)))
    ELSE (SELECT CASE WHEN c.lon - w.w <= -180 OR c.lon + w.w >= 180
                          THEN box(point(-180, c.lat - c.d), point(180, c.lat + c.d))
                      ELSE box(point(c.lon - w.w, c.lat - c.d), point(c.lon + w.w, c.lat + c.d)) END
            FROM (SELECT degrees(asin(sin(radians(c.d)) / cos(radians(c.lat)))) AS w) AS w)
END
FROM (SELECT ST_X(location::geometry) AS lon, ST_Y(location::geometry) AS lat,
             degrees(radius_m / 6356752.0) AS d) AS c
$$;

ALTER TABLE matching_need_category
    ADD COLUMN area box GENERATED ALWAYS AS (matching_need_area(location, radius_m)) STORED;

CREATE INDEX need_category_open_area ON matching_need_category USING gist (category_id, area)
    INCLUDE (need_id, organisation_id, location, radius_m, quantity_wanted, unit, deadline)
    WHERE is_open;
"""

REVERSE = """
DROP INDEX IF EXISTS need_category_open_area;
ALTER TABLE matching_need_category DROP COLUMN IF EXISTS area;
DROP FUNCTION IF EXISTS matching_need_area(geography, integer);
"""


class Migration(migrations.Migration):
    dependencies = [("matching", "0003_search_cells")]
    operations = [
        migrations.RemoveIndex(model_name="needcategory", name="need_category_open_gist"),
        migrations.RunSQL(SQL, REVERSE),
    ]

from django.contrib.postgres.operations import UnaccentExtension
from django.db import migrations

# French-aware full text: a `french_unaccent` configuration (unaccent, then the French stemmer), and a
# trigger that keeps offer.search_vector in step with title (weight A) and description (weight B).
# Queries use websearch_to_tsquery('french_unaccent', q), so "Étagère" finds "etageres".
SQL = """
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_ts_config WHERE cfgname = 'french_unaccent') THEN
        CREATE TEXT SEARCH CONFIGURATION french_unaccent (COPY = french);
        ALTER TEXT SEARCH CONFIGURATION french_unaccent
            ALTER MAPPING FOR hword, hword_part, word WITH unaccent, french_stem;
    END IF;
END $$;

CREATE OR REPLACE FUNCTION exchange_offer_search_vector() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.search_vector :=
        setweight(to_tsvector('french_unaccent', coalesce(NEW.title, '')), 'A') ||
        setweight(to_tsvector('french_unaccent', coalesce(NEW.description, '')), 'B');
    RETURN NEW;
END;
$$;

CREATE TRIGGER exchange_offer_search_vector_update
    BEFORE INSERT OR UPDATE OF title, description ON exchange_offer
    FOR EACH ROW EXECUTE FUNCTION exchange_offer_search_vector();
"""

REVERSE = """
DROP TRIGGER IF EXISTS exchange_offer_search_vector_update ON exchange_offer;
DROP FUNCTION IF EXISTS exchange_offer_search_vector();
DROP TEXT SEARCH CONFIGURATION IF EXISTS french_unaccent;
"""


class Migration(migrations.Migration):
    dependencies = [("exchange", "0002_initial")]
    operations = [UnaccentExtension(), migrations.RunSQL(SQL, REVERSE)]

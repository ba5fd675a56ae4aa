"""The benchmark database: created from scratch, migrated, then filled server-side (INSERT … SELECT over
generate_series), so a million offers take minutes and no row crosses the wire.

Organisations, sites and offers are copied from one template row of each, made through the ORM, with
the varying columns replaced: a column added to a model later keeps the template's value instead of
breaking the generator."""

from __future__ import annotations

import io
import time
from urllib.parse import urlsplit, urlunsplit

import psycopg
from tqdm import tqdm

from .cities import BACKGROUND_SHARE, FRANCE_BOX, weighted_cities

TITLES = [
    "Palettes en bois",
    "Étagères métalliques",
    "Chaises de bureau",
    "Carreaux de plâtre",
    "Tuiles en terre cuite",
    "Câbles électriques",
    "Portes intérieures",
    "Planches de chêne",
    "Cartons de déménagement",
    "Bocaux en verre",
    "Chutes de tissu",
    "Ordinateurs portables",
    "Écrans d'ordinateur",
    "Tubes néon",
    "Lames de parquet",
    "Briques pleines",
    "Fenêtres PVC",
    "Radiateurs en fonte",
    "Tables de réunion",
    "Lavabos céramique",
]
BENCH_ORG_PREFIX = "Entreprise bench "
OFFER_CHUNK = 50_000
REMAINING = (
    "(CASE WHEN d.status = 'exhausted' THEN 0 ELSE greatest(1, floor(d.qty * (0.2 + 0.8 * d.r_left))) END)"
)
BENCH_SITE_PREFIX = "Site bench "


def database_url_named(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def database_recreate(url: str) -> None:
    """Drops and creates the database of `url` (never the one Django is configured with: the caller
    passes the bench URL), with PostGIS."""
    name = urlsplit(url).path.lstrip("/")
    with psycopg.connect(database_url_named(url, "postgres"), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    with psycopg.connect(url, autocommit=True) as bench:
        bench.execute("CREATE EXTENSION IF NOT EXISTS postgis")


def database_exists(url: str) -> bool:
    name = urlsplit(url).path.lstrip("/")
    with psycopg.connect(database_url_named(url, "postgres"), autocommit=True) as admin:
        return admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is not None


def migrate() -> None:
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    call_command("load_catalogue", stdout=io.StringIO())


def _columns(model) -> list[str]:
    return [field.column for field in model._meta.concrete_fields if not field.primary_key]


def _insert_from_template(model, overrides: dict[str, str], source: str) -> str:
    """INSERT INTO table (every column) SELECT override or the template's value FROM t, `source`."""
    columns = _columns(model)
    unknown = set(overrides) - set(columns)
    if unknown:
        raise RuntimeError(f"{model.__name__} has no column {sorted(unknown)}: update benchmarks/generate.py")
    select = ", ".join(overrides.get(column, f"t.{column}") for column in columns)
    table = model._meta.db_table
    return f"INSERT INTO {table} ({', '.join(columns)}) SELECT {select} FROM {table} t, {source}"


def _snap(expression: str, step: float) -> str:
    """The grid-cell centre of organisations.geo.approximate_point, in SQL."""
    return f"round(((floor({expression} / {step}) + 0.5) * {step})::numeric, 6)::float8"


def _offer_indexes(cursor) -> list[tuple[str, str]]:
    """Indexes of the offer table that no constraint owns: dropped before the bulk insert, rebuilt after."""
    cursor.execute(
        """
        SELECT i.indexname, i.indexdef FROM pg_indexes i
        WHERE i.tablename = 'exchange_offer' AND i.indexname NOT IN (
            SELECT conname FROM pg_constraint WHERE conrelid = 'exchange_offer'::regclass)
        ORDER BY i.indexname
        """
    )
    return cursor.fetchall()


def generate(*, offers: int) -> dict:
    from django.contrib.gis.geos import Point
    from django.db import connection
    from django.utils import timezone

    from exchange.models import Offer, OfferCondition, OfferStatus
    from inventory.models import Category
    from organisations.geo import GRID_LAT_DEG, GRID_LON_DEG
    from organisations.models import Organisation, OrganisationKind, Site

    organisations = min(4000, max(500, offers // 250))
    sites = min(20_000, max(1000, offers // 50))
    background = int(sites * BACKGROUND_SHARE)
    timings: dict[str, float] = {}

    now = timezone.now()
    template_org = Organisation.objects.create(
        name="Bench template", kind=OrganisationKind.COMPANY, verified_at=now
    )
    template_site = Site.objects.create(
        organisation=template_org, name="Bench template site", location=Point(2.3522, 48.8566, srid=4326)
    )
    category = Category.objects.filter(is_active=True).order_by("id").first()
    template_offer = Offer.objects.create(
        organisation=template_org,
        site=template_site,
        category=category,
        title="Bench template",
        quantity=1,
        remaining_quantity=1,
        unit="piece",
        condition=OfferCondition.GOOD,
        available_from=now,
        status=OfferStatus.DRAFT,
        location=template_site.location,
        public_location=template_site.public_location,
    )

    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit = off")
        cursor.execute("SET maintenance_work_mem = '512MB'")
        cursor.execute("SELECT setseed(0.2026)")

        started = time.perf_counter()
        cursor.execute(
            _insert_from_template(
                Organisation,
                {
                    "name": f"'{BENCH_ORG_PREFIX}' || g",
                    "kind": "CASE WHEN g %% 10 = 0 THEN 'association' ELSE 'company' END",
                    "created_at": "now()",
                    "updated_at": "now()",
                    "verified_at": "now()",
                },
                "generate_series(1, %s) g WHERE t.id = %s",
            ),
            [organisations, template_org.pk],
        )
        cursor.execute(
            "CREATE TEMP TABLE bench_org AS SELECT row_number() OVER (ORDER BY id) AS k, id "
            "FROM organisations_organisation WHERE name LIKE %s",
            [BENCH_ORG_PREFIX + "%"],
        )
        cursor.execute(
            "CREATE TEMP TABLE bench_city"
            " (name text, lon float8, lat float8, spread_km float8, low float8, high float8)"
        )
        cursor.executemany("INSERT INTO bench_city VALUES (%s, %s, %s, %s, %s, %s)", weighted_cities())
        lon_min, lat_min, lon_max, lat_max = FRANCE_BOX
        placed = f"""
            (SELECT s.g, c.lon + c.spread_km * s.rho * cos(s.theta) / (111.32 * cos(radians(c.lat))) AS lon,
                    c.lat + c.spread_km * s.rho * sin(s.theta) / 110.57 AS lat
             FROM (SELECT g, random() AS pick, sqrt(-2 * ln(1 - random())) AS rho,
                          2 * pi() * random() AS theta
                   FROM generate_series(1, {sites - background}) g) s
             JOIN bench_city c ON s.pick >= c.low AND s.pick < c.high
             UNION ALL
             SELECT {sites - background} + g, {lon_min} + random() * {lon_max - lon_min},
                    {lat_min} + random() * {lat_max - lat_min}
             FROM generate_series(1, {background}) g) q
            JOIN bench_org o ON o.k = 1 + q.g %% {organisations}
            WHERE t.id = %s
        """
        cursor.execute(
            _insert_from_template(
                Site,
                {
                    "organisation_id": "o.id",
                    "name": f"'{BENCH_SITE_PREFIX}' || q.g",
                    "location": "ST_SetSRID(ST_MakePoint(q.lon, q.lat), 4326)::geography",
                    "public_location": (
                        f"ST_SetSRID(ST_MakePoint({_snap('q.lon', GRID_LON_DEG)},"
                        f" {_snap('q.lat', GRID_LAT_DEG)}), 4326)::geography"
                    ),
                    "territory_id": "NULL",
                    "created_at": "now()",
                    "updated_at": "now()",
                },
                placed,
            ),
            [template_site.pk],
        )
        cursor.execute(
            "CREATE TEMP TABLE bench_site AS SELECT row_number() OVER (ORDER BY id) AS k, id, "
            "organisation_id, location, public_location FROM organisations_site WHERE name LIKE %s",
            [BENCH_SITE_PREFIX + "%"],
        )
        cursor.execute("ALTER TABLE bench_site ADD PRIMARY KEY (k)")
        cursor.execute(
            "CREATE TEMP TABLE bench_category AS SELECT row_number() OVER (ORDER BY id) AS k, id, "
            "default_unit FROM inventory_category WHERE is_active"
        )
        cursor.execute("SELECT count(*) FROM bench_category")
        (categories,) = cursor.fetchone()
        timings["organisations_and_sites_s"] = round(time.perf_counter() - started, 1)

        started = time.perf_counter()
        indexes = _offer_indexes(cursor)
        for name, _definition in indexes:
            cursor.execute(f'DROP INDEX "{name}"')
        titles = "ARRAY[" + ", ".join("'" + title.replace("'", "''") + "'" for title in TITLES) + "]"
        draws = f"""
            (SELECT p.*,
                    CASE WHEN p.r_status < 0.88 THEN 'published' WHEN p.r_status < 0.92 THEN 'draft'
                         WHEN p.r_status < 0.96 THEN 'withdrawn' WHEN p.r_status < 0.98 THEN 'closed'
                         ELSE 'exhausted' END AS status,
                    CASE WHEN p.r_from < 0.9 THEN now() - interval '1 day' * p.r_from * 60
                         ELSE now() + interval '1 day' * (p.r_from - 0.9) * 140 END AS available_from
             FROM (SELECT g, (1 + floor(random() * {sites}))::int AS sk,
                          (1 + floor(random() * {categories}))::int AS ck,
                          random() AS r_status, random() AS r_mode, random() AS r_until, random() AS r_from,
                          random() AS r_left, (1 + floor(random() * 200))::numeric AS qty,
                          (1 + floor(random() * {len(TITLES)}))::int AS word, floor(random() * 4)::int AS cond
                   FROM generate_series(%s, %s) g) p) d
            JOIN bench_site s ON s.k = d.sk
            JOIN bench_category c ON c.k = d.ck
            WHERE t.id = %s
        """
        insert_offers = _insert_from_template(
            Offer,
            {
                "created_at": "d.available_from",
                "updated_at": "d.available_from",
                "organisation_id": "s.organisation_id",
                "site_id": "s.id",
                "category_id": "c.id",
                "title": f"({titles})[d.word] || ' — lot ' || d.g",
                "description": "'Lot généré pour le benchmark de recherche.'",
                "quantity": "d.qty",
                "unit": "c.default_unit",
                "remaining_quantity": REMAINING,
                # The stock adds up (CHECK offer_stock_identity): what is not left was collected.
                "collected_quantity": f"d.qty - {REMAINING}",
                "mass_per_unit_kg": (
                    "CASE c.default_unit WHEN 'kg' THEN 1 WHEN 't' THEN 1000 "
                    "ELSE round((0.5 + d.r_left * 30)::numeric, 3) END"
                ),
                "condition": "(ARRAY['new', 'good', 'fair', 'for_parts'])[d.cond + 1]",
                "mode": (
                    "CASE WHEN d.r_mode < 0.85 THEN 'donation' WHEN d.r_mode < 0.95 THEN 'loan' "
                    "ELSE 'sale' END"
                ),
                "price_eur": "CASE WHEN d.r_mode >= 0.95 THEN round((d.r_left * 200)::numeric, 2) END",
                "available_from": "d.available_from",
                "available_until": (
                    "CASE WHEN d.r_until < 0.5 THEN NULL "
                    "ELSE d.available_from + interval '1 day' * (7 + d.r_until * 120) END"
                ),
                "status": "d.status",
                "published_at": "CASE WHEN d.status <> 'draft' THEN d.available_from END",
                "closed_at": "CASE WHEN d.status IN ('closed', 'withdrawn') THEN now() END",
                "location": "s.location",
                "public_location": "s.public_location",
                "search_vector": "NULL",  # the trigger computes it
            },
            draws,
        )
        # In chunks, for the progress bar: the same rows as one statement (the seed is set above).
        with tqdm(total=offers, unit="offer", unit_scale=True, desc="offers", disable=None) as bar:
            for first in range(1, offers + 1, OFFER_CHUNK):
                last = min(first + OFFER_CHUNK - 1, offers)
                cursor.execute(insert_offers, [first, last, template_offer.pk])
                bar.update(last - first + 1)
        timings["offers_insert_s"] = round(time.perf_counter() - started, 1)

        started = time.perf_counter()
        for _name, definition in indexes:
            cursor.execute(definition)
        timings["offer_indexes_s"] = round(time.perf_counter() - started, 1)
        for table in ("bench_org", "bench_city", "bench_site", "bench_category"):
            cursor.execute(f"DROP TABLE {table}")

    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    timings["vacuum_analyze_s"] = round(time.perf_counter() - started, 1)
    return {"organisations": organisations, "sites": sites, "categories": categories, **timings}

"""Statistics benchmark: `handovers` ledger rows (default 1,000,000) over two years (2024–2025), then the
city's two everyday questions for one year (2025): the summary, and the monthly time series by
category. Target: p95 ≤ 100 ms through the API.

Runs against the current database (the bench runner points DATABASE_URL at a separate one). The
ledger is generated server-side, set-based: organisations, sites and offers are a few thousand ORM rows;
claims and handovers are `INSERT … SELECT generate_series` statements, realistic rather than uniform:
donors sit in the MEL communes in proportion to population, each deals in three categories and serves
the eight recipients nearest in its list, mass is weighed, declared or estimated (55/30/15 %), 2 % of
handovers are reversed.

Rollups during the bulk load: the rollup trigger is statement-level (impact/migrations/0002), so the one
INSERT … SELECT of N handovers is summed by one set-based upsert per rollup table, in the same
transaction. `load="rebuild"` instead disables that trigger for the bulk insert only — ALTER TABLE …
DISABLE TRIGGER inside the transaction, so no other session ever sees the ledger without its trigger —
and runs `rebuild_rollups` (impact.rollups.rollups_rebuild) before committing. Both give the same
rollups; the figures of both are in the result.

With `base_url`, each request goes over HTTP (keep-alive, one client) with `auth_header` (default: a JWT
of a bench operator account made here); without, the selectors are called directly.

Long because a benchmark is one script to read top to bottom: data set, floors, runs and report."""

from __future__ import annotations

import http.client
import math
import random
import time
from datetime import date
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from django.db import connection, models, transaction
from django.utils import timezone

# p95 of a repeated read (a cache hit): the summary's is the target; the monthly series by
# category (612 points to serialise) keeps the earlier ceiling.
TARGET_P95_MS = {"summary": 15.0, "timeseries": 100.0}
BENCH_PREFIX = "Boucle bench stats —"
PERIOD = {"from": "2025-01-01", "to": "2025-12-31"}
SEED = 20260101
DONORS = 600
RECIPIENTS = 250
REVERSED_SHARE = 0.02


def _insert_select(model, values: dict[str, str], source: str) -> tuple[str, list]:
    """INSERT INTO <table> (every column) SELECT <values>, defaults for the others FROM <source>: stays
    right when other apps add columns with defaults."""
    columns, expressions, params = [], [], []
    for field in model._meta.concrete_fields:
        if field.primary_key:
            continue
        columns.append(field.column)
        if field.column in values:
            expressions.append(values[field.column])
        elif getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            expressions.append("now()")
        elif field.has_default():
            expressions.append("%s")
            params.append(field.get_db_prep_save(field.get_default(), connection))
        elif field.null:
            expressions.append("NULL")
        elif field.blank and isinstance(field, models.CharField | models.TextField):
            expressions.append("''")
        else:
            raise RuntimeError(
                f"bench_stats: no value for {model.__name__}.{field.name}; update bench_stats.py"
            )
    table = model._meta.db_table
    return f"INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join(expressions)} FROM {source}", params


def _reference_data() -> None:
    """The catalogue and the MEL communes, when the database has none yet."""
    import io

    from django.core.management import call_command

    from inventory.models import Category
    from territories.loading import read_territory_file
    from territories.models import Territory, TerritoryKind
    from territories.services import territories_upsert

    if not Category.objects.exists():
        call_command("load_catalogue", stdout=io.StringIO())
    if not Territory.objects.filter(kind=TerritoryKind.COMMUNE).exists():
        loaded = read_territory_file(
            Path(__file__).resolve().parent.parent / "territories" / "data" / "mel-communes.geojson",
            code_field="code_insee",
        )
        territories_upsert(kind=TerritoryKind.COMMUNE, records=loaded.records, source=loaded.source)


def _parties(rng: random.Random) -> tuple[list, list]:
    """Bench donors (with a site in a commune drawn by population) and recipients; reused if present."""
    from organisations.geo import approximate_point
    from organisations.models import Organisation, OrganisationKind, Site
    from territories.models import Territory

    existing = Organisation.objects.filter(name__startswith=BENCH_PREFIX)
    if not existing.exists():
        now = timezone.now()
        kinds = [OrganisationKind.COMPANY] * 17 + [
            OrganisationKind.PUBLIC_AUTHORITY,
            OrganisationKind.ASSOCIATION,
            OrganisationKind.PROJECT,
        ]
        Organisation.objects.bulk_create(
            [
                Organisation(name=f"{BENCH_PREFIX} donneur {i}", kind=rng.choice(kinds), verified_at=now)
                for i in range(DONORS)
            ]
            + [
                Organisation(
                    name=f"{BENCH_PREFIX} bénéficiaire {i}",
                    kind=OrganisationKind.ASSOCIATION if i % 3 else OrganisationKind.PROJECT,
                    verified_at=now,
                )
                for i in range(RECIPIENTS)
            ]
        )
        communes = list(Territory.objects.filter(kind="commune").only("id", "population", "geometry"))
        weights = [c.population or 1000 for c in communes]
        donors = existing.filter(name__contains="donneur").order_by("id")
        sites = []
        for donor, commune in zip(donors, rng.choices(communes, weights=weights, k=DONORS), strict=True):
            point = commune.geometry.point_on_surface
            sites.append(
                Site(
                    organisation=donor,
                    name="Dépôt",
                    location=point,
                    public_location=approximate_point(point),
                    territory=commune,
                )
            )
        Site.objects.bulk_create(sites)
    donors = list(existing.filter(name__contains="donneur").order_by("id").prefetch_related("sites"))
    recipients = list(existing.filter(name__contains="bénéficiaire").order_by("id"))
    return donors, recipients


def _offers(rng: random.Random, donors: list) -> tuple[list[tuple], str]:
    """Three offers per donor (its three categories): (offer, donor, kind, category, territory, unit,
    kg per unit, factor mode, factor, recipient base)."""
    from exchange.models import Offer, OfferCondition, OfferStatus
    from impact.factors import restatement_rules
    from inventory.models import Category
    from inventory.selectors import FALLBACK_CATEGORY_KEY, current_factor_version

    version = current_factor_version()
    rules = restatement_rules(version) if version else {}
    leaves = [
        c
        for c in Category.objects.filter(is_active=True, children__isnull=True)
        if c.key != FALLBACK_CATEGORY_KEY
    ]
    weights = [1 / (i + 1) for i in range(len(leaves))]  # a few categories carry most of the tonnage
    rng.shuffle(leaves)
    offers = Offer.objects.filter(title__startswith=BENCH_PREFIX)
    if not offers.exists():
        now = timezone.now()
        batch = []
        for donor in donors:
            site = donor.sites.all()[0]
            for category in rng.choices(leaves, weights=weights, k=3):
                batch.append(
                    Offer(
                        organisation=donor,
                        site=site,
                        category=category,
                        title=f"{BENCH_PREFIX} {category.key}",
                        quantity=1_000_000,
                        remaining_quantity=0,
                        collected_quantity=1_000_000,  # a closed lot, all handed over (the stock adds up)
                        unit=category.default_unit,
                        condition=OfferCondition.GOOD,
                        available_from=now,
                        status=OfferStatus.CLOSED,
                        published_at=now,
                        location=site.location,
                        public_location=site.public_location,
                    )
                )
        Offer.objects.bulk_create(batch)
    rows = []
    index = {d.pk: i for i, d in enumerate(donors)}
    for offer in offers.select_related("category", "site", "organisation").order_by("id"):
        category = offer.category
        rule = rules.get(category.pk)
        per_unit = category.typical_mass_kg or (
            Decimal(rng.randint(5, 40)) if offer.unit != "kg" else Decimal(1)
        )
        mode = rule.mode if rule else "none"
        factor = (rule.kgco2e or 0) if rule else 0
        rows.append(
            (
                offer.pk,
                offer.organisation_id,
                offer.organisation.kind,
                category.pk,
                offer.site.territory_id,
                offer.unit,
                per_unit,
                mode,
                factor,
                index[offer.organisation_id] * 7,
            )
        )
    return rows, (version.code if version else "")


def generate(*, handovers: int, load: str = "trigger") -> dict:
    """Adds `handovers` bench rows (+2 % reversals) to the ledger. Returns timings."""
    from claims.models import Claim, Handover
    from impact.rollups import rollups_rebuild

    rng = random.Random(SEED)
    began = time.perf_counter()
    _reference_data()
    donors, recipients = _parties(rng)
    offers, version = _offers(rng, donors)
    recipient_ids = [r.pk for r in recipients]
    kinds = {r.pk: r.kind for r in recipients}
    timings = {"reference_s": round(time.perf_counter() - began, 2)}
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL synchronous_commit = off")
        cursor.execute("SELECT setseed(%s)", [0.2026])
        cursor.execute(
            "CREATE TEMP TABLE bench_offer (k int, offer_id bigint, donor_id bigint, donor_kind text, "
            "category_id bigint, territory_id bigint, unit text, per_unit numeric, mode text, "
            "factor numeric, base int) ON COMMIT DROP"
        )
        cursor.executemany(
            "INSERT INTO bench_offer VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            [(k + 1, *row) for k, row in enumerate(offers)],
        )
        cursor.execute("CREATE TEMP TABLE bench_recipient (k int, id bigint, kind text) ON COMMIT DROP")
        cursor.executemany(
            "INSERT INTO bench_recipient VALUES (%s, %s, %s)",
            [(k, pk, kinds[pk]) for k, pk in enumerate(recipient_ids)],
        )
        cursor.execute("SELECT coalesce(max(id), 0) FROM claims_claim")
        (claims_before,) = cursor.fetchone()
        started = time.perf_counter()
        # Claims: offers drawn with a skew (busy donors), a time uniformly over 2024–2025 in working
        # hours, a recipient among the donor's eight, a quantity that fits the unit.
        sql, params = _insert_select(
            Claim,
            {
                "offer_id": "o.offer_id",
                "organisation_id": "r.id",
                "quantity": "q.quantity",
                "status": "'collected'",
                "created_at": "q.at",
                "updated_at": "q.at",
                "accepted_at": "q.at",
                "pickup_deadline": "q.at + interval '7 days'",
                "closed_at": "q.at + interval '1 day'",
            },
            f"""(SELECT 1 + floor({len(offers)} * power(random(), 1.5))::int AS ok,
                        floor(8 * random())::int AS pick,
                        timestamptz '2024-01-01 00:00+01' + floor(random() * 731) * interval '1 day'
                          + (8 + random() * 10) * interval '1 hour' AS at,
                        random() AS size
                 FROM generate_series(1, %s) g) s
                JOIN bench_offer o ON o.k = s.ok
                JOIN bench_recipient r ON r.k = (o.base + s.pick) %% {len(recipient_ids)}
                CROSS JOIN LATERAL (SELECT s.at,
                    CASE WHEN o.unit = 'kg' THEN round((2 + exp(s.size * 5))::numeric, 3)
                         ELSE 1 + floor(s.size * 12) END AS quantity) q""",
        )
        cursor.execute(sql, [*params, handovers])
        timings["claims_s"] = round(time.perf_counter() - started, 2)
        if load == "rebuild":
            cursor.execute("ALTER TABLE claims_handover DISABLE TRIGGER impact_rollup_ledger_insert")
        started = time.perf_counter()
        mass = "round(c.quantity * o.per_unit * (0.9 + 0.2 * m.noise)::numeric, 3)"
        co2e = (
            f"CASE o.mode WHEN 'kg' THEN round({mass} * o.factor, 3) "
            "WHEN 'item' THEN round(CASE WHEN o.unit = 'piece' THEN c.quantity "
            f"ELSE {mass} / o.per_unit END * o.factor, 3) "
            "ELSE 0 END"
        )
        sql, params = _insert_select(
            Handover,
            {
                "claim_id": "c.id",
                "offer_id": "o.offer_id",
                "donor_id": "o.donor_id",
                "donor_kind": "o.donor_kind",
                "recipient_id": "c.organisation_id",
                "recipient_kind": "r.kind",
                "category_id": "o.category_id",
                "territory_id": "o.territory_id",
                "quantity": "c.quantity",
                "unit": "o.unit",
                "mass_kg": mass,
                "mass_method": "m.method",
                "factor_version": f"'{version}'",
                "factor_basis": "CASE o.mode WHEN 'item' THEN 'per_item' ELSE 'per_kg' END",
                "factor_kgco2e": "o.factor",
                "factor_source": "'benchmark: current factor version'",
                "factor_status": "'sourced'",
                "co2e_avoided_kg": co2e,
                "collected_at": "c.closed_at",
                "recorded_at": "c.closed_at",
                "recorded_by": "'system'",
            },
            """claims_claim c JOIN bench_offer o ON o.offer_id = c.offer_id
               JOIN bench_recipient r ON r.id = c.organisation_id
               CROSS JOIN LATERAL (SELECT random() AS noise, (ARRAY['weighed', 'declared', 'estimated'])[
                   CASE WHEN c.id %% 20 < 11 THEN 1 WHEN c.id %% 20 < 17 THEN 2 ELSE 3 END] AS method) m
               WHERE c.id > %s""",
        )
        cursor.execute(sql, [*params, claims_before])
        cursor.execute("SELECT coalesce(max(id), 0) FROM claims_handover")
        (last,) = cursor.fetchone()
        same = [f.column for f in Handover._meta.concrete_fields if not f.primary_key]
        negated = {"quantity", "mass_kg", "co2e_avoided_kg"}
        values = {column: (f"-h.{column}" if column in negated else f"h.{column}") for column in same}
        values.update(
            reverses_id="h.id",
            recorded_at="h.collected_at + interval '2 days'",
            recorded_by="'system'",
            note="'benchmark correction'",
        )
        sql, params = _insert_select(
            Handover,
            values,
            "claims_handover h WHERE h.claim_id > %s AND h.reverses_id IS NULL "
            "AND h.id <= %s AND h.id %% %s = 0",
        )
        cursor.execute(sql, [*params, claims_before, last, round(1 / REVERSED_SHARE)])
        timings["handovers_s"] = round(time.perf_counter() - started, 2)
        if load == "rebuild":
            # ALTER TABLE waits for no queued deferred foreign-key checks: run them now.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("ALTER TABLE claims_handover ENABLE TRIGGER impact_rollup_ledger_insert")
            started = time.perf_counter()
            rollups_rebuild()
            timings["rebuild_s"] = round(time.perf_counter() - started, 2)
    started = time.perf_counter()
    with connection.cursor() as cursor:  # outside the transaction: VACUUM sets the visibility map too
        cursor.execute(
            "VACUUM ANALYZE claims_claim, claims_handover, impact_dailyrollup, impact_monthlyrollup, "
            "impact_partymonthlyrollup, impact_factorusage"
        )
    timings["vacuum_s"] = round(time.perf_counter() - started, 2)
    timings["total_s"] = round(time.perf_counter() - began, 2)
    return timings


def _percentiles(samples: list[float]) -> dict:
    ordered = sorted(samples)

    def pct(p: float) -> float:
        return round(ordered[max(math.ceil(p / 100 * len(ordered)) - 1, 0)], 2)

    return {
        "requests": len(ordered),
        "p50_ms": pct(50),
        "p95_ms": pct(95),
        "p99_ms": pct(99),
        "mean_ms": round(sum(ordered) / len(ordered), 2),
        "max_ms": round(ordered[-1], 2),
    }


def _operator_authorisation() -> str:
    from rest_framework_simplejwt.tokens import RefreshToken

    from organisations.models import User

    user = User.objects.filter(email="bench-stats@boucle.localhost").first()
    if user is None:
        user = User.objects.create_superuser("bench-stats@boucle.localhost", None)
    return f"Bearer {RefreshToken.for_user(user).access_token}"


def new_versions() -> None:
    """What a commit to every source does to the statistics' cache (impact.versions): new tokens, so the
    next read of each operation misses and computes its figures."""
    from impact.models import DataVersion
    from impact.sql import table

    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table(DataVersion)} SET token = gen_random_uuid()")


def _measure_http(
    base_url: str, auth_header: str, path: str, repeats: int, before_each=None
) -> tuple[dict, int]:
    parts = urlsplit(base_url)
    connection_ = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=60)
    headers = {"Authorization": auth_header, "Accept": "application/json"}
    samples, size = [], 0
    try:
        for i in range(repeats + 3):  # three warm-up requests
            if before_each is not None:
                before_each()
            started = time.perf_counter()
            connection_.request("GET", parts.path.rstrip("/") + path, headers=headers)
            response = connection_.getresponse()
            body = response.read()
            elapsed = (time.perf_counter() - started) * 1000
            if response.status != 200:
                raise RuntimeError(f"GET {path}: {response.status} {body[:300]!r}")
            size = len(body)
            if i >= 3:
                samples.append(elapsed)
    finally:
        connection_.close()
    return _percentiles(samples), size


def _measure_selectors(call, repeats: int, before_each=None) -> dict:
    samples = []
    for i in range(repeats + 3):
        if before_each is not None:
            before_each()
        started = time.perf_counter()
        call()
        if i >= 3:
            samples.append((time.perf_counter() - started) * 1000)
    return _percentiles(samples)


def bench_stats(
    *,
    handovers: int = 1_000_000,
    repeats: int = 50,
    base_url: str | None = None,
    auth_header: str | None = None,
    load: str = "trigger",
    generate_data: bool = True,
) -> dict:
    """Generate the ledger (unless `generate_data` is False), then time the summary and the monthly
    series by category for 2025, `repeats` times each: repeated reads (`summary`, `timeseries`: a
    dashboard polling, answered from the cache of impact.versions) and reads after a commit
    (`*_miss`: new data versions before each request, so the figures are computed). Returns timings,
    percentiles and the verdict (on the repeated reads)."""
    from claims.models import Handover
    from impact.models import DailyRollup, MonthlyRollup, PartyMonthlyRollup
    from impact.query import StatsParams
    from impact.selectors import stats_summary, stats_timeseries
    from organisations.actors import Actor

    result: dict = {"handovers": handovers, "load": load, "target_p95_ms": TARGET_P95_MS}
    if generate_data:
        result["generation"] = generate(handovers=handovers, load=load)
    result["ledger_rows"] = Handover.objects.count()
    result["rollup_rows"] = {
        "daily": DailyRollup.objects.count(),
        "monthly": MonthlyRollup.objects.count(),
        "party_monthly": PartyMonthlyRollup.objects.count(),
    }
    summary_path = f"/api/v1/stats/summary/?{urlencode(PERIOD)}"
    series_path = (
        f"/api/v1/stats/timeseries/?{urlencode({**PERIOD, 'interval': 'month', 'group_by': 'category'})}"
    )
    if base_url:
        auth = auth_header or _operator_authorisation()
        result["through"] = "http"
        result["summary"], _size = _measure_http(base_url, auth, summary_path, repeats)
        result["timeseries"], _size = _measure_http(base_url, auth, series_path, repeats)
        result["summary_miss"], _size = _measure_http(base_url, auth, summary_path, repeats, new_versions)
        result["timeseries_miss"], _size = _measure_http(base_url, auth, series_path, repeats, new_versions)
    else:
        actor = Actor.for_system()
        params = StatsParams(date_from=date(2025, 1, 1), date_to=date(2025, 12, 31))
        result["through"] = "selectors"
        summary = lambda: stats_summary(actor=actor, params=params)  # noqa: E731
        series = lambda: stats_timeseries(  # noqa: E731
            actor=actor, params=params, interval="month", group_by="category"
        )
        result["summary"] = _measure_selectors(summary, repeats)
        result["timeseries"] = _measure_selectors(series, repeats)
        result["summary_miss"] = _measure_selectors(summary, repeats, new_versions)
        result["timeseries_miss"] = _measure_selectors(series, repeats, new_versions)
    result["pass"] = all(result[k]["p95_ms"] <= TARGET_P95_MS[k] for k in ("summary", "timeseries"))
    return result


if __name__ == "__main__":
    # .venv/bin/python -m benchmarks.bench_stats [N] [--skip-generate] [--http] (current DATABASE_URL);
    # --http serves the current database with the bench's gunicorn (2 workers × 2 threads).
    import json
    import os
    import sys

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
    django.setup()
    numbers = [arg for arg in sys.argv[1:] if not arg.startswith("--")]
    count = int(numbers[0]) if numbers else 100_000
    generate_data = "--skip-generate" not in sys.argv
    if "--http" in sys.argv:
        from .measure import gunicorn

        log = Path(__file__).resolve().parent.parent / ".local" / "bench-gunicorn-stats-main.log"
        database_url = os.environ.get("DATABASE_URL", "")
        with gunicorn(database_url=database_url, workers=2, threads=2, log_path=log) as port:
            outcome = bench_stats(
                handovers=count,
                repeats=30,
                generate_data=generate_data,
                base_url=f"http://127.0.0.1:{port}",
            )
    else:
        outcome = bench_stats(handovers=count, repeats=30, generate_data=generate_data)
    print(json.dumps(outcome, indent=2, default=str))

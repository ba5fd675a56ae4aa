"""`make bench-bulk` (also run by `make bench`): POST offers/bulk/ through HTTP, as a firm's stock
system calls it, against a small database of its own (no million-offer data set needed).

    .venv/bin/python -m benchmarks.bench_bulk [--database boucle_bench_bulk] [--batches 5]

1. (Re)creates the database (default `boucle_bench_bulk`, next to the configured one; the
   development database is untouched), migrates it, loads the catalogue, and makes a verified company
   with three sites and a read-write API key.
2. Serves the API with gunicorn on loopback (2 workers, gthread), its Celery messages on a queue of its
   own that no worker reads (deleted at the end): what a request pays to enqueue is measured, what a
   worker does later is not.
3. One keep-alive client, the API key, an `Idempotency-Key` on every batch (as a careful integration
   retries), and, in order:
   - floors: the same 1,000 offer rows inserted by one psycopg statement (arrays unnested, indexes
     and the search trigger included, rolled back), and the round trip of a one-item batch that
     writes nothing;
   - `--batches` batches of 1,000 new offers (published at once), then the same offers updated
     (quantity and title changed): offers/s over the batches, each batch checked item by item;
   - the nightly sync: 5,000 SKUs in 5 batches of 1,000, 80 % unchanged, 15 % updated, 5 % new,
     shuffled, each item the SKU's whole record (as an ERP sends it), 4,750 of them loaded before.
4. Prints a summary and writes benchmarks/results/bulk-<timestamp>.json.


Long because a benchmark is one script to read top to bottom: data set, floors, runs and report."""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import sys
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
BATCH = 1000
SYNC_SKUS = 5000
SYNC_SHARES = {"unchanged": 0.80, "updated": 0.15, "created": 0.05}
TARGET_OFFERS_PER_S = 2000
TARGET_SYNC_S = 5.0
SEED = 20261202
QUEUE = "boucle-bench-bulk"
CAVEATS = [
    "One machine: the client, gunicorn and PostgreSQL share the same cores; one client sends one batch "
    "at a time, so a batch runs on one core of the server while the other serves PostgreSQL.",
    "The database holds only what the benchmark makes (tens of thousands of offers): the live offers "
    "are found by the (organisation, external_ref) unique index, whose cost grows with the log of "
    "the table size.",
    "No Celery worker runs: subscribers of the events (matching of each published offer) run later, "
    "elsewhere; the request pays one broker message per batch (core.tasks.dispatch_events).",
    "PostgreSQL runs with its default configuration (fsync on, synchronous_commit on).",
    "Figures vary between runs by 10–20 %, more when other work loads the machine: see the load "
    "average in the result.",
]


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="benchmarks.bench_bulk", description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", default="boucle_bench_bulk", help="name of the bench database")
    parser.add_argument("--batches", type=int, default=5, help="batches of 1,000 new (then updated) offers")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    return parser.parse_args(argv)


# ---- data -----------------------------------------------------------------------------------------


def _firm() -> tuple[int, list[int], str]:
    """A verified company, three sites in Roubaix, a read-write API key: (organisation, sites, key)."""
    from django.contrib.gis.geos import Point
    from django.utils import timezone

    from organisations.actors import Actor
    from organisations.models import Membership, MembershipRole, Organisation, OrganisationKind, Site, User
    from organisations.services import api_key_create

    firm = Organisation.objects.create(
        name="Bench bulk — Négoce du Nord", kind=OrganisationKind.COMPANY, verified_at=timezone.now()
    )
    sites = [
        Site.objects.create(organisation=firm, name=f"Dépôt {n}", location=Point(lon, lat, srid=4326))
        for n, (lon, lat) in enumerate([(3.1746, 50.6916), (3.1635, 50.6942), (3.1890, 50.6861)])
    ]
    admin = User.objects.create_user("bench-bulk@boucle.localhost", None)
    Membership.objects.create(user=admin, organisation=firm, role=MembershipRole.ADMIN)
    _key, raw = api_key_create(
        actor=Actor.for_user(admin), organisation_id=firm.pk, name="ERP", scopes=["read", "write"]
    )
    return firm.pk, [site.pk for site in sites], raw


def _categories() -> list[int]:
    from inventory.models import Category

    return list(Category.objects.filter(is_active=True).order_by("pk").values_list("pk", flat=True)[:20])


class Catalogue:
    """A firm's SKUs as its stock system describes them: the whole record of each, by reference."""

    def __init__(self, sites: list[int], categories: list[int]):
        self.sites, self.categories = sites, categories

    def record(self, ref: str, n: int, *, version: int = 0) -> dict:
        kg = n % 2 == 0  # half by weight, half by the piece (no declared mass: nothing to bound)
        return {
            "external_ref": ref,
            "site": self.sites[n % len(self.sites)],
            "category": self.categories[n % len(self.categories)],
            "title": f"Lot {n} — chutes et surplus" + (f" (v{version})" if version else ""),
            "description": "Surplus de chantier, à enlever sur place.",
            "quantity": str(Decimal(10 + n % 90 + version)),
            "unit": "kg" if kg else "piece",
            "condition": ("new", "good", "fair")[n % 3],
            "mode": "donation",
            "pickup_instructions": "Quai 2, de 8 h à 16 h.",
            "status": "published",
        }


# ---- floors ---------------------------------------------------------------------------------------


def _insert_floor(database_url: str, organisation_id: int, site_id: int, category_id: int) -> dict:
    """1,000 offer rows in one INSERT … SELECT FROM unnest(arrays) through psycopg, the search trigger
    and every index included, rolled back; best of five."""
    import psycopg

    n = BATCH
    sql = (
        "INSERT INTO exchange_offer (created_at, updated_at, organisation_id, site_id, category_id, "
        "title, description, quantity, unit, remaining_quantity, reserved_quantity, collected_quantity, "
        "condition, mode, available_from, pickup_instructions, external_ref, auto_accept_claims, status, "
        "published_at, location, public_location) "
        "SELECT now(), now(), %s, %s, %s, t, '', q, 'kg', q, 0, 0, 'good', 'donation', now(), '', r, "
        "false, 'published', now(), s.location, s.public_location "
        "FROM unnest(%s::text[], %s::numeric[], %s::text[]) AS v(t, q, r), organisations_site s "
        "WHERE s.id = %s"
    )
    titles = [f"Lot {i}" for i in range(n)]
    quantities = [Decimal(10 + i % 90) for i in range(n)]
    refs = [f"FLOOR-{i}" for i in range(n)]
    samples = []
    with psycopg.connect(database_url) as conn:
        for _ in range(5):
            started = time.perf_counter()
            with conn.transaction(force_rollback=True):
                conn.execute(sql, [organisation_id, site_id, category_id, titles, quantities, refs, site_id])
            samples.append(time.perf_counter() - started)
    best = min(samples)
    return {"rows": n, "best_ms": round(best * 1000, 1), "rows_per_s": round(n / best)}


class Client:
    """One keep-alive HTTP connection with the firm's API key."""

    def __init__(self, port: int, key: str):
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self.headers = {
            "Authorization": f"Api-Key {key}",
            "Content-Type": "application/json",
            "Accept": "application/json",
        }
        self.sequence = 0

    def post(self, items: list[dict], *, idempotent: bool = True) -> tuple[int, dict, float]:
        body = json.dumps({"items": items})
        headers = dict(self.headers)
        if idempotent:
            self.sequence += 1
            headers["Idempotency-Key"] = f"bench-{os.getpid()}-{time.time_ns()}-{self.sequence}"
        started = time.perf_counter()
        self.connection.request("POST", "/api/v1/offers/bulk/", body=body, headers=headers)
        response = self.connection.getresponse()
        payload = response.read()
        elapsed = time.perf_counter() - started
        return response.status, json.loads(payload), elapsed

    def close(self) -> None:
        self.connection.close()


def _round_trip_floor(client: Client) -> dict:
    """The smallest batch that goes the whole way: one item withdrawing a reference nobody holds (200,
    `unchanged`, nothing written)."""
    samples = []
    for _ in range(50):
        status, body, elapsed = client.post([{"external_ref": "NOBODY", "status": "withdrawn"}])
        if status != 200 or body["unchanged"] != 1:
            raise RuntimeError(f"the one-item batch answered {status}: {json.dumps(body)[:300]}")
        samples.append(elapsed)
    samples.sort()
    return {"requests": len(samples), "p50_ms": round(samples[len(samples) // 2] * 1000, 2)}


# ---- runs -----------------------------------------------------------------------------------------


def _batch(client: Client, items: list[dict], expected: dict[str, int]) -> float:
    status, body, elapsed = client.post(items)
    if status != 200:
        raise RuntimeError(f"batch answered {status}: {json.dumps(body)[:500]}")
    counts = {name: body[name] for name in ("created", "updated", "unchanged", "errors")}
    wanted = {"created": 0, "updated": 0, "unchanged": 0, "errors": 0, **expected}
    if counts != wanted:
        errors = [r["error"] for r in body["results"] if r["error"]][:3]
        raise RuntimeError(f"batch counted {counts}, expected {wanted}; first errors {errors}")
    return elapsed


def _throughput(label: str, seconds: list[float]) -> dict:
    total = sum(seconds)
    result = {
        "batches": len(seconds),
        "items": BATCH * len(seconds),
        "batch_ms": [round(s * 1000, 1) for s in seconds],
        "batch_p50_ms": round(sorted(seconds)[len(seconds) // 2] * 1000, 1),
        "total_s": round(total, 3),
        "offers_per_s": round(BATCH * len(seconds) / total),
    }
    print(f"  {label}: {result['offers_per_s']:,} offers/s (batches {result['batch_ms']} ms)", flush=True)
    return result


def _sync(client: Client, catalogue: Catalogue) -> dict:
    """4,750 SKUs loaded (untimed), then the night's 5,000 records in five timed batches."""
    rng = random.Random(SEED)
    existing = int(SYNC_SKUS * (1 - SYNC_SHARES["created"]))
    updated = int(SYNC_SKUS * SYNC_SHARES["updated"])
    refs = [f"SYNC-{n:05d}" for n in range(SYNC_SKUS)]
    for start in range(0, existing, BATCH):
        chunk = [catalogue.record(refs[n], n) for n in range(start, min(start + BATCH, existing))]
        _batch(client, chunk, {"created": len(chunk)})
    changed = set(rng.sample(range(existing), updated))
    night = [catalogue.record(refs[n], n, version=1 if n in changed else 0) for n in range(SYNC_SKUS)]
    rng.shuffle(night)
    seconds = []
    totals = {"created": 0, "updated": 0, "unchanged": 0}
    for start in range(0, SYNC_SKUS, BATCH):
        chunk = night[start : start + BATCH]
        expected = {
            "created": sum(1 for item in chunk if int(item["external_ref"][5:]) >= existing),
            "updated": sum(1 for item in chunk if int(item["external_ref"][5:]) in changed),
        }
        expected["unchanged"] = len(chunk) - expected["created"] - expected["updated"]
        seconds.append(_batch(client, chunk, expected))
        for name in totals:
            totals[name] += expected[name]
    total = sum(seconds)
    result = {
        "skus": SYNC_SKUS,
        "outcomes": totals,
        "batch_ms": [round(s * 1000, 1) for s in seconds],
        "total_s": round(total, 3),
        "offers_per_s": round(SYNC_SKUS / total),
    }
    print(f"  nightly sync: {result['total_s']} s for {SYNC_SKUS:,} SKUs {totals}", flush=True)
    return result


def _queue_delete() -> None:
    """The bench's Celery messages (no worker reads its queue) go with it."""
    import redis
    from django.conf import settings

    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    broker.delete(QUEUE, f"_kombu.binding.{QUEUE}", f"_kombu.binding_permanent.{QUEUE}")


def bench_bulk(*, database_url: str, batches: int, workers: int) -> dict:
    from .measure import gunicorn

    organisation_id, sites, key = _firm()
    categories = _categories()
    catalogue = Catalogue(sites, categories)
    floor = {"insert": _insert_floor(database_url, organisation_id, sites[0], categories[0])}
    os.environ["CELERY_TASK_DEFAULT_QUEUE"] = QUEUE
    try:
        with gunicorn(
            database_url=database_url,
            workers=workers,
            threads=2,
            log_path=ROOT / ".local" / "bench-gunicorn-bulk.log",
        ) as port:
            client = Client(port, key)
            try:
                floor["one_item_round_trip"] = _round_trip_floor(client)
                # Warm-up: the worker that keeps this connection imports and caches what it needs.
                warm = [catalogue.record(f"WARM-{n}", n) for n in range(100)]
                _batch(client, warm, {"created": 100})
                _batch(client, warm, {"unchanged": 100})
                print("Batches of 1,000 new offers, then the same updated…", flush=True)
                refs = [[f"NEW-{b}-{n:04d}" for n in range(BATCH)] for b in range(batches)]
                new = [
                    _batch(client, [catalogue.record(r, n) for n, r in enumerate(batch)], {"created": BATCH})
                    for batch in refs
                ]
                updates = [
                    _batch(
                        client,
                        [catalogue.record(r, n, version=1) for n, r in enumerate(batch)],
                        {"updated": BATCH},
                    )
                    for batch in refs
                ]
                results = {"new": _throughput("new", new), "updated": _throughput("updated", updates)}
                print("Nightly sync…", flush=True)
                results["sync"] = _sync(client, catalogue)
            finally:
                client.close()
    finally:
        os.environ.pop("CELERY_TASK_DEFAULT_QUEUE", None)
        _queue_delete()
    insert_floor = floor["insert"]["rows_per_s"]
    ratios = {
        "new_over_insert_floor": round(results["new"]["offers_per_s"] / insert_floor, 3),
        "updated_over_insert_floor": round(results["updated"]["offers_per_s"] / insert_floor, 3),
        "new_batch_over_round_trip": round(
            results["new"]["batch_p50_ms"] / floor["one_item_round_trip"]["p50_ms"], 1
        ),
    }
    targets = [
        {
            "name": f"new offers, batches of 1,000: ≥ {TARGET_OFFERS_PER_S:,} offers/s",
            "value": results["new"]["offers_per_s"],
            "pass": results["new"]["offers_per_s"] >= TARGET_OFFERS_PER_S,
        },
        {
            "name": f"updated offers, batches of 1,000: ≥ {TARGET_OFFERS_PER_S:,} offers/s",
            "value": results["updated"]["offers_per_s"],
            "pass": results["updated"]["offers_per_s"] >= TARGET_OFFERS_PER_S,
        },
        {
            "name": f"nightly sync of {SYNC_SKUS:,} SKUs (80/15/5) < {TARGET_SYNC_S} s",
            "value": results["sync"]["total_s"],
            "pass": results["sync"]["total_s"] < TARGET_SYNC_S,
        },
    ]
    return {"floor": floor, "results": results, "ratios": ratios, "targets": targets}


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    from config.env import load_dotenv

    from .generate import database_recreate, database_url_named, migrate

    load_dotenv(ROOT / ".env")
    base_url = os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/boucle"
    bench_url = database_url_named(base_url, args.database)
    if bench_url == base_url:
        print("Refusing to benchmark the configured database: choose another --database.", file=sys.stderr)
        return 2
    os.environ.update(
        DATABASE_URL=bench_url,
        DJANGO_SETTINGS_MODULE="config.settings.base",
        DJANGO_DEBUG="false",
        DJANGO_LOG_LEVEL="WARNING",
    )
    started_at = datetime.now(UTC)
    began = time.perf_counter()
    load_before = os.getloadavg()
    print(f"Creating {args.database}…", flush=True)
    database_recreate(bench_url)
    import django

    django.setup()
    migrate()

    from .run import _machine

    measured = bench_bulk(database_url=bench_url, batches=args.batches, workers=args.workers)
    report = {
        "benchmark": "bulk",
        "started_at": started_at.isoformat(timespec="seconds"),
        "duration_s": round(time.perf_counter() - began, 1),
        "parameters": {
            "batch_items": BATCH,
            "batches": args.batches,
            "sync_skus": SYNC_SKUS,
            "sync_shares": SYNC_SHARES,
            "gunicorn": {"workers": args.workers, "worker_class": "gthread", "threads": 2},
            "database": args.database,
        },
        "machine": {
            **_machine(),
            "load_average_at_start": [round(value, 2) for value in load_before],
            "load_average_at_end": [round(value, 2) for value in os.getloadavg()],
        },
        **measured,
        "caveats": CAVEATS,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"bulk-{started_at.strftime('%Y%m%dT%H%M%SZ')}.json"
    out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")

    machine, floor = report["machine"], measured["floor"]
    print()
    print(f"{machine['cores']} cores, {machine['ram_gb']} GB, {machine['cpu_model']}")
    print(
        f"floors: psycopg INSERT of 1,000 offer rows {floor['insert']['best_ms']} ms "
        f"({floor['insert']['rows_per_s']:,} rows/s); one-item batch round trip "
        f"{floor['one_item_round_trip']['p50_ms']} ms"
    )
    results = measured["results"]
    for label in ("new", "updated"):
        print(
            f"{label}: {results[label]['offers_per_s']:,} offers/s, p50 {results[label]['batch_p50_ms']} ms "
            "per batch of 1,000"
        )
    print(f"nightly sync: {results['sync']['total_s']} s ({results['sync']['outcomes']})")
    print("ratios: " + ", ".join(f"{name} {value}" for name, value in measured["ratios"].items()))
    for target in measured["targets"]:
        print(f"  [{'pass' if target['pass'] else 'FAIL'}] {target['name']}: {target['value']}")
    print(
        f"load average at start {machine['load_average_at_start']}, at end "
        f"{machine['load_average_at_end']} ({machine['cores']} cores)"
    )
    print(f"Written to {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

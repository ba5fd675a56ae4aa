"""`make bench`: the search benchmark (and the matching one), against a separate database.

    .venv/bin/python -m benchmarks.run --offers 1000000 [--needs 100000] [--skip-generate]

1. (Re)creates the database `boucle_bench` next to the configured one, with PostGIS, migrates it and
   loads the catalogue, then generates N offers over France server-side (benchmarks/generate.py):
   clustered by city population, densest around Lille–Roubaix. The development database is untouched.
2. Measures, at a dense point (Roubaix) and a sparse one (rural Creuse), nearest 50 within 5 km:
   (o) the two-level floor and the previous search (benchmarks/floors.py), on one connection;
   (a) the selector's SQL as it is, on one connection; (b) the same through the API over HTTP, a local
   gunicorn (2 workers) and keep-alive clients, one client then several at once; (c) the naive query
   that filters and orders on a computed ST_Distance. Then matching (benchmarks/bench_matching.py).
3. Prints a summary and writes benchmarks/results/search-<timestamp>.json.


Long because a benchmark is one script to read top to bottom: data set, floors, runs and report."""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
RADIUS_M = 5000
LIMIT = 50
TARGETS = {
    "raw_over_floor_p95": 2.0,  # the search SQL p95 ÷ the two-level floor's p95, dense point: at most
    "http_over_floor_p95": 1.5,  # search over HTTP, 1 client ÷ the framework floor, p95, dense: at most
    "concurrent_over_one_p95": 2.0,  # 4 clients ÷ 1 client, p95, dense: at most
    "http_one_client_p95_ms": 8.0,  # search over HTTP, 1 client, dense, p95: at most
    "http_concurrent_p95_ms": 25.0,  # search over HTTP, 4 clients, dense, p95: at most
    "saturation_per_s": 300.0,  # search requests answered per second at saturation, 0 errors: at least
    "naive_over_ours_p50": 10.0,  # naive p50 ÷ ours p50, dense point: at least
}
CAVEATS = [
    "One machine: the load generator, gunicorn and PostgreSQL share the same cores, so the HTTP figures "
    "include contention from the clients themselves; the concurrent run is the pessimistic one.",
    "Synthetic data: offers spread uniformly over sites, sites clustered around cities by population "
    "(MEL communes weighted ×8); real listings are lumpier.",
    "PostgreSQL runs with its default configuration (shared_buffers, work_mem); the application's "
    "connections, these included, turn JIT off (config/env.py). The data set fits in RAM, so this is a "
    "warm-cache benchmark: cold reads from disk would be slower.",
    "The naive query runs with JIT compilation off: with the server default (jit = on) its plan cost "
    "triggers JIT, whose compile time (≈ 0.75 s here) would dominate and flatter the comparison.",
    "Figures vary between runs by 10–20 %; compare runs on the same machine.",
]


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="benchmarks.run", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--offers", type=int, default=1_000_000, help="offers to generate (default 1,000,000)"
    )
    parser.add_argument("--needs", type=int, default=100_000, help="needs for the matching benchmark")
    parser.add_argument(
        "--handovers", type=int, default=1_000_000, help="ledger rows for the statistics benchmark"
    )
    parser.add_argument("--stats-repeats", type=int, default=100, help="requests per statistics question")
    parser.add_argument("--skip-generate", action="store_true", help="reuse the existing bench database")
    parser.add_argument("--search-only", action="store_true", help="skip the matching and statistics runs")
    parser.add_argument("--database", default="boucle_bench", help="name of the bench database")
    parser.add_argument("--sql-requests", type=int, default=2000, help="raw SQL runs per point")
    parser.add_argument("--http-requests", type=int, default=2000, help="HTTP requests per point and run")
    parser.add_argument("--http-threads", type=int, default=4, help="concurrent clients in the loaded run")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers of the HTTP runs")
    parser.add_argument("--threads", type=int, default=2, help="threads per gunicorn worker (gthread)")
    parser.add_argument("--saturation-clients", type=int, default=16, help="clients of the saturation run")
    parser.add_argument("--saturation-seconds", type=float, default=15, help="length of the saturation run")
    parser.add_argument("--naive-requests", type=int, default=30, help="naive SQL runs per point")
    parser.add_argument("--max-seconds", type=float, default=60, help="time cap of each measurement")
    parser.add_argument("--matching-repeats", type=int, default=50, help="offers matched in the matching run")
    return parser.parse_args(argv)


def _machine() -> dict:
    def first(path: str, key: str) -> str | None:
        try:
            for line in Path(path).read_text().splitlines():
                if line.startswith(key):
                    return line.split(":", 1)[1].strip()
        except OSError:
            return None
        return None

    mem_kb = first("/proc/meminfo", "MemTotal")
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        (postgres,) = cursor.fetchone()
        cursor.execute("SELECT postgis_lib_version()")
        (postgis,) = cursor.fetchone()
        cursor.execute("SHOW shared_buffers")
        (shared_buffers,) = cursor.fetchone()
    import django

    return {
        "cores": os.cpu_count(),
        "ram_gb": round(int(mem_kb.split()[0]) / 1024 / 1024, 1) if mem_kb else None,
        "cpu_model": first("/proc/cpuinfo", "model name"),
        "os": platform.platform(),
        "python": platform.python_version(),
        "django": django.get_version(),
        "postgresql": postgres,
        "postgis": postgis,
        "shared_buffers": shared_buffers,
    }


def _searcher():
    """The person searching: a member of an association (sees approximate locations), with a JWT."""
    from rest_framework_simplejwt.tokens import AccessToken

    from organisations.models import Membership, Organisation, OrganisationKind, User

    organisation, _ = Organisation.objects.get_or_create(
        name="Bench association", kind=OrganisationKind.ASSOCIATION
    )
    user, created = User.objects.get_or_create(email="bench-searcher@boucle.localhost")
    if created:
        user.set_unusable_password()
        user.save()
    Membership.objects.get_or_create(user=user, organisation=organisation)
    return user, str(AccessToken.for_user(user))


def _dataset() -> dict:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), count(*) FILTER (WHERE status = 'published'), "
            "(SELECT count(*) FROM organisations_organisation), (SELECT count(*) FROM organisations_site) "
            "FROM exchange_offer"
        )
        offers, published, organisations, sites = cursor.fetchone()
    return {"offers": offers, "published": published, "organisations": organisations, "sites": sites}


def _within(point) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM exchange_offer WHERE status = 'published' "
            "AND ST_DWithin(public_location, ST_SetSRID(ST_MakePoint(%s, %s), 4326)::geography, %s, false)",
            [point.x, point.y, RADIUS_M],
        )
        return cursor.fetchone()[0]


def _plan(sql: str, params, *, jit: bool = True) -> list[str]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"SET jit = {'on' if jit else 'off'}")
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
        plan = [row[0] for row in cursor.fetchall()]
        cursor.execute("RESET jit")
    return plan


def _matching(needs: int, repeats: int) -> dict:
    try:
        from benchmarks.bench_matching import bench_matching
    except ModuleNotFoundError as exc:
        if exc.name != "benchmarks.bench_matching":
            raise
        return {"skipped": "benchmarks/bench_matching.py is not there yet"}
    started = time.perf_counter()
    result = bench_matching(needs=needs, repeats=repeats)
    return {**result, "duration_s": round(time.perf_counter() - started, 1)}


def _stats(args: argparse.Namespace, bench_url: str) -> dict:
    """The city's two everyday questions over a ledger of `--handovers` rows, through the API
    (benchmarks/bench_stats.py); the ledger is generated once per bench database."""
    from claims.models import Handover

    from .bench_stats import bench_stats
    from .measure import gunicorn

    reuse = args.skip_generate and Handover.objects.exists()
    started = time.perf_counter()
    with gunicorn(
        database_url=bench_url, workers=2, threads=2, log_path=ROOT / ".local" / "bench-gunicorn-stats.log"
    ) as port:
        result = bench_stats(
            handovers=args.handovers,
            repeats=args.stats_repeats,
            base_url=f"http://127.0.0.1:{port}",
            generate_data=not reuse,
        )
    return {**result, "ledger_reused": reuse, "duration_s": round(time.perf_counter() - started, 1)}


def _ratio(numerator: float, denominator: float) -> float:
    return round(numerator / denominator, 2) if denominator else float("inf")


def _table(results: dict) -> str:
    lines = [f"{'measurement':<34}{'point':<8}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'req/s':>9}"]
    for label, by_point in results.items():
        for point, stats in by_point.items():
            lines.append(
                f"{label:<34}{point:<8}{stats['p50_ms']:>9.2f}{stats['p95_ms']:>9.2f}"
                f"{stats['p99_ms']:>9.2f}{stats['throughput_per_s']:>9.1f}"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    from config.env import load_dotenv

    from .generate import database_exists, database_recreate, database_url_named, generate, migrate

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
        JWT_ACCESS_MINUTES="180",
    )
    started_at = datetime.now(UTC)
    began = time.perf_counter()
    load_before = os.getloadavg()
    if load_before[0] > 1:
        print(
            f"Warning: load average {load_before[0]:.2f} at start (above 1): other work shares the cores, "
            "every figure below is pessimistic.",
            flush=True,
        )

    generation: dict = {"reused": True}
    if args.skip_generate:
        if not database_exists(bench_url):
            print(f"No database {args.database}: run without --skip-generate first.", file=sys.stderr)
            return 2
    else:
        print(f"Creating {args.database} and generating {args.offers:,} offers…", flush=True)
        database_recreate(bench_url)
    import django

    django.setup()
    migrate()
    if not args.skip_generate:
        generated = time.perf_counter()
        generation = {**generate(offers=args.offers), "total_s": 0.0}
        generation["total_s"] = round(time.perf_counter() - generated, 1)
        print(f"Generated in {generation['total_s']} s.", flush=True)

    from django.contrib.gis.geos import Point

    from matching.search import (
        HIT_VALUES,
        hit_columns,
        offers_near_queryset,
        offers_searchable,
        with_shown_location,
    )
    from organisations.actors import Actor

    from .cities import DENSE_POINT, SPARSE_POINT
    from .floors import floor_build, floor_sql, previous_search
    from .measure import gunicorn, http_load, saturation, time_sql

    user, token = _searcher()
    actor = Actor.for_user(user)
    points = {"dense": DENSE_POINT, "sparse": SPARSE_POINT}
    results: dict[str, dict] = {
        "floor_sql": {},
        "raw_sql": {},
        "previous_sql": {},
        "http_floor": {},
        "http_one_client": {},
        "http_concurrent": {},
        "naive_sql": {},
    }
    saturated: dict = {}
    saturated_floor: dict = {}
    described: dict[str, dict] = {}
    plans: dict[str, list[str]] = {}
    print(f"CPU: {_machine()['cpu_model']}; building the two-level floor's side table…", flush=True)
    floor_cells = floor_build()

    for key, (name, lon, lat) in points.items():
        point = Point(lon, lat, srid=4326)
        ours = offers_near_queryset(actor=actor, point=point, radius_m=RADIUS_M, limit=LIMIT)
        naive = (
            with_shown_location(offers_searchable(base=hit_columns()), actor=actor, point=point)
            .filter(public_distance_m__lte=RADIUS_M)
            .order_by("public_distance_m")
            .values_list(*HIT_VALUES, named=True)[:LIMIT]
        )
        ours_distances = sorted(round(o.public_distance_m, 3) for o in ours)
        naive_distances = sorted(round(o.public_distance_m, 3) for o in naive)
        if ours_distances != naive_distances:
            raise RuntimeError(f"{key}: the naive query and ours disagree; the comparison would be void")
        previous = previous_search(actor=actor, point=point, radius_m=RADIUS_M, limit=LIMIT)
        if sorted(round(o.public_distance_m, 3) for o in previous) != ours_distances:
            raise RuntimeError(f"{key}: the previous query and ours disagree")
        described[key] = {
            "name": name,
            "lon": lon,
            "lat": lat,
            "published_within_radius": _within(point),
            "hits": len(ours_distances),
        }
        sql, params = ours.query.sql_with_params()
        print(f"Raw SQL, {key} ({name})…", flush=True)
        results["raw_sql"][key], _rows = time_sql(
            sql, params, requests=args.sql_requests, max_seconds=args.max_seconds
        )
        plans[key] = _plan(sql, params)
        floor, floor_params = floor_sql(point, radius_m=RADIUS_M, limit=LIMIT)
        print(f"Two-level floor, {key}…", flush=True)
        results["floor_sql"][key], floor_rows = time_sql(
            floor, floor_params, requests=args.sql_requests, max_seconds=args.max_seconds
        )
        if len(floor_rows) != len(ours_distances):
            raise RuntimeError(f"{key}: the floor found {len(floor_rows)} offers, ours {len(ours_distances)}")
        plans[f"{key}_floor"] = _plan(floor, floor_params)
        previous_sql, previous_params = previous.query.sql_with_params()
        print(f"Previous SQL (offers' GiST), {key}…", flush=True)
        results["previous_sql"][key], _rows = time_sql(
            previous_sql, previous_params, requests=args.sql_requests, max_seconds=args.max_seconds
        )
        plans[f"{key}_previous"] = _plan(previous_sql, previous_params)
        naive_sql, naive_params = naive.query.sql_with_params()
        print(f"Naive SQL, {key}…", flush=True)
        results["naive_sql"][key], _rows = time_sql(
            naive_sql,
            naive_params,
            requests=args.naive_requests,
            max_seconds=args.max_seconds,
            warmup=2,
            jit=False,
        )
        plans[f"{key}_naive"] = _plan(naive_sql, naive_params, jit=False)

    workers, threads = args.workers, args.threads
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    with gunicorn(
        database_url=bench_url,
        workers=workers,
        threads=threads,
        log_path=ROOT / ".local" / "bench-gunicorn.log",
    ) as port:
        for key, (_name, lon, lat) in points.items():
            query = f"?lat={lat}&lon={lon}&radius_km={RADIUS_M // 1000}&limit={LIMIT}"
            print(f"HTTP framework floor, {key}, 1 client…", flush=True)
            results["http_floor"][key], floor_body = http_load(
                port=port,
                path=f"/bench/search-floor/{query}",
                headers=headers,
                threads=1,
                requests=args.http_requests,
                max_seconds=args.max_seconds,
            )
            if floor_body.get("count") != described[key]["hits"]:
                raise RuntimeError(f"HTTP floor {key}: {floor_body.get('count')} results")
            path = f"/api/v1/offers/search/{query}"
            for label, clients in (("http_one_client", 1), ("http_concurrent", args.http_threads)):
                print(f"HTTP, {key}, {clients} client(s)…", flush=True)
                results[label][key], body = http_load(
                    port=port,
                    path=path,
                    headers=headers,
                    threads=clients,
                    requests=args.http_requests,
                    max_seconds=args.max_seconds,
                )
                if body.get("count") != described[key]["hits"]:
                    raise RuntimeError(
                        f"HTTP {key}: {body.get('count')} results, SQL gave {described[key]['hits']}"
                    )
            if key == "dense":
                print(
                    f"HTTP, {key}, saturation: {args.saturation_clients} clients for "
                    f"{args.saturation_seconds:g} s…",
                    flush=True,
                )
                saturated = saturation(
                    port=port,
                    path=path,
                    headers=headers,
                    clients=args.saturation_clients,
                    seconds=args.saturation_seconds,
                )
                # The request path's own ceiling: no search can be answered faster than its framework
                # floor, so this bounds what the saturation target can reach on this machine.
                print(f"HTTP framework floor, {key}, saturation…", flush=True)
                saturated_floor = saturation(
                    port=port,
                    path=f"/bench/search-floor/{query}",
                    headers=headers,
                    clients=args.saturation_clients,
                    seconds=args.saturation_seconds,
                )

    if args.search_only:
        matching: dict = {"skipped": "--search-only"}
        stats: dict = {"skipped": "--search-only"}
    else:
        print(f"Matching: {args.needs:,} needs…", flush=True)
        matching = _matching(args.needs, args.matching_repeats)
        print(f"Statistics: {args.handovers:,} handovers…", flush=True)
        stats = _stats(args, bench_url)

    dense = {label: by_point["dense"] for label, by_point in results.items()}
    ratios = {
        "raw_over_floor_p95": _ratio(dense["raw_sql"]["p95_ms"], dense["floor_sql"]["p95_ms"]),
        "previous_over_raw_p50": _ratio(dense["previous_sql"]["p50_ms"], dense["raw_sql"]["p50_ms"]),
        "http_one_client_over_floor_p95": _ratio(
            dense["http_one_client"]["p95_ms"], dense["http_floor"]["p95_ms"]
        ),
        "http_concurrent_over_one_client_p95": _ratio(
            dense["http_concurrent"]["p95_ms"], dense["http_one_client"]["p95_ms"]
        ),
        "http_one_client_over_raw_p50": _ratio(
            dense["http_one_client"]["p50_ms"], dense["raw_sql"]["p50_ms"]
        ),
        "http_concurrent_over_raw_p50": _ratio(
            dense["http_concurrent"]["p50_ms"], dense["raw_sql"]["p50_ms"]
        ),
        "naive_over_ours_p50": _ratio(dense["naive_sql"]["p50_ms"], dense["raw_sql"]["p50_ms"]),
        "saturation_over_floor_saturation": _ratio(
            saturated["throughput_per_s"], saturated_floor["throughput_per_s"]
        ),
        "naive_over_ours_p50_sparse": _ratio(
            results["naive_sql"]["sparse"]["p50_ms"], results["raw_sql"]["sparse"]["p50_ms"]
        ),
    }
    targets = [
        {
            "name": "search SQL p95 ≤ 2 × the two-level floor's p95 (dense)",
            "value": ratios["raw_over_floor_p95"],
            "pass": ratios["raw_over_floor_p95"] <= TARGETS["raw_over_floor_p95"],
        },
        {
            "name": "search over HTTP, 1 client, p95 ≤ 1.5 × the framework floor's p95 (dense)",
            "value": ratios["http_one_client_over_floor_p95"],
            "pass": ratios["http_one_client_over_floor_p95"] <= TARGETS["http_over_floor_p95"],
        },
        {
            "name": f"search over HTTP, {args.http_threads} clients, p95 ≤ 2 × the 1-client p95 (dense)",
            "value": ratios["http_concurrent_over_one_client_p95"],
            "pass": ratios["http_concurrent_over_one_client_p95"] <= TARGETS["concurrent_over_one_p95"],
        },
        {
            "name": "search over HTTP, 1 client, p95 ≤ 8 ms (dense)",
            "value": dense["http_one_client"]["p95_ms"],
            "pass": dense["http_one_client"]["p95_ms"] <= TARGETS["http_one_client_p95_ms"],
        },
        {
            "name": f"search over HTTP, {args.http_threads} clients, p95 ≤ 25 ms (dense)",
            "value": dense["http_concurrent"]["p95_ms"],
            "pass": dense["http_concurrent"]["p95_ms"] <= TARGETS["http_concurrent_p95_ms"],
        },
        {
            "name": f"search throughput at saturation ({args.saturation_clients} clients) ≥ 300 requests/s, "
            "0 errors",
            "value": saturated["throughput_per_s"],
            "pass": saturated["throughput_per_s"] >= TARGETS["saturation_per_s"] and saturated["errors"] == 0,
        },
        {
            "name": "naive p50 ≥ 10 × ours (dense)",
            "value": ratios["naive_over_ours_p50"],
            "pass": ratios["naive_over_ours_p50"] >= TARGETS["naive_over_ours_p50"],
        },
    ]
    if "pass" in matching:
        targets.append(
            {
                "name": f"matching one offer against the needs, p95 ≤ {matching['target_ms']} ms",
                "value": matching.get("p95_ms"),
                "pass": matching["pass"],
            }
        )
    for question in () if "skipped" in stats else ("summary", "timeseries"):
        targets.append(
            {
                "name": f"stats {question} over HTTP, {stats['ledger_rows']:,} ledger rows, "
                f"p95 ≤ {stats['target_p95_ms'][question]} ms (a repeated read)",
                "value": stats[question]["p95_ms"],
                "pass": stats[question]["p95_ms"] <= stats["target_p95_ms"][question],
            }
        )

    report = {
        "benchmark": "search",
        "started_at": started_at.isoformat(timespec="seconds"),
        "duration_s": round(time.perf_counter() - began, 1),
        "parameters": {
            "offers_requested": args.offers,
            "radius_m": RADIUS_M,
            "limit": LIMIT,
            "sql_requests": args.sql_requests,
            "http_requests": args.http_requests,
            "http_threads": args.http_threads,
            "naive_requests": args.naive_requests,
            "max_seconds": args.max_seconds,
            "gunicorn": {"workers": workers, "worker_class": "gthread", "threads": threads},
            "database": args.database,
        },
        "machine": {
            **_machine(),
            # Other work on the machine skews every figure: compare with the number of cores.
            "load_average_at_start": [round(value, 2) for value in load_before],
            "load_average_at_end": [round(value, 2) for value in os.getloadavg()],
        },
        "dataset": {**_dataset(), "search_cells": floor_cells, "generation": generation},
        "points": described,
        "results": results,
        "saturation": saturated,
        "saturation_floor": saturated_floor,
        "ratios": ratios,
        "targets": targets,
        "matching": matching,
        "stats": stats,
        "plans": plans,
        "caveats": CAVEATS,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"search-{started_at.strftime('%Y%m%dT%H%M%SZ')}.json"
    import json

    out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")

    machine = report["machine"]
    print()
    print(
        f"{report['dataset']['offers']:,} offers ({report['dataset']['published']:,} published), "
        f"{report['dataset']['sites']:,} sites; {machine['cores']} cores, {machine['ram_gb']} GB, "
        f"{machine['cpu_model']}"
    )
    for key, point in described.items():
        print(f"  {key}: {point['name']} — {point['published_within_radius']:,} published offers within 5 km")
    print(_table(results))
    print(
        f"saturation (dense, {saturated['clients']} clients, {saturated['seconds']} s): "
        f"{saturated['throughput_per_s']} requests/s, p95 {saturated.get('p95_ms')} ms, "
        f"{saturated['errors']} errors {saturated['failures'] or ''}"
    )
    print(
        f"saturation of the framework floor (its ceiling): {saturated_floor['throughput_per_s']} requests/s, "
        f"p95 {saturated_floor.get('p95_ms')} ms, {saturated_floor['errors']} errors"
    )
    print("ratios: " + ", ".join(f"{name} {value}" for name, value in ratios.items()))
    if "skipped" in matching:
        print(f"matching: skipped ({matching['skipped']})")
    else:
        print(
            f"matching: p50 {matching.get('p50_ms')} ms, p95 {matching.get('p95_ms')} ms "
            f"over {matching.get('needs')} needs"
        )
    if "skipped" in stats:
        print(f"stats: skipped ({stats['skipped']})")
    else:
        print(
            "stats over HTTP: "
            + ", ".join(
                f"{question} p50 {stats[question]['p50_ms']} ms, p95 {stats[question]['p95_ms']} ms"
                for question in ("summary", "timeseries", "summary_miss", "timeseries_miss")
            )
            + f" ({stats['ledger_rows']:,} ledger rows)"
        )
    for target in targets:
        print(f"  [{'pass' if target['pass'] else 'FAIL'}] {target['name']}: {target['value']}")
    print(
        f"load average at start {report['machine']['load_average_at_start']}, at end "
        f"{report['machine']['load_average_at_end']} ({machine['cores']} cores)"
    )
    print(f"Written to {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`make bench-scale`: how search grows with the data — the search SQL and the two-level floor at the
dense and the sparse point, on 100 k, 1 M and 5 M offers (each generated in turn in the bench database,
as `make bench` generates it), and the growth of each p95 from the smallest size to the largest.

    .venv/bin/python -m benchmarks.scale [--sizes 100000,1000000,5000000] [--requests 1000]

Prints the growth table and writes benchmarks/results/scale-<timestamp>.json. Target: the search SQL's
p95 at the dense point within 1.5 × from the smallest size to the largest."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import UTC, datetime

from .run import LIMIT, RADIUS_M, RESULTS, ROOT

GROWTH_TARGET = 1.5


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="benchmarks.scale", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100000,1000000,5000000", help="offer counts, comma-separated")
    parser.add_argument("--requests", type=int, default=1000, help="SQL runs per point and size")
    parser.add_argument("--max-seconds", type=float, default=30, help="time cap of each measurement")
    parser.add_argument("--database", default="boucle_bench", help="name of the bench database")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    from config.env import load_dotenv

    from .generate import database_recreate, database_url_named, generate, migrate

    load_dotenv(ROOT / ".env")
    base_url = os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/boucle"
    bench_url = database_url_named(base_url, args.database)
    if bench_url == base_url:
        print("Refusing to benchmark the configured database: choose another --database.", file=sys.stderr)
        return 2
    os.environ.update(DATABASE_URL=bench_url, DJANGO_SETTINGS_MODULE="config.settings.base")
    load = os.getloadavg()
    if load[0] > 1:
        print(f"Warning: load average {load[0]:.2f} at start (above 1): figures are pessimistic.")
    import django

    sizes = [int(size) for size in args.sizes.split(",")]
    started_at = datetime.now(UTC)
    rows: list[dict] = []
    setup = False
    for size in sizes:
        print(f"Generating {size:,} offers…", flush=True)
        database_recreate(bench_url)
        if not setup:
            django.setup()
            setup = True
        from django.db import connections

        connections.close_all()
        migrate()
        began = time.perf_counter()
        generate(offers=size)
        generated_s = round(time.perf_counter() - began, 1)
        rows.append({"offers": size, "generated_s": generated_s, **_measure(args)})

    from .run import _machine

    growth = {
        f"{label}_{point}": round(rows[-1][label][point]["p95_ms"] / rows[0][label][point]["p95_ms"], 2)
        for label in ("search_sql", "floor_sql")
        for point in ("dense", "sparse")
    }
    report = {
        "benchmark": "search-scale",
        "started_at": started_at.isoformat(timespec="seconds"),
        "machine": {**_machine(), "load_average_at_start": [round(v, 2) for v in load]},
        "radius_m": RADIUS_M,
        "limit": LIMIT,
        "sizes": rows,
        "growth_p95": growth,
        "target": {
            "name": f"search SQL p95 (dense) within {GROWTH_TARGET} × from {sizes[0]:,} to {sizes[-1]:,}",
            "value": growth["search_sql_dense"],
            "pass": growth["search_sql_dense"] <= GROWTH_TARGET,
        },
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"scale-{started_at.strftime('%Y%m%dT%H%M%SZ')}.json"
    out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    header = [("offers", 10), ("search dense", 14), ("floor dense", 13)]
    header += [("search sparse", 15), ("floor sparse", 14)]
    print("\n" + "".join(f"{name:>{width}}" for name, width in header) + "  (p95 ms)")
    for row in rows:
        print(
            f"{row['offers']:>10,}{row['search_sql']['dense']['p95_ms']:>14.2f}"
            f"{row['floor_sql']['dense']['p95_ms']:>13.2f}{row['search_sql']['sparse']['p95_ms']:>15.2f}"
            f"{row['floor_sql']['sparse']['p95_ms']:>14.2f}"
        )
    print("growth of p95, smallest to largest: " + ", ".join(f"{k} {v}" for k, v in growth.items()))
    target = report["target"]
    print(f"  [{'pass' if target['pass'] else 'FAIL'}] {target['name']}: {target['value']}")
    machine = report["machine"]
    print(f"{machine['cpu_model']}, {machine['cores']} cores; written to {out.relative_to(ROOT)}")
    return 0


def _measure(args: argparse.Namespace) -> dict:
    from django.contrib.gis.geos import Point

    from matching.search import offers_near_queryset
    from organisations.actors import Actor

    from .cities import DENSE_POINT, SPARSE_POINT
    from .floors import floor_build, floor_sql
    from .measure import time_sql
    from .run import _searcher

    user, _token = _searcher()
    actor = Actor.for_user(user)
    cells = floor_build()
    result: dict = {"search_cells": cells, "search_sql": {}, "floor_sql": {}}
    for key, (_name, lon, lat) in {"dense": DENSE_POINT, "sparse": SPARSE_POINT}.items():
        point = Point(lon, lat, srid=4326)
        sql, params = offers_near_queryset(
            actor=actor, point=point, radius_m=RADIUS_M, limit=LIMIT
        ).query.sql_with_params()
        result["search_sql"][key], _rows = time_sql(
            sql, params, requests=args.requests, max_seconds=args.max_seconds
        )
        floor, floor_params = floor_sql(point, radius_m=RADIUS_M, limit=LIMIT)
        result["floor_sql"][key], _rows = time_sql(
            floor, floor_params, requests=args.requests, max_seconds=args.max_seconds
        )
        print(
            f"  {key}: search p95 {result['search_sql'][key]['p95_ms']} ms, "
            f"floor p95 {result['floor_sql'][key]['p95_ms']} ms",
            flush=True,
        )
    return result


if __name__ == "__main__":
    sys.exit(main())

"""`make profile`: where a search's time goes in the server, sampled by py-spy under the bench's load.

    .venv/bin/python -m benchmarks.profile [--seconds 20] [--path search|floor] [--database boucle_bench]

Serves the bench database (run `make bench` once first) from one gunicorn worker with one thread, sends it
searches back to back from one keep-alive client (the dense point of `make bench`), and samples the
worker with py-spy at 500 Hz for `--seconds`. Prints the functions taking the most time, inclusive and
self, as shares of the samples, and writes the raw stacks (flame-graph input: `py-spy`'s collapsed format)
and the table to benchmarks/results/profile-<timestamp>.{txt,json}.

One worker and one thread so that every sample is a request being served (or the worker waiting for
the next one, which shows as gunicorn's own wait and is left out of the shares)."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from .run import LIMIT, RADIUS_M, RESULTS, ROOT

# The last frame of a sample in which the worker waits: its main thread for connections, its thread
# pool for the next request.
IDLE = ("(selectors.py:", "(concurrent/futures/thread.py:81)", "(threading.py:")
# Whose functions the first table lists: Boucle's own, by the first part of their file's path.
OWN = (
    "api/",
    "claims/",
    "config/",
    "core/",
    "exchange/",
    "impact/",
    "inventory/",
    "matching/",
    "organisations/",
)
PATHS = {"search": "/api/v1/offers/search/", "floor": "/bench/search-floor/"}


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="benchmarks.profile", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20, help="how long to sample")
    parser.add_argument("--path", choices=sorted(PATHS), default="search", help="what to request")
    parser.add_argument("--database", default="boucle_bench", help="name of the bench database")
    parser.add_argument("--top", type=int, default=30, help="lines of each table")
    return parser.parse_args(argv)


def _worker_pids(master: int) -> list[int]:
    children = Path(f"/proc/{master}/task/{master}/children")
    return [int(pid) for pid in children.read_text().split()] if children.exists() else []


def shares(collapsed: str, top: int) -> dict:
    """The inclusive and self shares of each function in py-spy's collapsed stacks ("a;b;c count" per
    line, outermost first), over the samples that were not the worker waiting for a request."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    busy = 0
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        frames = stack.split(";")
        if any(idle in frames[-1] for idle in IDLE):
            continue
        count = int(count_text)
        busy += count
        for frame in set(frames):
            inclusive[frame] += count
        own[frames[-1]] += count

    def table(counter: Counter[str]) -> list[dict]:
        return [
            {"function": frame, "share": round(count / busy, 4), "samples": count}
            for frame, count in counter.most_common(top)
        ]

    mine = Counter(
        {frame: count for frame, count in inclusive.items() if frame.partition("(")[2].startswith(OWN)}
    )
    return {
        "busy_samples": busy,
        "own_code_inclusive": table(mine),
        "inclusive": table(inclusive),
        "self": table(own),
    }


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    from config.env import load_dotenv

    from .generate import database_exists, database_url_named

    load_dotenv(ROOT / ".env")
    base_url = os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/boucle"
    bench_url = database_url_named(base_url, args.database)
    if not database_exists(bench_url):
        print(f"No database {args.database}: run `make bench` first.", file=sys.stderr)
        return 2
    os.environ.update(
        DATABASE_URL=bench_url, DJANGO_SETTINGS_MODULE="config.settings.base", JWT_ACCESS_MINUTES="60"
    )
    import django

    django.setup()
    from .cities import DENSE_POINT
    from .measure import gunicorn, http_load
    from .run import _searcher

    _user, token = _searcher()
    _name, lon, lat = DENSE_POINT
    path = f"{PATHS[args.path]}?lat={lat}&lon={lon}&radius_km={RADIUS_M // 1000}&limit={LIMIT}"
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    started_at = datetime.now(UTC)
    stem = RESULTS / f"profile-{args.path}-{started_at.strftime('%Y%m%dT%H%M%SZ')}"
    RESULTS.mkdir(parents=True, exist_ok=True)
    masters: list[int] = []
    with gunicorn(
        database_url=bench_url,
        workers=1,
        threads=1,
        log_path=ROOT / ".local" / "profile-gunicorn.log",
        pids=masters,
    ) as port:
        http_load(port=port, path=path, headers=headers, threads=1, requests=200, max_seconds=10)  # warm
        (worker,) = _worker_pids(masters[0])
        load = threading.Thread(
            target=http_load,
            kwargs={
                "port": port,
                "path": path,
                "headers": headers,
                "threads": 1,
                "requests": 10**9,
                "max_seconds": args.seconds + 2,
            },
        )
        load.start()
        time.sleep(0.5)
        spy = subprocess.run(
            [
                str(Path(sys.executable).with_name("py-spy")),
                "record",
                "--pid",
                str(worker),
                "--rate",
                "500",
                "--duration",
                str(int(args.seconds)),
                "--format",
                "raw",
                "--output",
                str(stem.with_suffix(".txt")),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        load.join()
    if spy.returncode != 0:
        print(f"py-spy failed ({spy.returncode}): {spy.stderr.strip()}", file=sys.stderr)
        return 1
    result = {
        "profile": args.path,
        "started_at": started_at.isoformat(timespec="seconds"),
        "seconds": args.seconds,
        "load_average": [round(value, 2) for value in os.getloadavg()],
        **shares(stem.with_suffix(".txt").read_text(), args.top),
    }
    stem.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    for kind in ("own_code_inclusive", "self"):
        print(f"\n{kind} share of {result['busy_samples']} busy samples ({args.path}):")
        for row in result[kind]:
            print(f"  {row['share']:7.1%}  {row['function']}")
    print(f"\nWritten to {stem.with_suffix('.json').relative_to(ROOT)} (stacks: .txt)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

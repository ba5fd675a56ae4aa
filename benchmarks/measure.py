"""Timing: repeated SQL on one connection, HTTP against a local gunicorn with keep-alive clients, and
the summary statistics. Every loop is bounded both in requests and in seconds."""

from __future__ import annotations

import http.client
import json
import math
import os
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager, suppress
from pathlib import Path


def summary(samples_ms: list[float], wall_s: float) -> dict:
    ordered = sorted(samples_ms)

    def pct(p: float) -> float:
        return round(ordered[max(math.ceil(p / 100 * len(ordered)) - 1, 0)], 3)

    return {
        "requests": len(ordered),
        "p50_ms": pct(50),
        "p95_ms": pct(95),
        "p99_ms": pct(99),
        "mean_ms": round(sum(ordered) / len(ordered), 3),
        "min_ms": round(ordered[0], 3),
        "max_ms": round(ordered[-1], 3),
        "throughput_per_s": round(len(ordered) / wall_s, 1),
    }


def time_sql(
    sql: str, params, *, requests: int, max_seconds: float, warmup: int = 20, jit: bool = True
) -> tuple[dict, list]:
    """Runs the statement `requests` times (or until `max_seconds`) on one connection, fetching every
    row, one after the other. Returns the summary and the rows of the last run."""
    from django.db import connection

    rows: list = []
    samples: list[float] = []
    with connection.cursor() as cursor:
        cursor.execute(f"SET jit = {'on' if jit else 'off'}")
        for _ in range(warmup):
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        began = time.perf_counter()
        while len(samples) < requests and time.perf_counter() - began < max_seconds:
            started = time.perf_counter()
            cursor.execute(sql, params)
            rows = cursor.fetchall()
            samples.append((time.perf_counter() - started) * 1000)
        wall = time.perf_counter() - began
        cursor.execute("RESET jit")
    return summary(samples, wall), rows


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def gunicorn(*, database_url: str, workers: int, threads: int, log_path: Path, pids: list[int] | None = None):
    """A gunicorn on 127.0.0.1 serving Boucle from the bench database; stopped (by its pid) on exit. The
    master's pid is appended to `pids` when given (the profiler samples its workers)."""
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DJANGO_SETTINGS_MODULE": "benchmarks.settings",  # the project's, with the framework floor's route
        "DJANGO_DEBUG": "false",
        "DJANGO_LOG_LEVEL": "WARNING",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        # The rate limits stay on the request path (their Redis counters are part of what is measured),
        # with budgets no benchmark spends.
        **{f"BOUCLE_RATE_{scope}": "100000000/min" for scope in ("IP", "USER", "API_KEY", "SEARCH", "STATS")},
    }
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "config.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--worker-class",
        "gthread",  # keeps client connections alive (the sync worker closes each one)
        "--threads",
        str(threads),
        "--keep-alive",
        "30",
        "--log-level",
        "warning",
        "--error-logfile",
        str(log_path),
    ]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    server = subprocess.Popen(command, env=env, cwd=Path(__file__).resolve().parent.parent)
    if pids is not None:
        pids.append(server.pid)
    try:
        deadline = time.monotonic() + 60
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {server.returncode}; see {log_path}")
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                connection.request("GET", "/healthz")
                connection.getresponse().read()
                connection.close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"gunicorn did not answer within 60 s; see {log_path}") from None
                time.sleep(0.2)
        yield port
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def http_load(
    *, port: int, path: str, headers: dict, threads: int, requests: int, max_seconds: float, warmup: int = 20
) -> tuple[dict, dict]:
    """`threads` keep-alive clients share `requests` GETs of `path` (bounded by `max_seconds`).
    Returns the summary and the body of one answer (to check it)."""
    samples: list[float] = []
    errors: list[str] = []
    body: dict = {}
    lock = threading.Lock()
    start = threading.Barrier(threads + 1)
    per_thread = math.ceil(requests / threads)
    stop_at: list[float] = []

    def client() -> None:
        nonlocal body
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine: list[float] = []
        try:
            for _ in range(warmup):
                connection.request("GET", path, headers=headers)
                response = connection.getresponse()
                payload = response.read()
                if response.status != 200:
                    raise RuntimeError(f"{response.status}: {payload[:300]!r}")
            with lock:
                if not body:
                    body = json.loads(payload)
            start.wait()
            began = time.perf_counter()
            while len(mine) < per_thread and time.perf_counter() - began < max_seconds:
                started = time.perf_counter()
                connection.request("GET", path, headers=headers)
                response = connection.getresponse()
                payload = response.read()
                mine.append((time.perf_counter() - started) * 1000)
                if response.status != 200:
                    raise RuntimeError(f"{response.status}: {payload[:300]!r}")
        except Exception as exc:  # reported, and the run fails below
            with lock:
                errors.append(f"{type(exc).__name__}: {exc}")
            start.abort()  # nobody waits forever for a client that failed its warm-up
        finally:
            connection.close()
            with lock:
                samples.extend(mine)
                stop_at.append(time.perf_counter())

    workers = [threading.Thread(target=client) for _ in range(threads)]
    for worker in workers:
        worker.start()
    with suppress(threading.BrokenBarrierError):  # a client failed: reported below
        start.wait()
    began = time.perf_counter()
    for worker in workers:
        worker.join()
    if errors:
        raise RuntimeError("HTTP benchmark failed: " + "; ".join(errors[:3]))
    return summary(samples, max(stop_at) - began), body


def saturation(*, port: int, path: str, headers: dict, clients: int, seconds: float) -> dict:
    """`clients` keep-alive clients send GETs of `path` back to back for `seconds`: the requests answered
    per second once the server is saturated, and every failure (a status other than 200, a timeout, a
    dropped connection) counted rather than raised."""
    samples: list[float] = []
    failures: dict[str, int] = {}
    lock = threading.Lock()
    start = threading.Barrier(clients + 1)
    deadline: list[float] = []

    def failed(reason: str) -> None:
        with lock:
            failures[reason] = failures.get(reason, 0) + 1

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine: list[float] = []
        start.wait()
        while time.perf_counter() < deadline[0]:
            started = time.perf_counter()
            try:
                connection.request("GET", path, headers=headers)
                response = connection.getresponse()
                response.read()
            except (OSError, http.client.HTTPException) as exc:
                failed(type(exc).__name__)
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                continue
            if response.status == 200:
                mine.append((time.perf_counter() - started) * 1000)
            else:
                failed(f"HTTP {response.status}")
        connection.close()
        with lock:
            samples.extend(mine)

    workers = [threading.Thread(target=client) for _ in range(clients)]
    for worker in workers:
        worker.start()
    deadline.append(time.perf_counter() + seconds)
    began = time.perf_counter()
    start.wait()
    for worker in workers:
        worker.join()
    wall = time.perf_counter() - began
    return {
        **(summary(samples, wall) if samples else {"requests": 0, "throughput_per_s": 0.0}),
        "clients": clients,
        "seconds": round(wall, 2),
        "errors": sum(failures.values()),
        "failures": failures,
    }

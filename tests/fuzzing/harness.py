"""The API under contract fuzzing: its own database, its own Redis database, gunicorn on loopback.

    with FuzzedApi.start() as api:
        api.base_url, api.callers()  # the three callers, logged in through the API itself

Everything is torn down on exit, also when the run fails: the server is stopped and the database
dropped. The environment may choose:
  BOUCLE_FUZZ_PORT        the port to serve on (default: one the system reports free)
  BOUCLE_FUZZ_REDIS_URL   a Redis database the fuzzed server may empty (default: database 14 of the
                          tests' Redis server); kept apart from the tests' own, so that throttle and
                          lockout counters of thousands of fuzzed requests never reach another test
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
import redis
import requests
from django.conf import settings
from django.db import connection

from demo.scenario import DEMO_PASSWORD

ROOT = Path(__file__).resolve().parent.parent.parent
SETTINGS_MODULE = "tests.fuzzing.settings"
FUZZ_REDIS_DB = 14
STARTUP_TIMEOUT_S = 60


@dataclass(frozen=True)
class Caller:
    """Who Schemathesis acts as: a name for the report and the Authorization header it sends."""

    name: str
    authorization: str


def _database_url(name: str) -> str:
    db = connection.settings_dict
    user = quote(db.get("USER") or "postgres", safe="")
    password = f":{quote(db['PASSWORD'], safe='')}" if db.get("PASSWORD") else ""
    return f"postgres://{user}{password}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{name}"


def _redis_url() -> str:
    if os.environ.get("BOUCLE_FUZZ_REDIS_URL"):
        return os.environ["BOUCLE_FUZZ_REDIS_URL"]
    return urlunsplit(urlsplit(settings.REDIS_URL)._replace(path=f"/{FUZZ_REDIS_DB}"))


def _free_port() -> int:
    if os.environ.get("BOUCLE_FUZZ_PORT"):
        return int(os.environ["BOUCLE_FUZZ_PORT"])
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def _maintenance() -> Iterator[psycopg.Connection]:
    with psycopg.connect(_database_url("postgres"), autocommit=True) as conn:
        yield conn


class FuzzedApi:
    def __init__(self, *, database: str, redis_url: str, port: int, workdir: Path):
        self.database = database
        self.redis_url = redis_url
        self.port = port
        self.workdir = workdir  # the server's log and media, gone with the run
        self.log_path = workdir / "server.log"
        self.base_url = f"http://127.0.0.1:{port}"
        self._server: subprocess.Popen | None = None

    @classmethod
    @contextlib.contextmanager
    def start(cls) -> Iterator[FuzzedApi]:
        # Named as Django names test databases, never like a database someone works with; the same
        # whether or not pytest-django has already switched the connection to the test database.
        name = connection.settings_dict["NAME"]
        database = f"{name if name.startswith('test_') else 'test_' + name}_fuzz"
        with tempfile.TemporaryDirectory(prefix="boucle-fuzz-") as tmp:
            api = cls(
                database=database,
                redis_url=_redis_url(),
                port=_free_port(),
                workdir=Path(tmp),
            )
            try:
                api._prepare()
                api._serve()
                yield api
            finally:
                api._teardown()

    @property
    def environment(self) -> dict[str, str]:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": SETTINGS_MODULE,
            "DATABASE_URL": _database_url(self.database),
            "REDIS_URL": self.redis_url,
            # The development profile, as `make run` serves it, Django's own error pages included.
            "DJANGO_DEBUG": "true",
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "MEDIA_ROOT": str(self.workdir / "media"),
        }
        for name in ("CELERY_BROKER_URL", "CELERY_RESULT_BACKEND"):
            env.pop(name, None)  # REDIS_URL, not a broker another run may share
        # Rate limits and login lockout still run, out of reach of thousands of requests from one
        # address and one caller (their 429s are tested in tests/test_throttling.py and the login tests).
        for scope in settings.BOUCLE_RATES:
            env[f"BOUCLE_RATE_{scope.upper()}"] = "1000000/min"
        for name in dir(settings):
            if name.startswith("BOUCLE_LOGIN_FAILURES_"):
                env[name] = "1000000/h"
        return env

    def _prepare(self) -> None:
        with _maintenance() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{self.database}"')
        with psycopg.connect(_database_url(self.database), autocommit=True) as conn:
            conn.execute("SET client_min_messages = warning")
            conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        redis.Redis.from_url(self.redis_url).flushdb()
        world = subprocess.run(
            [sys.executable, "-m", "tests.fuzzing.world"],
            cwd=ROOT,
            env=self.environment,
            capture_output=True,
            text=True,
        )
        if world.returncode != 0:
            raise RuntimeError(f"preparing the database failed:\n{world.stdout}{world.stderr[-10_000:]}")

    def _serve(self) -> None:
        log = self.log_path.open("wb")
        # As scripts/run.sh serves the API (tests.fuzzing.wsgi is config.wsgi, tasks loaded).
        command = [
            sys.executable, "-m", "gunicorn", "tests.fuzzing.wsgi:application",
            "--bind", f"127.0.0.1:{self.port}",
            "--workers", "2", "--threads", "4",
            "--error-logfile", "-",
        ]  # fmt: skip
        self._server = subprocess.Popen(
            command,
            cwd=ROOT,
            env=self.environment,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its workers stop with it, whatever happens to this process
        )
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._server.poll() is not None:
                raise RuntimeError(f"gunicorn exited ({self._server.returncode}):\n{self.server_log()}")
            with contextlib.suppress(requests.ConnectionError, requests.Timeout):
                if requests.get(f"{self.base_url}/healthz", timeout=10).status_code == 200:
                    return
            time.sleep(0.2)
        raise RuntimeError(f"the API did not answer within {STARTUP_TIMEOUT_S} s:\n{self.server_log()}")

    def server_log(self, tail: int = 20_000) -> str:
        if not self.log_path.exists():
            return ""
        return self.log_path.read_text(encoding="utf-8", errors="replace")[-tail:]

    def _teardown(self) -> None:
        if self._server is not None and self._server.poll() is None:
            os.killpg(self._server.pid, signal.SIGTERM)
            try:
                self._server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self._server.pid, signal.SIGKILL)
                self._server.wait()
        with contextlib.suppress(redis.RedisError):
            redis.Redis.from_url(self.redis_url).flushdb()
        with _maintenance() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')

    # ---- callers ---------------------------------------------------------------------------------

    def _login(self, email: str) -> str:
        response = requests.post(
            f"{self.base_url}/api/v1/auth/token/",
            json={"email": email, "password": DEMO_PASSWORD},
            timeout=30,
        )
        self._expect(response, 200)
        return response.json()["access"]

    def _expect(self, response: requests.Response, status: int) -> None:
        if response.status_code != status:
            raise RuntimeError(
                f"{response.request.method} {response.url} answered {response.status_code}, not {status}: "
                f"{response.text[:2000]}\n--- server log ---\n{self.server_log()}"
            )

    def callers(self) -> list[Caller]:
        """An association's administrator (Bearer JWT), a firm's API key (read and write) and the city
        (a public authority's administrator), all from the demo scenario."""
        firm_admin = self._login("firm.meubles@demo.boucle.fr")
        created = requests.post(
            f"{self.base_url}/api/v1/api-keys/",
            json={"name": "Schemathesis", "scopes": ["read", "write"]},
            headers={"Authorization": f"Bearer {firm_admin}"},
            timeout=30,
        )
        self._expect(created, 201)
        return [
            Caller("association", f"Bearer {self._login('asso.repaircafe@demo.boucle.fr')}"),
            Caller("firm-api-key", f"Api-Key {created.json()['key']}"),
            Caller("city", f"Bearer {self._login('ville.roubaix@demo.boucle.fr')}"),
        ]

"""Reading settings from the environment (12-factor), with an optional `.env` file for development.

A value already present in the process environment always wins over the file.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

BASE_DIR = Path(__file__).resolve().parent.parent


def load_dotenv(path: Path = BASE_DIR / ".env") -> None:
    if not path.is_file():
        return
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        os.environ.setdefault(key.strip(), value)


def env_str(name: str, default: str | None = None) -> str:
    value = os.environ.get(name)
    if value is None or value == "":
        if default is None:
            raise RuntimeError(f"The environment variable {name} is required.")
        return default
    return value


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return default if value is None or value == "" else int(value)


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env_str(name, default or " ").split(",") if item.strip()]


_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([a-z]+)\s*$")
_PERIOD_SECONDS = {
    **dict.fromkeys(("s", "sec", "second", "seconds"), 1),
    **dict.fromkeys(("m", "min", "minute", "minutes"), 60),
    **dict.fromkeys(("h", "hour", "hours"), 3600),
    **dict.fromkeys(("d", "day", "days"), 86400),
}


def parse_rate(rate: str | None) -> tuple[int, int] | None:
    """A rate such as `300/min`, `5/15min` or `100/h` → (count, period in seconds); `none` or None → None
    (no limit). DRF's own spellings (`20/minute`, `1000/day`) read the same."""
    if rate is None or rate.strip().lower() in {"none", "off"}:
        return None
    match = _RATE.match(rate.lower())
    period = int(match.group(2) or 1) * _PERIOD_SECONDS.get(match.group(3), 0) if match else 0
    if match is None or not period:
        raise ValueError(f"not a rate: {rate!r} (expected e.g. 300/min, 5/15min, 100/h or none)")
    return int(match.group(1)), period


def env_rate(name: str, default: str) -> str:
    """A rate (see parse_rate), checked when the settings load so that a typo stops the process at once."""
    value = env_str(name, default)
    try:
        parse_rate(value)
    except ValueError as error:
        raise RuntimeError(f"The environment variable {name}: {error}") from None
    return value


def database_from_url(url: str) -> dict:
    """`postgres://user:password@host:port/name?options` → a Django DATABASES entry (PostGIS engine)."""
    parts = urlsplit(url)
    if parts.scheme not in {"postgres", "postgresql", "postgis"}:
        raise RuntimeError(f"DATABASE_URL must be a postgres:// URL, not {parts.scheme}://")
    options = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    # PostGIS functions carry high planner costs, which push short OLTP queries (search, matching) over
    # PostgreSQL's JIT threshold: compiling then costs far more than the query (measured: 0.3 ms → 280 ms).
    # Off by default for the application's connections; a URL may still set its own `options`.
    options.setdefault("options", "-c jit=off")
    return {
        "ENGINE": "django.contrib.gis.db.backends.postgis",
        "NAME": unquote(parts.path.lstrip("/")),
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname or "",
        "PORT": str(parts.port or ""),
        "OPTIONS": options,
        "CONN_MAX_AGE": int(os.environ.get("DATABASE_CONN_MAX_AGE", "60")),
        "CONN_HEALTH_CHECKS": True,
    }

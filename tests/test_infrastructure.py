"""Deployment files and production settings: checked by reading them (no Docker engine runs here)."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import os
import re
import secrets
import shlex
import subprocess
import sys
from fnmatch import fnmatch
from pathlib import Path

import pytest
import yaml
from celery import Celery
from celery.app.utils import find_app
from django.core.management import get_commands
from django.utils.module_loading import import_string

BASE_DIR = Path(__file__).resolve().parent.parent
APP_SERVICES = ("migrate", "web", "worker", "beat")


def _env_example_names() -> set[str]:
    """Variables .env.example documents: `NAME=value` lines, commented-out ones included."""
    text = (BASE_DIR / ".env.example").read_text(encoding="utf-8")
    return set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", text, flags=re.MULTILINE))


def _compose() -> dict:
    return yaml.safe_load((BASE_DIR / "docker-compose.yml").read_text(encoding="utf-8"))


def _command(service: dict) -> list[str]:
    command = service.get("command")
    return shlex.split(command) if isinstance(command, str) else list(command)


def _manage(settings_module: str, *args: str, **env: str) -> subprocess.CompletedProcess:
    """`manage.py` in a fresh process with a controlled environment (values here beat any .env file)."""
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/root"),
        "LANG": "C.UTF-8",
        "DJANGO_SETTINGS_MODULE": settings_module,
        "DJANGO_ALLOWED_HOSTS": "boucle.example.org",
        "DJANGO_SECURE_SSL_REDIRECT": "true",
        "DJANGO_SECURE_HSTS_SECONDS": "31536000",
        **{name: os.environ[name] for name in ("DATABASE_URL",) if name in os.environ},
        **env,
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


# --- production settings ----------------------------------------------------------------------------
def test_production_settings_pass_the_deployment_checks_without_warnings():
    result = _manage(
        "config.settings.production",
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(64),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
    assert "WARNING" not in result.stdout + result.stderr


@pytest.mark.parametrize(
    "secret",
    ["dev-only-insecure-secret-change-me", "x" * 20, "django-insecure-" + "a1b2c3d4e5" * 6, "ab" * 40],
    ids=["dev-value", "short", "django-insecure", "few-characters"],
)
def test_production_refuses_a_weak_secret_key(secret):
    result = _manage("config.settings.production", "check", DJANGO_SECRET_KEY=secret)
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be a long random value in production" in result.stderr


def test_production_requires_the_allowed_hosts():
    result = _manage(
        "config.settings.production",
        "check",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(64),
        DJANGO_ALLOWED_HOSTS="",
    )
    assert result.returncode != 0
    assert "DJANGO_ALLOWED_HOSTS must name the public host(s) in production" in result.stderr


# --- configuration is documented ----------------------------------------------------------------------
def _variables_read_by_settings() -> set[str]:
    """Names read through env_str/env_bool/env_int/env_list, os.environ.get, os.getenv or os.environ[…]
    in config/ (not the test settings, which only set defaults for the suite)."""
    names: set[str] = set()
    for source in sorted((BASE_DIR / "config").rglob("*.py")):
        if source.name == "test.py":
            continue
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and node.args:
                function = ast.unparse(node.func)
                is_env_helper = isinstance(node.func, ast.Name) and function.startswith("env_")
                if not (is_env_helper or function in {"os.environ.get", "os.getenv"}):
                    continue
                argument = node.args[0]
            elif isinstance(node, ast.Subscript) and ast.unparse(node.value) == "os.environ":
                argument = node.slice
            else:
                continue
            if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
                names.add(argument.value)
    return names


def test_every_variable_the_settings_read_is_documented_in_env_example():
    read = _variables_read_by_settings()
    assert {"DJANGO_SECRET_KEY", "DATABASE_URL", "REDIS_URL", "DATABASE_CONN_MAX_AGE"} <= read
    missing = sorted(read - _env_example_names())
    assert not missing, f"document these in .env.example: {missing}"


def test_every_variable_the_compose_file_sets_is_documented_in_env_example():
    compose = _compose()
    set_here: set[str] = set()
    for service in compose["services"].values():
        environment = service.get("environment") or {}
        if isinstance(environment, list):
            environment = dict(item.split("=", 1) for item in environment)
        set_here |= set(environment)
    interpolated = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", (BASE_DIR / "docker-compose.yml").read_text()))
    assert {"DJANGO_SETTINGS_MODULE", "DATABASE_URL", "REDIS_URL", "POSTGRES_PASSWORD"} <= set_here
    missing = sorted((set_here | interpolated) - _env_example_names())
    assert not missing, f"docker-compose.yml sets variables .env.example does not document: {missing}"


# --- docker-compose.yml -------------------------------------------------------------------------------
def test_compose_has_the_five_services_and_a_migration_step():
    services = _compose()["services"]
    assert {"db", "redis", "web", "worker", "beat"} <= set(services)
    assert services["db"]["image"] == "postgis/postgis:15-3.4"
    assert services["redis"]["image"].startswith("redis:7")
    assert any(volume.endswith(":/var/lib/postgresql/data") for volume in services["db"]["volumes"])
    for name in ("db", "redis"):
        assert services[name]["healthcheck"]["test"], name
    for name in APP_SERVICES:
        assert services[name]["build"] == ".", name
        assert services[name]["env_file"] == ".env", name
        assert services[name]["environment"]["DJANGO_SETTINGS_MODULE"] == "config.settings.production"
        depends_on = services[name]["depends_on"]
        assert depends_on["db"]["condition"] == depends_on["redis"]["condition"] == "service_healthy"
    for name in ("web", "worker", "beat"):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["migrate"]["restart"] == "no"


def test_compose_commands_point_at_real_modules():
    services = _compose()["services"]

    web = _command(services["web"])
    assert web[0] == "gunicorn"
    target = next(arg for arg in web[1:] if ":" in arg and not arg.startswith("-"))
    module, _, attribute = target.partition(":")
    assert (module, attribute) == ("config.wsgi", "application")
    assert callable(getattr(importlib.import_module(module), attribute))
    assert importlib.util.find_spec("gunicorn") is not None

    for name in ("worker", "beat"):
        command = _command(services[name])
        assert command[:3] == ["celery", "-A", "config"], name
        assert command[3] == name
        assert isinstance(find_app(command[2]), Celery)
    beat = _command(services["beat"])
    scheduler = beat[beat.index("--scheduler") + 1]
    assert scheduler == "django_celery_beat.schedulers:DatabaseScheduler"
    assert isinstance(import_string(scheduler.replace(":", ".")), type)

    settings_module = services["web"]["environment"]["DJANGO_SETTINGS_MODULE"]
    assert importlib.util.find_spec(settings_module) is not None


def test_compose_migration_step_runs_existing_management_commands():
    words = shlex.split(" ".join(_command(_compose()["services"]["migrate"])[2:]))
    commands = [words[index + 1] for index, word in enumerate(words) if word == "manage.py"]
    assert commands[0] == "migrate"
    unknown = [command for command in commands if command not in get_commands()]
    assert not unknown, f"no such management command: {unknown}"
    for word in words:
        if word.endswith((".geojson", ".csv", ".json")):
            assert (BASE_DIR / word).is_file(), word


# --- Dockerfile ---------------------------------------------------------------------------------------
def _dockerfile_instructions() -> list[tuple[str, str]]:
    text = (BASE_DIR / "Dockerfile").read_text(encoding="utf-8").replace("\\\n", " ")
    instructions = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            instructions.append((keyword.upper(), rest.strip()))
    return instructions


def test_dockerfile_copies_files_that_exist_and_are_not_ignored():
    ignored = [
        line.strip()
        for line in (BASE_DIR / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert {".env", ".venv", ".git", ".local"} <= set(ignored)
    copies = [rest for keyword, rest in _dockerfile_instructions() if keyword == "COPY"]
    assert copies
    for rest in copies:
        arguments = [arg for arg in shlex.split(rest) if not arg.startswith("--")]
        for source in arguments[:-1]:
            assert (BASE_DIR / source).exists(), source
            if source != ".":
                assert not any(fnmatch(source, pattern) for pattern in ignored), source


def test_dockerfile_builds_a_complete_runtime():
    instructions = _dockerfile_instructions()
    assert instructions[0] == ("FROM", "python:3.11-slim-bookworm")
    runs = " ".join(rest for keyword, rest in instructions if keyword == "RUN")
    for package in ("libgdal32", "libgeos-c1v5", "libproj25", "gettext"):
        assert package in runs, package
    assert "pip install -r requirements.lock" in runs
    assert "manage.py collectstatic --noinput" in runs
    assert "manage.py compilemessages" in runs
    cmd = next(rest for keyword, rest in instructions if keyword == "CMD")
    assert "config.wsgi:application" in cmd
    env = " ".join(rest for keyword, rest in instructions if keyword == "ENV")
    assert "DJANGO_SETTINGS_MODULE=config.settings.production" in env


# --- the two commands ---------------------------------------------------------------------------------
@pytest.mark.parametrize("script", ["scripts/provision.sh", "scripts/run.sh", ".ci/run"])
def test_shell_scripts_parse_and_stop_on_errors(script):
    path = BASE_DIR / script
    assert os.access(path, os.X_OK), f"{script} is not executable"
    assert subprocess.run(["bash", "-n", str(path)], capture_output=True).returncode == 0
    assert "set -euo pipefail" in path.read_text(encoding="utf-8")


def test_makefile_offers_run_and_test():
    text = (BASE_DIR / "Makefile").read_text(encoding="utf-8")
    targets = set(re.findall(r"^([a-z-]+):", text, flags=re.MULTILINE))
    assert {"run", "test", "schema", "bench"} <= targets


@pytest.mark.django_db
def test_every_model_change_has_its_migration():
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    try:
        call_command("makemigrations", "--check", "--dry-run", stdout=out, verbosity=1)
    except SystemExit:
        pytest.fail("models changed without a migration (run makemigrations for the app):\n" + out.getvalue())

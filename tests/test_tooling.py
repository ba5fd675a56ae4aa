"""The checks a change goes through before it lands: ruff and mypy in `make test` and in the pre-commit
hooks, and only dependencies that are used."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

from tests.test_layering import RANK

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent


def test_make_test_runs_ruff_and_mypy_before_the_suite():
    makefile = (ROOT / "Makefile").read_text()
    recipe = re.search(r"^test:.*?\n((?:\t.*\n)+)", makefile, re.M).group(1)
    lines = [line.strip() for line in recipe.splitlines()]
    assert lines[:3] == [".venv/bin/ruff check .", ".venv/bin/ruff format --check .", ".venv/bin/mypy"]
    assert lines[3].startswith(".venv/bin/python -m pytest")
    assert re.search(r"^typecheck:\n\t\.venv/bin/mypy\n", makefile, re.M)


def test_mypy_checks_the_domain_packages_and_the_api_with_the_django_and_drf_plugins():
    mypy = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]
    assert mypy["plugins"] == ["mypy_django_plugin.main", "mypy_drf_plugin.main"]
    assert set(mypy["files"]) == set(RANK) - {"demo", "web"}  # the domain packages and api/


def test_the_pre_commit_hooks_run_ruff_and_mypy_from_the_pinned_environment():
    config = ROOT / ".pre-commit-config.yaml"
    result = subprocess.run(
        [VENV_BIN / "pre-commit", "validate-config", config], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    hooks = {
        hook["id"]: hook for repo in yaml.safe_load(config.read_text())["repos"] for hook in repo["hooks"]
    }
    assert set(hooks) == {"ruff-check", "ruff-format", "mypy"}
    assert all("stages" not in hook for hook in hooks.values())  # every hook runs on each commit
    assert all(
        hook["language"] == "system" and hook["entry"].startswith(".venv/bin/") for hook in hooks.values()
    )


def test_no_unused_django_apps_or_dependencies():
    direct = {
        line.split("[")[0].strip().lower()
        for line in (ROOT / "requirements.in").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert "django-filter" not in direct and "djangorestframework-gis" not in direct
    lock = (ROOT / "requirements.lock").read_text().lower()
    assert "django-filter==" not in lock and "djangorestframework-gis==" not in lock

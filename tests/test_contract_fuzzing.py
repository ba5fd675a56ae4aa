"""The served API keeps its contract: Schemathesis generates requests from `openapi.yaml` (valid ones and
invalid ones, examples, boundary values, then chains of calls along the schema's links) against the API
served by gunicorn on loopback with its own database and the demo scenario, and checks every answer
with all of its checks: no server error, only documented statuses, content types, headers and bodies,
invalid input refused, valid input accepted, authentication enforced.

Runs in `make test`; alone with `make fuzz`. Settings: tests/fuzzing/schemathesis.toml; server and
callers: tests/fuzzing/harness.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .fuzzing.harness import ROOT, Caller, FuzzedApi

pytestmark = pytest.mark.slow

SPEC = ROOT / "openapi.yaml"
CONFIG = ROOT / "tests" / "fuzzing" / "schemathesis.toml"
HOOKS = "tests.fuzzing.hooks"
# Who calls, and which phases. The coverage phase (every parameter and property at its bounds, of
# each wrong type, missing, and each method a path lacks) tries the shape of the input, which is the
# same whoever sends it: one caller runs it. Examples, random requests and chains of calls along the
# links answer differently for each caller: all three run those.
CALLERS = {
    "association": "examples,coverage,fuzzing,stateful",
    "firm-api-key": "examples,fuzzing,stateful",
    "city": "examples,fuzzing,stateful",
}


@pytest.fixture(scope="module")
def fuzzed_api():
    with FuzzedApi.start() as api:
        yield api


@pytest.fixture(scope="module")
def callers(fuzzed_api) -> dict[str, Caller]:
    """Logged in once, before any fuzzing: nothing one caller's run changes can keep another out."""
    return {caller.name: caller for caller in fuzzed_api.callers()}


def run_schemathesis(
    api: FuzzedApi, caller: Caller, phases: str, report: Path
) -> tuple[subprocess.CompletedProcess, dict]:
    command = [
        sys.executable, "-m", "schemathesis.cli", "--config-file", str(CONFIG), "--no-color",
        "run", str(SPEC),
        "--url", api.base_url,
        "--header", f"Authorization: {caller.authorization}",
        "--checks", "all",
        "--phases", phases,
        "--report", "json", "--report-json-path", str(report),
    ]  # fmt: skip
    env = {**os.environ, "SCHEMATHESIS_HOOKS": HOOKS}
    completed = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    summary = json.loads(report.read_text(encoding="utf-8")) if report.exists() else {}
    return completed, summary


@pytest.mark.parametrize("caller_name", CALLERS)
def test_the_served_api_keeps_its_contract(fuzzed_api, callers, caller_name, tmp_path):
    completed, summary = run_schemathesis(
        fuzzed_api, callers[caller_name], CALLERS[caller_name], tmp_path / "run.json"
    )

    output = completed.stdout + completed.stderr
    assert summary, f"Schemathesis wrote no report (exit {completed.returncode}):\n{output}"
    operations, cases = summary["operations"], summary["test_cases"]
    # An operation nothing was sent to is a hole in the net, not a pass.
    assert operations["total"] > 0 and operations["tested"] == operations["total"], (
        f"{operations['tested']} of {operations['total']} operations tested:\n{output}"
    )
    assert cases["generated"] > 0, output
    assert completed.returncode == 0 and cases["with_failures"] == 0 and not summary["errors"], (
        f"{caller_name}: {cases['unique_failures']} contract failures in {cases['generated']} cases\n"
        f"{output}\n--- server log ---\n{fuzzed_api.server_log()}"
    )
    print(  # shown by `make fuzz`
        f"{caller_name}: {operations['tested']}/{operations['total']} operations, {cases['generated']} "
        f"cases ({CALLERS[caller_name]}), 0 failures, {summary['running_time']:.0f} s"
    )

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
    api: FuzzedApi, caller: Caller, phases: str, report: Path, *extra: str
) -> tuple[subprocess.CompletedProcess, dict]:
    command = [
        sys.executable, "-m", "schemathesis.cli", "--config-file", str(CONFIG), "--no-color",
        "run", str(SPEC),
        "--url", api.base_url,
        "--header", f"Authorization: {caller.authorization}",
        "--checks", "all",
        "--phases", phases,
        "--report", "json", "--report-json-path", str(report),
        *extra,
    ]  # fmt: skip
    env = {**os.environ, "SCHEMATHESIS_HOOKS": HOOKS}
    completed = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    summary = json.loads(report.read_text(encoding="utf-8")) if report.exists() else {}
    return completed, summary


def run_problems(
    completed: subprocess.CompletedProcess, summary: dict, *, every_operation: bool = True
) -> list[str]:
    """Why a run does not pass; empty when it does. `every_operation`: each operation must have been sent
    something (the stateful phase alone follows links, and reaches only the operations they join)."""
    if not summary:
        return [f"Schemathesis wrote no report (exit {completed.returncode})"]
    operations, cases = summary["operations"], summary["test_cases"]
    problems = []
    # An operation nothing was sent to is a hole in the net, not a pass.
    untested = every_operation and operations["tested"] != operations["total"]
    if not operations["total"] or untested or not cases["generated"]:
        problems.append(f"{operations['tested']} of {operations['total']} operations tested")
    if completed.returncode != 0 or cases["with_failures"] or summary["errors"]:
        problems.append(f"{cases['unique_failures']} contract failures in {cases['generated']} cases")
    return problems


@pytest.mark.parametrize("caller_name", CALLERS)
def test_the_served_api_keeps_its_contract(fuzzed_api, callers, caller_name, tmp_path):
    phases = CALLERS[caller_name].split(",")
    # The stateful phase chains operations through the schema's links: a schema-valid step meets the
    # state the earlier steps left, and business rules no schema states (a photo's bytes, a quantity the
    # lot no longer holds) refuse it with a 400. It runs on its own, with every check but that one.
    runs = [(",".join(p for p in phases if p != "stateful"), ())]
    if "stateful" in phases:
        runs.append(("stateful", ("--exclude-checks", "positive_data_acceptance")))
    for index, (run_phases, extra) in enumerate(runs):
        completed, summary = run_schemathesis(
            fuzzed_api, callers[caller_name], run_phases, tmp_path / f"run-{index}.json", *extra
        )
        problems = run_problems(completed, summary, every_operation=index == 0)
        assert not problems, (
            f"{caller_name} ({run_phases}): {'; '.join(problems)}\n{completed.stdout}{completed.stderr}\n"
            f"--- server log ---\n{fuzzed_api.server_log()}"
        )
    print(  # shown by `make fuzz`
        f"{caller_name}: {summary['operations']['tested']}/{summary['operations']['total']} operations, "
        f"{summary['test_cases']['generated']} cases ({CALLERS[caller_name]}), 0 failures, "
        f"{summary['running_time']:.0f} s"
    )


def test_a_run_that_tests_no_operation_fails(fuzzed_api, callers, tmp_path):
    completed, summary = run_schemathesis(
        fuzzed_api,
        callers["city"],
        "examples",
        tmp_path / "run.json",
        "--include-operation-id",
        "no_such_operation",
    )
    assert completed.returncode != 0
    assert run_problems(completed, summary)[0].startswith("0 of ")

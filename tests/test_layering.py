"""The architecture, checked: imports point one way only.

core ← inventory, territories ← organisations ← exchange ← claims ← receipts ← matching ← impact
← integrations ← demo ← api ← web
A package may import those to its left, never those to its right; no domain package imports the HTTP
layers (api, web). Higher layers reach lower ones through domain events, not imports."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RANK = {
    "core": 0,
    "inventory": 1,
    "territories": 1,
    "organisations": 2,
    "exchange": 3,
    "claims": 4,
    "receipts": 5,
    "matching": 6,
    "impact": 7,
    "integrations": 8,
    "demo": 9,
    "api": 10,
    "web": 11,
}


def _imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found & RANK.keys()


@pytest.mark.parametrize("package", sorted(RANK))
def test_a_package_imports_only_lower_layers(package):
    violations = []
    for path in sorted((ROOT / package).rglob("*.py")):
        if "migrations" in path.parts:
            continue
        for imported in _imported_packages(path):
            if imported == package or RANK[imported] < RANK[package]:
                continue
            if RANK[imported] == RANK[package]:
                violations.append(f"{path.relative_to(ROOT)} imports its sibling layer {imported}")
            else:
                violations.append(f"{path.relative_to(ROOT)} imports the higher layer {imported}")
    assert violations == []


def test_the_checker_sees_a_violation(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from api.errors import problem_body\nimport exchange.models\n")
    assert _imported_packages(bad) == {"api", "exchange"}

"""Modules stay small enough to read in one sitting: a module of the project over MAX_LINES lines says at
the top why it is one module (its docstring has a sentence starting "Long because"), or is split into a
package whose folders show the parts. Tests and migrations are not counted."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.test_layering import RANK

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("config", *RANK, "benchmarks")
MAX_LINES = 420  # "about 400"
REASON = "Long because"


def _modules() -> list[Path]:
    return sorted(
        path
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if "migrations" not in path.parts
    )


def test_the_packages_are_found():
    assert len(_modules()) > 100


def test_every_long_module_says_why_it_is_one_module():
    unexplained = []
    for path in _modules():
        text = path.read_text()
        if text.count("\n") <= MAX_LINES:
            continue
        docstring = ast.get_docstring(ast.parse(text)) or ""
        if REASON not in docstring:
            unexplained.append(f"{path.relative_to(ROOT)} ({text.count(chr(10))} lines)")
    assert unexplained == []

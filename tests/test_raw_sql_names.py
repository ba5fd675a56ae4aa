"""Raw SQL takes table names from the models (`Model._meta.db_table`, impact.sql.table), never as
literals: a renamed table or app then fails at import or in every test, not only at run time in the one
query that spells it. Checked on every string literal of the project's code (docstrings, tests and
migrations aside)."""

from __future__ import annotations

import ast
import re

from django.apps import apps

from tests.test_module_size import ROOT, _modules


def _table_names() -> set[str]:
    return {
        model._meta.db_table
        for config in apps.get_app_configs()
        if str(ROOT) in str(config.path)
        for model in config.get_models()
    }


def _literals(tree: ast.AST) -> list[str]:
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
    ]


def _spelling_tables() -> dict[str, set[str]]:
    tables = _table_names()
    pattern = re.compile(r"\b(" + "|".join(sorted(map(re.escape, tables), key=len, reverse=True)) + r")\b")
    found: dict[str, set[str]] = {}
    for path in _modules():
        # The HTTP layer writes no SQL (its "claims_handover" is an operation id); a model's Meta names
        # its own table; benchmarks and the demo are not the product.
        if path.parts[len(ROOT.parts)] in {"api", "web", "benchmarks", "demo"} or path.name == "models.py":
            continue
        for text in _literals(ast.parse(path.read_text())):
            for name in pattern.findall(text):
                found.setdefault(str(path.relative_to(ROOT)), set()).add(name)
    return found


def test_the_project_tables_are_known():
    assert {"exchange_offer", "claims_handover", "matching_need", "impact_dailyrollup"} <= _table_names()


def test_no_sql_spells_a_table_name():
    assert _spelling_tables() == {}

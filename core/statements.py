"""Statements the ORM compiles once and many requests bind.

Building a queryset and compiling it can cost more than running it: on the hottest path (search) the
query changes only in a few values from one request to the next. `statement_compile` compiles it once
with stand-ins for those values (distinct, of their own type, which no other parameter of the query can
equal) and remembers where each stands in the parameters; `Statement.bind` then puts a request's own
values in their places. What the ORM would compile afresh is what binding gives, and the caller's tests
check it (tests/test_search.py); when a stand-in cannot be found, or is found where a caller's own value
equals it, there is no statement and the caller compiles each time."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, fields
from typing import Any

from django.db.models import QuerySet


@dataclass(frozen=True)
class Statement:
    sql: str
    params: tuple
    slots: tuple[tuple[int, str], ...]  # (position in params, name of the value)

    def bind(self, values: Any) -> tuple[str, list]:
        """The SQL and parameters with `values` (a dataclass like the stand-ins) in their places."""
        params = list(self.params)
        for position, name in self.slots:
            params[position] = getattr(values, name)
        return self.sql, params


def _compile(build: Callable[[Any], QuerySet], stand_ins: Any) -> Statement | None:
    sql, params = build(stand_ins).query.sql_with_params()
    expected = {
        field.name: getattr(stand_ins, field.name)
        for field in fields(stand_ins)
        if getattr(stand_ins, field.name) is not None
    }
    slots = tuple(
        (position, name)
        for position, value in enumerate(params)
        for name, marker in expected.items()
        if type(value) is type(marker) and value == marker
    )
    if {name for _position, name in slots} != set(expected):
        return None
    return Statement(sql, tuple(params), slots)


def statement_compile(
    build: Callable[[Any], QuerySet], stand_ins: Any, other_stand_ins: Any
) -> Statement | None:
    """Compiles `build(stand_ins)` (a dataclass instance; a field left None is not a slot), and again
    with `other_stand_ins` (the same fields, other values): each stand-in must appear in the parameters
    (by type and value) at the same positions both times, with the same SQL and the same other
    parameters. A caller's own value that happens to equal a stand-in is then told apart: it stays where
    it is in the second compile, so there is no statement (None) rather than a wrong one."""
    first, second = _compile(build, stand_ins), _compile(build, other_stand_ins)
    if first is None or second is None or (first.sql, first.slots) != (second.sql, second.slots):
        return None
    slotted = {position for position, _name in first.slots}
    if any(
        a != b for i, (a, b) in enumerate(zip(first.params, second.params, strict=True)) if i not in slotted
    ):
        return None
    return first


class Statements:
    """A process's statements by shape, at most `size` of them (all forgotten when full: a process meets
    few shapes, but some of a shape's parts are the callers' to vary). Threads may race to compile the
    same shape; both get the same statement."""

    def __init__(self, size: int = 512):
        self.size = size
        self._compiled: dict[Hashable, Statement | None] = {}

    def get(self, shape: Hashable, compile_: Callable[[], Statement | None]) -> Statement | None:
        if shape not in self._compiled:
            if len(self._compiled) >= self.size:
                self._compiled.clear()
            self._compiled[shape] = compile_()
        return self._compiled[shape]

    def clear(self) -> None:
        self._compiled.clear()

    def shapes(self) -> dict[Hashable, Statement | None]:
        return dict(self._compiled)

"""Schemathesis hooks of the contract fuzzing (loaded through SCHEMATHESIS_HOOKS).

JSON Schema describes each parameter on its own. A few rules of the contract bind a request as a whole
or depend on what the server issued, and no schema can say them; the schema states them in words, and
these hooks make the requests Schemathesis means as valid keep them, so that a refusal of a valid
request still fails the run. Values the generator meant as invalid are left as they are.

- An `Idempotency-Key` is unique per request: the same key with another body is refused (422), as
  documented. A valid generated key is made unique, and stays valid.
- A statistics period (`from`, `to`) is ordered and at most `x-period-max-days` long (the operation's
  schema extension, from impact.query.MAX_PERIOD_DAYS).
- A `cursor` is opaque: only the values of `next` and `previous` links are valid, which a generator
  cannot draw. A valid-looking drawn one is left out of requests meant as valid.

And one to save time: the coverage phase sends every value of an enum, the ~600 time zones of `tz` on
each statistics operation among them; a few zones spanning the offsets tell as much.

Nothing here reads Django: everything comes from the schema."""

from __future__ import annotations

import itertools
import re
import uuid
from datetime import date, timedelta

import schemathesis
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation.meta import CoveragePhaseData, CoverageScenario

# Unique across the runs that share a server too (one per caller), not only within one.
_RUN = uuid.uuid4().hex[:8]
_unique = itertools.count(1)


def _parameter(case, location: str, name: str) -> dict | None:
    for parameter in case.operation.definition.raw.get("parameters", []):
        if parameter.get("in") == location and parameter.get("name", "").lower() == name.lower():
            return parameter
    return None


def _negative_at(case, location: ParameterLocation) -> bool:
    return case.meta is not None and case.meta.is_negative_at(location)


def _unique_idempotency_key(case) -> None:
    parameter = _parameter(case, "header", "Idempotency-Key")
    key = case.headers.get("Idempotency-Key") if case.headers else None
    if parameter is None or not isinstance(key, str):
        return
    schema = parameter["schema"]
    if not re.fullmatch(schema["pattern"], key) or _negative_at(case, ParameterLocation.HEADER):
        return
    suffix = f"-{_RUN}-{next(_unique)}"
    case.headers["Idempotency-Key"] = key[: schema["maxLength"] - len(suffix)].rstrip() + suffix


def _date(value) -> date | None:
    try:
        return date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _fit_period(case) -> None:
    max_days = case.operation.definition.raw.get("x-period-max-days")
    if not max_days or not case.query or _negative_at(case, ParameterLocation.QUERY):
        return
    given_from, given_to = case.query.get("from"), case.query.get("to")
    start, end = _date(given_from), _date(given_to)
    if (given_from is not None and start is None) or (given_to is not None and end is None):
        return  # not a date: what the server says about it is for the checks to judge
    if start is not None and end is not None:
        start, end = min(start, end), max(start, end)
        case.query["from"] = start.isoformat()
        case.query["to"] = min(end, start + timedelta(days=max_days - 1)).isoformat()
    elif start is not None:
        # `to` defaults to today in `tz`: a day either way of today here, whatever the zone.
        today = date.today()
        if not (start < today - timedelta(days=1) and (today - start).days + 2 <= max_days):
            case.query["to"] = start.isoformat()
    # `to` alone, or neither: the default `from` (a year before `to`) makes a valid period.


def _leave_out_drawn_cursor(case) -> None:
    if case.query and "cursor" in case.query and not _negative_at(case, ParameterLocation.QUERY):
        del case.query["cursor"]


# UTC and the zone of the data, the first and last zones to reach a day, and offsets of a half and a
# quarter hour.
TIME_ZONES_COVERED = frozenset(
    {"UTC", "Europe/Paris", "Pacific/Kiritimati", "Pacific/Pago_Pago", "Asia/Kolkata", "Asia/Kathmandu"}
)


@schemathesis.hook
def filter_case(context, case):
    data = case.meta.phase.data if case.meta is not None else None
    if (
        isinstance(data, CoveragePhaseData)
        and data.scenario == CoverageScenario.ENUM_VALUE
        and data.parameter == "tz"
    ):
        return case.query.get("tz") in TIME_ZONES_COVERED
    return True


@schemathesis.hook
def before_call(context, case, kwargs):
    _unique_idempotency_key(case)
    _fit_period(case)
    _leave_out_drawn_cursor(case)

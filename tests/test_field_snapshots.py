"""Response field snapshots: for every GET of the API (lists and details, JSON and CSV) and every kind of
caller that may read it, the set of field paths of the answer, compared with the committed snapshot in
tests/snapshots/fields/. A field that appears (an address, a phone) or disappears for some caller fails
with the difference. After a deliberate change, rewrite the snapshots and review their diff:

    UPDATE_SNAPSHOTS=1 .venv/bin/python -m pytest tests/test_field_snapshots.py

A path names a field from the top of the body, `[]` standing for every element of a list (elements are
merged), with the JSON types seen there: `results[].site.address: string`, `results[].site:
null|object`. CSV answers give their header row, `csv:<column>`. The world is tests/world.py;
the routes and who may read them come from the isolation matrix (tests/matrix.py). The claim life
cycle is snapshotted step by step: what the claimant, the donor and an outsider see of an offer, the
claim and its handover, before and after the donor accepts, and when an offer accepts by itself."""

from __future__ import annotations

import csv
import io
import json
import os
import re
from collections import defaultdict
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from .matrix import ENTRIES, Entry
from .world import CALLERS, World, world_in_transaction

pytestmark = pytest.mark.django_db

SNAPSHOTS = Path(__file__).resolve().parent / "snapshots" / "fields"
UPDATE = os.environ.get("UPDATE_SNAPSHOTS") == "1"
# Answers that are not JSON or CSV: photo bytes, receipts' PDFs, printable HTML reports, the schema and
# its viewer.
NOT_SNAPSHOTTED = (
    re.compile(r"/photos/"),
    re.compile(r"^/api/v1/receipts/.+/pdf/$"),
    re.compile(r"/stats/reports/.+/html/$"),
    re.compile(r"^/api/(schema|docs)/"),
)


def snapshot_name(entry: Entry) -> str:
    """The file of a route: its path without /api/v1/, the query and the object names."""
    path = entry.path.split("?")[0].removeprefix("/api/v1/").strip("/")
    return re.sub(r"\{[^}]+\}", "id", path).replace("/", "-") or "root"


GET_ENTRIES = [
    e
    for e in ENTRIES
    if e.method == "GET" and not e.html and not any(p.search(e.path) for p in NOT_SNAPSHOTTED)
]
ROUTES: dict[str, list[Entry]] = defaultdict(list)
for _entry in GET_ENTRIES:
    ROUTES[snapshot_name(_entry)].append(_entry)


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    with world_in_transaction(django_db_blocker) as built:
        yield built


# ---- field paths ----------------------------------------------------------------------------------


def _type(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def field_paths(body) -> dict[str, str]:
    """path → its JSON types (sorted, `|`-separated), for every node of the body but its root."""
    seen: dict[str, set[str]] = defaultdict(set)

    def walk(value, path: str) -> None:
        if path:
            seen[path].add(_type(value))
        if isinstance(value, dict):
            for key, item in value.items():
                walk(item, f"{path}.{key}" if path else key)
        elif isinstance(value, list):
            for item in value:
                walk(item, f"{path}[]")

    walk(body, "")
    return {path: "|".join(sorted(types)) for path, types in sorted(seen.items())}


def answer_fields(response) -> dict[str, str]:
    media_type = (response.get("Content-Type") or "").split(";")[0].strip()
    if media_type == "text/csv":
        content = b"".join(response.streaming_content) if response.streaming else response.content
        header = next(csv.reader(io.StringIO(content.decode("utf-8-sig"))), [])
        return {f"csv:{column}": "column" for column in header}
    assert media_type.endswith("json"), f"{media_type} is neither JSON nor CSV: list it in NOT_SNAPSHOTTED"
    return field_paths(json.loads(response.content))


def grouped(shapes: dict[str, dict[str, str]]) -> list[dict]:
    """Callers that see the same fields, together, in the matrix's caller order; one line a field."""
    groups: dict[str, dict] = {}
    for caller in (c for c in CALLERS if c in shapes):
        fields = [f"{path}: {types}" for path, types in shapes[caller].items()]
        groups.setdefault("\n".join(fields), {"callers": [], "fields": fields})["callers"].append(caller)
    return list(groups.values())


def ungrouped(groups: list[dict]) -> dict[str, dict[str, str]]:
    return {
        caller: dict(line.rsplit(": ", 1) for line in group["fields"])
        for group in groups
        for caller in group["callers"]
    }


def render(snapshot: dict[str, list[dict]]) -> str:
    """JSON with each caller list on one line and each field on its own, for readable diffs."""
    text = json.dumps(snapshot, indent=1, ensure_ascii=False)
    return re.sub(
        r'"callers": \[\s*([^\]]*?)\s*\]',
        lambda m: '"callers": [' + ", ".join(re.findall(r'"[^"]*"', m.group(1))) + "]",
        text,
    )


def compare(name: str, actual: dict[str, dict[str, dict[str, str]]]) -> None:
    """actual: view → caller → fields. Writes the snapshot with UPDATE_SNAPSHOTS=1, else compares."""
    path = SNAPSHOTS / f"{name}.json"
    rendered = {view: grouped(shapes) for view, shapes in sorted(actual.items())}
    if UPDATE:
        SNAPSHOTS.mkdir(parents=True, exist_ok=True)
        path.write_text(render(rendered) + "\n", encoding="utf-8")
        return
    assert path.exists(), f"no snapshot {path.name}: run UPDATE_SNAPSHOTS=1 pytest {Path(__file__).name}"
    committed = json.loads(path.read_text(encoding="utf-8"))
    differences = []
    for view in sorted(set(committed) | set(rendered)):
        before, after = ungrouped(committed.get(view, [])), actual.get(view, {})
        for caller in [c for c in CALLERS if c in before or c in after]:
            was, now = before.get(caller), after.get(caller)
            if was is None or now is None:
                differences.append(
                    f"{view} — {caller}: {'now reads it' if was is None else 'no longer reads it'}"
                )
                continue
            for field in sorted(set(was) | set(now)):
                if was.get(field) != now.get(field):
                    sign = "+" if field not in was else "-" if field not in now else "~"
                    differences.append(
                        f"{view} — {caller}: {sign} {field} {was.get(field, '')} → {now.get(field, '')}"
                    )
    assert not differences, (
        f"the fields of {name} changed (UPDATE_SNAPSHOTS=1 rewrites {path.name} if this is deliberate):\n  "
        + "\n  ".join(differences)
    )


# ---- every GET of the matrix ----------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(ROUTES))
def test_fields_per_route_and_caller(world, name):
    actual: dict[str, dict] = {}
    for entry in ROUTES[name]:
        shapes = {}
        for caller_name in CALLERS:
            if entry.expect[caller_name] != 200:
                continue
            with world.case():
                response = world.caller(caller_name).api_client().get(entry.url(world))
            assert response.status_code == 200, (entry.id, caller_name, response.status_code)
            shapes[caller_name] = answer_fields(response)
        actual[entry.id] = shapes
    compare(name, actual)


# ---- the claim life cycle, step by step ------------------------------------------------------------

VIEWERS = ("assoc_b", "firm_a", "assoc_a", "firm_b")  # claimant, donor, another association, another firm


def _offer_body(world: World, **extra) -> dict:
    return {
        "site": world.ids["site_firm_a"],
        "category": world.ids["category_chair"],
        "title": "Chaises de réunion",
        "quantity": "6",
        "unit": "piece",
        "mass_per_unit_kg": "5",
        "condition": "good",
        "pickup_instructions": "Sonner à l'accueil, 03 20 00 00 07.",
        "publish": True,
        **extra,
    }


def _look(world: World, stage: str, offer_id: int, claim_id: int | None, actual: dict) -> None:
    """What each viewer sees now: the offer, a search around it, the claim and the ledger."""
    search = "/api/v1/offers/search/?lat=50.6916&lon=3.1746&radius_km=20"
    views = {"offer": f"/api/v1/offers/{offer_id}/", "search": search, "handovers": "/api/v1/handovers/"}
    if claim_id is not None:
        views["claim"] = f"/api/v1/claims/{claim_id}/"
    for view, url in views.items():
        shapes = {}
        for name in VIEWERS:
            response = world.caller(name).api_client().get(url)
            if response.status_code == 200:
                shapes[name] = answer_fields(response)
            else:
                assert response.status_code == 404, (stage, view, name, response.status_code)
        actual[f"{stage}: {view}"] = shapes


def _ok(response, status: int = 200) -> dict:
    assert response.status_code == status, response.content
    return response.json()


def test_claim_life_cycle_fields(world):
    actual: dict[str, dict] = {}
    firm, claimant = world.caller("firm_a").api_client(), world.caller("assoc_b").api_client()
    with world.case():
        offer = _ok(firm.post("/api/v1/offers/", _offer_body(world), format="json"), 201)
        _look(world, "1 published", offer["id"], None, actual)
        claim = _ok(
            claimant.post("/api/v1/claims/", {"offer": offer["id"], "quantity": "2"}, format="json"), 201
        )
        _look(world, "2 requested", offer["id"], claim["id"], actual)
        _ok(firm.post(f"/api/v1/claims/{claim['id']}/accept/", {}, format="json"))
        _look(world, "3 accepted by the donor", offer["id"], claim["id"], actual)
        _ok(claimant.post(f"/api/v1/claims/{claim['id']}/handover/", {}, format="json"), 201)
        _look(world, "4 collected", offer["id"], claim["id"], actual)
    for when, start in (("available now", None), ("available in ten days", timedelta(days=10))):
        with world.case():
            extra = {"auto_accept_claims": True}
            if start is not None:
                extra["available_from"] = (timezone.now() + start).isoformat()
            offer = _ok(firm.post("/api/v1/offers/", _offer_body(world, **extra), format="json"), 201)
            claim = _ok(
                claimant.post("/api/v1/claims/", {"offer": offer["id"], "quantity": "1"}, format="json"), 201
            )
            stage = f"5 claimed on an offer that accepts by itself, {when} (claim {claim['status']})"
            _look(world, stage, offer["id"], claim["id"], actual)
            _ok(claimant.post(f"/api/v1/claims/{claim['id']}/cancel/", {}, format="json"))
            _look(world, f"6 then cancelled by the claimant, {when}", offer["id"], claim["id"], actual)
    compare("claim-life-cycle", actual)


def test_field_paths_merge_list_elements():
    body = {
        "results": [
            {"site": None, "location": {"coordinates": [3.1, 50.6]}},
            {"site": {"address": "1 rue"}, "location": {"coordinates": [3.2, 50.7]}},
        ],
        "next": None,
    }
    assert field_paths(body) == {
        "next": "null",
        "results": "array",
        "results[]": "object",
        "results[].location": "object",
        "results[].location.coordinates": "array",
        "results[].location.coordinates[]": "number",
        "results[].site": "null|object",
        "results[].site.address": "string",
    }

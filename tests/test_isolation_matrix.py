"""The isolation matrix: every route × method of the project × every kind of caller, with the exact status
each gets (tests/matrix.py), against one world built once for the module (tests/world.py).

- A route or method that the matrix does not cover fails `test_every_route_and_method_is_covered`, so a
  new URL cannot arrive without saying who may call it.
- Another tenant's object answers 404 (never 403, never 200), and a refused write changes no row of any
  domain table; a refusal shows none of the other tenant's private details.
- The callers that may write do (2xx): the matrix shows both sides.
- Admin pages follow one rule over every URL the admin has: the staff gets the page, everyone else is
  sent to the log-in page, GET or POST."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import Resolver404, resolve, reverse

from .matrix import (
    ADMIN_CALLERS,
    ENTRIES,
    STAFF,
    Entry,
    admin_cases,
    admin_routes,
    media_route,
    project_routes,
)
from .world import CALLERS, PNG, Caller, World, changed_tables, fingerprint, png_upload, world_in_transaction

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    with world_in_transaction(django_db_blocker) as built:
        yield built


def send(world: World, entry: Entry, caller: Caller):
    client = caller.html_client() if entry.html else caller.api_client()
    url, method = entry.url(world), entry.method.lower()
    body = entry.body_for(world, caller)
    if body == "photo":
        return client.post(url, {"image": png_upload()}, format="multipart")
    if isinstance(body, dict) and any(isinstance(value, SimpleUploadedFile) for value in body.values()):
        return client.post(url, body, format="multipart")
    if entry.html:
        return getattr(client, method)(url, body) if body else getattr(client, method)(url)
    if body is None:
        return getattr(client, method)(url)
    return getattr(client, method)(url, body, format="json")


def _secrets(world: World) -> list[str]:
    """Private details of the tenants that no refusal may carry."""
    return [
        "rue de l'Épeule",
        "Quai 3, demander Karim",
        world.orgs["firm_a"].phone,
        world.orgs["assoc_a"].phone,
        "ERP-DRAFT",
        "ERP-PUB",
    ]


def check(world: World, entry: Entry, caller: Caller, before: dict | None) -> str | None:
    """Runs one cell of the matrix in its own savepoint; what went wrong, or None. `before`: the
    fingerprint of the world, the same before every cell since each one is rolled back."""
    expected = entry.expect[caller.name]
    with world.case():
        response = send(world, entry, caller)
        status = response.status_code
        if status != expected:
            return f"{caller.name}: expected {expected}, got {status} {_summary(response)}"
        if entry.listed is not None and status == 200:
            found = set(ids_at(response.json(), entry.listed_at))
            wanted = {world.ids[name] for name in entry.listed[caller.name]}
            if found != wanted:
                names = _names_of(world, entry)
                extra = sorted(names.get(pk, str(pk)) for pk in found - wanted)
                missing = sorted(names[pk] for pk in wanted - found)
                return f"{caller.name}: lists {extra} it should not, misses {missing}"
        if status >= 400:
            if before is not None and (changed := changed_tables(before, fingerprint())):
                return f"{caller.name}: refused with {status} but changed {changed}"
            content = b"" if getattr(response, "streaming", False) else response.content
            leaked = [s for s in _secrets(world) if s.encode() in content]
            if leaked:
                return f"{caller.name}: the {status} answer carries {leaked}"
            if not entry.html and response["Content-Type"] != "application/problem+json":
                return f"{caller.name}: the {status} answer is {response['Content-Type']}, not a problem"
            if status == 404 and not entry.html and response.json()["code"] != "not_found":
                return f"{caller.name}: a 404 with code {response.json()['code']}"
    return None


def _names_of(world: World, entry: Entry) -> dict[int, str]:
    """World objects of the kind an entry lists, by id (sites with sites, claims with claims…)."""
    kinds = {name.split("_")[0] for names in entry.listed.values() for name in names}
    return {pk: name for name, pk in world.ids.items() if name.split("_")[0] in kinds}


def ids_at(body, path: str) -> list:
    """The values at a field path such as results[].offer.id."""
    values = [body]
    for part in path.split("."):
        key, many = part.removesuffix("[]"), part.endswith("[]")
        values = [value[key] for value in values]
        if many:
            values = [item for value in values for item in value]
    return values


def _summary(response) -> str:
    if getattr(response, "streaming", False):
        return "(streamed)"
    if response.get("Location"):
        return f"→ {response['Location']}"
    try:
        body = response.json()
    except (ValueError, TypeError):
        return response.content[:120].decode(errors="replace")
    return json.dumps({k: body[k] for k in ("code", "detail", "errors") if k in body}, ensure_ascii=False)[
        :300
    ]


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda entry: entry.id)
def test_matrix(world, entry):
    before = fingerprint() if entry.writes else None
    failures = [
        problem for name in entry.callers if (problem := check(world, entry, world.caller(name), before))
    ]
    assert not failures, f"{entry.id}\n  " + "\n  ".join(failures)


def _route_of(url: str) -> str:
    return resolve(urlsplit(url).path).route


def test_every_route_and_method_is_covered(world):
    """A new route, or a new method on one, fails here until tests/matrix.py says who may call it."""
    covered = {(_route_of(entry.url(world)), entry.method) for entry in ENTRIES}
    routes = project_routes()
    missing = sorted(
        f"{method} /{route} ({name})"
        for route, name, methods in routes
        for method in methods
        if (route, method) not in covered
    )
    assert not missing, "routes without an entry in tests/matrix.py:\n  " + "\n  ".join(missing)
    known = {route for route, _name, _methods in routes}
    stale = sorted(entry.id for entry in ENTRIES if _route_of(entry.url(world)) not in known)
    assert not stale, f"entries for routes that no longer exist: {stale}"
    # Every admin URL is filled in by the rule (it raises on one it does not know).
    cases = admin_cases(world)
    assert {case.route for case in cases} == {route for route, _name in admin_routes()}


def test_head_answers_as_get(world):
    """HEAD is GET without the body, with the same authorization: nobody, and another tenant."""
    failures = []
    for entry in (e for e in ENTRIES if e.method == "GET" and not e.html and e.sample is None):
        for name in ("anonymous", "firm_b"):
            with world.case():
                response = world.caller(name).api_client(checked=False).head(entry.url(world))
            if response.status_code != entry.expect[name]:
                failures.append(f"{entry.id} {name}: HEAD {response.status_code}, GET {entry.expect[name]}")
            elif not getattr(response, "streaming", False) and response.content:
                failures.append(f"{entry.id} {name}: HEAD answered a body")
    assert not failures, "\n".join(failures)


def test_options_needs_the_same_credentials(world):
    """OPTIONS describes a route, never an object: nobody gets 401, everyone else the same description
    of a route whether or not the object in the path is theirs."""
    failures = []
    behind_login = [
        e for e in ENTRIES if not e.html and e.expect["anonymous"] == 401 and e.expect["firm_a"] != 401
    ]
    for entry in behind_login:
        url = entry.url(world)
        bodies = {}
        for name in ("anonymous", "firm_b", "firm_a"):
            with world.case():
                response = world.caller(name).api_client(checked=False).options(url)
            expected = 401 if name == "anonymous" else 200
            if response.status_code != expected:
                failures.append(f"OPTIONS {url} {name}: {response.status_code}, expected {expected}")
            elif expected == 200:
                bodies[name] = response.content
        if len(bodies) == 2 and bodies["firm_b"] != bodies["firm_a"]:
            failures.append(f"OPTIONS {url}: firm A and firm B are told different things")
    assert not failures, "\n".join(sorted(set(failures)))


def test_media_files_in_development(world):
    """With DEBUG (the development profile of `make run`), config/urls.py lets Django serve MEDIA_ROOT at
    /media/, to anyone who knows a file's name: that is what it is for. Photos keep random names and the
    API only ever hands out its own authenticated photo URL. Without DEBUG the route does not exist."""
    if media_route() is None:
        assert not resolve_or_none("/media/anything.png")
        return
    document_root = Path(resolve("/media/x.png").kwargs["document_root"])
    document_root.mkdir(parents=True, exist_ok=True)
    probe = document_root / "matrix-probe.png"
    probe.write_bytes(PNG)
    try:
        for name in ("anonymous", "firm_b", "firm_a_revoked_key"):
            response = world.caller(name).api_client(checked=False).get("/media/matrix-probe.png")
            assert response.status_code == 200, (name, response.status_code)
    finally:
        probe.unlink()


def resolve_or_none(path: str):
    try:
        return resolve(path)
    except Resolver404:
        return None


# ---- the admin ------------------------------------------------------------------------------------


def _admin_answer(case, caller: Caller, response) -> str | None:
    status, location = response.status_code, response.get("Location", "")
    if caller.name in STAFF:
        if status != case.staff_status:
            return f"{caller.name}: expected {case.staff_status}, got {status} {location}"
        return None
    if case.route == "admin/login/":
        # The log-in page itself: shown (GET), or the form answered (POST, empty: not logged in).
        return None if status == 200 else f"{caller.name}: the log-in page answered {status} {location}"
    if case.route == "admin/logout/":
        return None if status == 302 else f"{caller.name}: log-out answered {status}"
    if status != 302 or not location.startswith("/admin/login/"):
        return f"{caller.name}: expected a redirect to the log-in page, got {status} {location}"
    return None


def test_admin_pages_are_for_the_staff_only(world):
    failures = []
    for case in (c for c in admin_cases(world) if c.method == "GET"):
        for name in ADMIN_CALLERS:
            with world.case():
                response = world.caller(name).html_client().get(case.url)
            if problem := _admin_answer(case, world.caller(name), response):
                failures.append(f"GET {case.url} ({case.route}) {problem}")
    assert not failures, "\n".join(failures)


def test_admin_refuses_writes_from_anyone_but_the_staff(world):
    """Every admin URL, POSTed to by each kind of caller but the staff (whose own writes are tested with
    real forms in tests/test_admin_*.py): the log-in page, and not a row changed."""
    cases = [c for c in admin_cases(world) if c.method == "POST"]
    posters = [world.caller(n) for n in ADMIN_CALLERS if n not in STAFF]

    def post_all(batch) -> list[str]:
        problems = []
        for case in batch:
            for caller in posters:
                response = caller.html_client().post(case.url, {"name": "Changé"})
                if problem := _admin_answer(case, caller, response):
                    problems.append(f"POST {case.url} ({case.route}) {problem}")
        return problems

    baseline = fingerprint()
    with world.case():
        failures = post_all(cases)
        changed = changed_tables(baseline, fingerprint())
    if changed:  # find the URLs that did it, one savepoint each
        for case in cases:
            with world.case():
                post_all([case])
                if changed := changed_tables(baseline, fingerprint()):
                    failures.append(f"POST {case.url} ({case.route}) changed {changed}")
    assert not failures, "\n".join(failures)


def test_every_caller_meets_the_same_admin(world):
    """The admin's index for every kind of caller, not only ADMIN_CALLERS."""
    index = next(c for c in admin_cases(world) if c.route == "admin/" and c.method == "GET")
    failures = []
    for name in CALLERS:
        with world.case():
            response = world.caller(name).html_client().get(index.url)
        if problem := _admin_answer(index, world.caller(name), response):
            failures.append(problem)
    assert not failures, "\n".join(failures)


# Each route that creates (201), and where its Location points: (detail route, its arguments from the
# request's arguments and the created body). None: the created resource has no URL of its own
# (api.created.CREATED_WITHOUT_LOCATION), so no Location.
CREATED_AT = {
    "offers": ("offer-detail", lambda args, body: {"offer_id": body["id"]}),
    "offer-photos": (
        "offer-photo",
        lambda args, body: {"offer_id": args["offer_id"], "photo_id": body["id"]},
    ),
    "claims": ("claim-detail", lambda args, body: {"claim_id": body["id"]}),
    "claim-handover": ("handover-detail", lambda args, body: {"handover_id": body["id"]}),
    "handover-reverse": ("handover-detail", lambda args, body: {"handover_id": body["id"]}),
    "handover-outcome": ("handover-outcome", lambda args, body: {"handover_id": args["handover_id"]}),
    "needs": ("need-detail", lambda args, body: {"need_id": body["id"]}),
    "sites": ("site-detail", lambda args, body: {"site_id": body["id"]}),
    "api-keys": ("api-key-detail", lambda args, body: {"api_key_id": body["id"]}),
    "import-mappings": ("import-mapping-detail", lambda args, body: {"mapping_id": body["id"]}),
    "webhook-endpoints": ("webhook-endpoint", lambda args, body: {"endpoint_id": body["id"]}),
    "auth-invitations-accept": ("me", lambda args, body: {}),
    "organisation-invitations": None,
    "handover-proposals": None,
}


def test_every_created_answer_says_where_the_resource_is(world):
    """Every 201 the world produces carries `Location`: the created resource's detail URL, absolute; a
    JSON detail answers with the same object when followed."""
    seen, failures = set(), []
    for entry in ENTRIES:
        for name in entry.callers:
            if entry.expect[name] != 201:
                continue
            caller = world.caller(name)
            with world.case():
                response = send(world, entry, caller)
                assert response.status_code == 201, (entry.id, name, response.status_code)
                match = resolve(urlsplit(entry.url(world)).path)
                seen.add(match.url_name)
                if match.url_name not in CREATED_AT:
                    failures.append(f"{entry.id}: a 201 from a route CREATED_AT does not know")
                    continue
                expected = CREATED_AT[match.url_name]
                location = response.get("Location")
                if expected is None:
                    if location is not None:
                        failures.append(f"{entry.id} {name}: Location {location} for a resource without URL")
                    continue
                route, arguments = expected
                wanted = "http://testserver" + reverse(
                    f"api:{route}", kwargs=arguments(match.kwargs, response.json())
                )
                if location != wanted:
                    failures.append(f"{entry.id} {name}: Location {location!r}, expected {wanted!r}")
                    continue
                if route.endswith("-detail") and route != "api-key-detail":
                    followed = caller.api_client().get(location)
                    if followed.status_code != 200 or followed.json()["id"] != response.json()["id"]:
                        failures.append(f"{entry.id} {name}: GET {location} answered {followed.status_code}")
    assert not failures, "\n  ".join(failures)
    # The world holds no disputed row, so no proposal is accepted there (tests/test_ledger_truth.py).
    unseen = set(CREATED_AT) - seen - {"handover-proposals"}
    assert not unseen, f"routes of CREATED_AT that no 201 came from: {unseen}"

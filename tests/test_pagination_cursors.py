"""Forged cursors (issue 8, item 3): `/claims/?cursor=bz0wJnA9YWJj` (base64 of `o=0&p=abc`) raised
ValueError on lists ordered by id, a 500. Every cursor-paginated list of the API — found from the URL
patterns, so a new list is covered without touching this file — answers a malformed or forged cursor
with 400 `invalid_cursor`, and still follows the links it issued itself."""

from __future__ import annotations

from base64 import b64encode
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from api.pagination import CursorPage
from exchange.models import Offer
from organisations.models import MembershipRole, OrganisationKind

from .conftest import client_for, make_claim, make_member, make_offer, make_org
from .openapi import operation_for, spec

pytestmark = pytest.mark.django_db

EN = {"HTTP_ACCEPT_LANGUAGE": "en"}
DETAIL_EN = "This cursor is not valid for this list: follow the next and previous links as given."


def cursor(querystring: str | bytes) -> str:
    raw = querystring.encode() if isinstance(querystring, str) else querystring
    return b64encode(raw).decode()


def invalid_cursor(path: str) -> dict:
    return {
        "type": "urn:boucle:problem:invalid_cursor",
        "title": "Invalid input",
        "status": 400,
        "detail": DETAIL_EN,
        "code": "invalid_cursor",
        "instance": path,
    }


# Cursors no list ever issues, whatever its ordering.
GARBAGE = {
    "empty": "",
    "not base64": "!!!not-a-cursor!!!",
    "base64 with junk inside": "bz0w*JnA9",
    "not ascii": "Ã©",
    "undecodable bytes": cursor(b"\xff\xfe o=0"),
    "no fields": cursor(""),
    "unknown field": cursor("x=1"),
    "a field twice": cursor("o=0&o=1"),
    "a bare word": cursor("p"),
    "negative offset": cursor("o=-1"),
    "offset past the cutoff": cursor("o=1001"),
    "offset not a number": cursor("o=ten"),
    "reverse not a flag": cursor("r=2"),
    "NUL in the position": cursor("p=%00"),
}

# A position of the wrong type for each ordering field a list uses; a list ordered by a new field
# fails with KeyError until its example is added here.
WRONG_POSITION = {
    "id": "abc",
    "updated_at": "abc",
    "code": "x" * 33,  # Territory.code holds 32
}


def _url_patterns(resolver: URLResolver, prefix: str = ""):
    for pattern in resolver.url_patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from _url_patterns(pattern, route)
        elif isinstance(pattern, URLPattern):
            yield route, pattern


def _is_cursor_list(operation: dict) -> bool:
    if any(parameter["name"] == "cursor" for parameter in operation.get("parameters", [])):
        return True
    ref = (
        operation["responses"]["200"]["content"].get("application/json", {}).get("schema", {}).get("$ref", "")
    )
    component = spec()["components"]["schemas"].get(ref.rsplit("/", 1)[-1], {})
    return {"next", "results"} <= set(component.get("properties", {}))


def cursor_lists() -> list[tuple[str, type[CursorPage]]]:
    """(route, paginator) of every GET of the API whose answer is a cursor-paginated list."""
    found = []
    for route, pattern in _url_patterns(get_resolver()):
        view = getattr(pattern.callback, "cls", None)
        paginator = getattr(view, "pagination_class", None)
        if not (route.startswith("api/v1/") and hasattr(view, "get") and paginator):
            continue
        assert issubclass(paginator, CursorPage), f"{route}: one pagination style for lists"
        operation = operation_for("GET", "/" + route.replace("<int:", "{").replace(">", "}"))
        if operation is not None and _is_cursor_list(operation):
            found.append((route, paginator))
    return found


@pytest.fixture
def operator():
    """Sees every row of every list; administers its own organisation (invitations, API keys)."""
    return make_member(make_org(OrganisationKind.OPERATOR), MembershipRole.ADMIN)


def test_the_lists_are_found():
    routes = {route for route, _paginator in cursor_lists()}
    assert {"api/v1/claims/", "api/v1/offers/", "api/v1/territories/", "api/v1/stats/ledger/"} <= routes
    assert len(routes) >= 12


def test_the_quoted_forged_cursor_on_claims_is_a_400(operator):
    response = client_for(operator).get("/api/v1/claims/?cursor=bz0wJnA9YWJj", **EN)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert response.json() == invalid_cursor("/api/v1/claims/")


@pytest.mark.parametrize(("route", "paginator"), cursor_lists(), ids=[r for r, _p in cursor_lists()])
def test_every_list_refuses_forged_and_garbage_cursors(operator, route, paginator):
    organisation_id = operator.memberships.get().organisation_id
    path = "/" + route.replace("<int:organisation_id>", str(organisation_id))
    assert "<" not in path, f"{route}: give this path parameter a value the operator can list"
    client = client_for(operator)
    assert client.get(path).status_code == 200
    ordering = paginator.ordering if isinstance(paginator.ordering, str) else paginator.ordering[0]
    forged = {
        **GARBAGE,
        "position of the wrong type": cursor(f"o=0&p={WRONG_POSITION[ordering.lstrip('-')]}"),
    }
    for name, value in forged.items():
        response = client.get(path, {"cursor": value}, **EN)
        assert response.status_code == 400, (name, response.content)
        assert response.json() == invalid_cursor(path), name


def test_the_position_must_be_a_date_in_range_on_sync_lists(operator):
    client = client_for(operator)
    # As DRF writes them: str() of the row's updated_at, url-encoded ("+" is %2B).
    for position in ("2025-02-30 10:00:00+00:00", "9999-12-31 23:59:59+00:00", "0001-01-01 00:00:00+00:00"):
        response = client.get("/api/v1/offers/", {"cursor": cursor(urlencode({"p": position}))}, **EN)
        assert response.json() == invalid_cursor("/api/v1/offers/"), position
    valid = cursor(urlencode({"p": "2025-02-28 10:00:00.123456+00:00"}))
    assert client.get("/api/v1/offers/", {"cursor": valid}).status_code == 200


def test_the_links_a_list_issues_are_followed_both_ways(operator):
    firm = make_org(OrganisationKind.COMPANY)
    offers = [make_offer(firm) for _ in range(3)]
    base = timezone.now() - timedelta(days=1)
    for index, offer in enumerate(offers):  # distinct, known change times: the sync order
        Offer.objects.filter(pk=offer.pk).update(updated_at=base + timedelta(minutes=index))
    client = client_for(operator)

    def walk(url: str, direction: str) -> tuple[list[int], dict]:
        seen, page = [], client.get(url).json()
        seen += [item["id"] for item in page["results"]]
        while page[direction]:
            page = client.get(page[direction]).json()
            seen += [item["id"] for item in page["results"]]
        return seen, page

    forward, last = walk("/api/v1/offers/?limit=1", "next")
    assert forward == [offer.pk for offer in offers]
    backward, _first = walk(last["previous"], "previous")
    assert backward == [offers[1].pk, offers[0].pk]

    claims = [make_claim(offer) for offer in offers]
    oldest_change_first, _page = walk("/api/v1/claims/?limit=1", "next")  # a sync list too (issue 10)
    assert oldest_change_first == [claim.pk for claim in claims]


@pytest.mark.parametrize("path", ["/api/v1/handovers/", "/api/v1/stats/ledger/"])
def test_the_csv_exports_check_cursor_and_limit_as_their_pages_do(operator, path):
    """A CSV export answers the whole selection, but a bad `cursor` or `limit` there is the same 400 as
    on a page, not silently ignored (the contract fuzzing found `?format=csv&cursor=<garbage>` → 200)."""
    client = client_for(operator)
    assert client.get(path, {"format": "csv"}).status_code == 200
    for name, value in GARBAGE.items():
        response = client.get(path, {"format": "csv", "cursor": value}, **EN)
        assert response.status_code == 400, (name, response.content)
        assert response.json() == invalid_cursor(path), name
    refused = client.get(path, {"format": "csv", "limit": "0"}, **EN)
    assert (refused.status_code, refused.json()["errors"][0]["field"]) == (400, "limit")

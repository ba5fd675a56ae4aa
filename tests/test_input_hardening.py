"""Input that used to crash the API (issue 8, items 3 and 4), each request as the attack report quoted it:
deeply nested JSON (RecursionError), dates in year 9999 (OverflowError), `tz=Europe` (IsADirectoryError),
year-1 dates served as invalid RFC 3339. Each now answers a 400 problem, in the one error shape.
Forged cursors are in tests/test_pagination_cursors.py."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client
from rest_framework import serializers

from api.fields import EARLIEST_INPUT_DATE, LATEST_INPUT_DATE, BoundedDateTimeField
from api.parsers import json_nesting_exceeds
from impact.query import time_zone_names
from organisations.models import MembershipRole, OrganisationKind

from .conftest import client_for, make_claim, make_member, make_offer, make_org, make_site
from .openapi import spec

pytestmark = pytest.mark.django_db

DATE_RANGE_EN = "Dates must lie between 2000-01-01 and 2100-12-31."
DATE_RANGE_FR = "Les dates doivent être comprises entre 2000-01-01 et 2100-12-31."
UNKNOWN_TZ_EN = "Unknown time zone; use an IANA name such as Europe/Paris."
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


def validation_problem(path: str, *errors: tuple[str, str, str]) -> dict:
    return {
        "type": "urn:boucle:problem:validation_error",
        "title": "Invalid input",
        "status": 400,
        "detail": "The request has invalid fields.",
        "code": "validation_error",
        "instance": path,
        "errors": [{"field": field, "code": code, "message": message} for field, code, message in errors],
    }


def assert_problem(response, expected: dict) -> None:
    assert response.status_code == expected["status"], response.content
    assert response["Content-Type"] == "application/problem+json"
    assert response.json() == expected


@pytest.fixture
def firm_member():
    return make_member(make_org(OrganisationKind.COMPANY), MembershipRole.ADMIN)


@pytest.fixture
def operator():
    return make_member(make_org(OrganisationKind.OPERATOR), MembershipRole.ADMIN)


# ---------------------------------------------------------------------------------------------------
# a. Bounded JSON
# ---------------------------------------------------------------------------------------------------


def nested_arrays(depth: int, leaf: str = "1") -> str:
    return "[" * depth + leaf + "]" * depth


def nested_objects(depth: int, leaf: str = "1") -> str:
    return '{"a":' * depth + leaf + "}" * depth


def too_deep(path: str, limit: int = 32) -> dict:
    return {
        "type": "urn:boucle:problem:json_too_deep",
        "title": "Invalid input",
        "status": 400,
        "detail": f"The JSON body nests arrays and objects more than {limit} levels deep.",
        "code": "json_too_deep",
        "instance": path,
    }


@pytest.mark.parametrize("document", [nested_arrays(1000), nested_objects(1000)], ids=["arrays", "objects"])
def test_a_thousand_nested_containers_on_login_are_a_400_without_logging_in(anon, document):
    response = anon.generic("POST", "/api/v1/auth/token/", document, content_type="application/json", **EN)
    assert_problem(response, too_deep("/api/v1/auth/token/"))


@pytest.mark.parametrize("document", [nested_arrays(1000), nested_objects(1000)], ids=["arrays", "objects"])
def test_a_thousand_nested_containers_on_an_authenticated_route_are_a_400(firm_member, document):
    body = '{"name": "Dépôt", "location": ' + document + "}"
    response = client_for(firm_member).generic(
        "POST", "/api/v1/sites/", body, content_type="application/json", **EN
    )
    assert_problem(response, too_deep("/api/v1/sites/"))


def test_the_default_limit_is_32_levels(anon):
    assert settings.BOUCLE_MAX_JSON_DEPTH == 32
    # 32 levels: parsed, then refused by the serializer for what it is (a list is not an e-mail).
    inside = '{"email": ' + nested_arrays(31, '"x"') + ', "password": "x"}'
    at_limit = anon.generic("POST", "/api/v1/auth/token/", inside, content_type="application/json")
    assert at_limit.status_code == 400
    assert at_limit.json()["code"] == "validation_error"
    beyond = '{"email": ' + nested_arrays(32, '"x"') + ', "password": "x"}'
    response = anon.generic("POST", "/api/v1/auth/token/", beyond, content_type="application/json", **EN)
    assert_problem(response, too_deep("/api/v1/auth/token/"))


def test_the_limit_is_a_setting_and_is_exact(settings, firm_member):
    settings.BOUCLE_MAX_JSON_DEPTH = 3
    client = client_for(firm_member)
    site = {"name": "Dépôt", "location": {"type": "Point", "coordinates": [3.17, 50.69]}}
    at_limit = client.generic("POST", "/api/v1/sites/", json.dumps(site), content_type="application/json")
    assert at_limit.status_code == 201, at_limit.content  # body, location, coordinates: 3 levels
    site["location"]["coordinates"] = [[3.17], 50.69]
    beyond = client.generic("POST", "/api/v1/sites/", json.dumps(site), content_type="application/json", **EN)
    assert_problem(beyond, too_deep("/api/v1/sites/", limit=3))


def test_brackets_inside_strings_do_not_count():
    assert not json_nesting_exceeds(json.dumps({"note": "[" * 1000 + '{"\\"' * 100}), 2)
    assert not json_nesting_exceeds('["a\\"[[[[", "]]]"]', 1)
    assert json_nesting_exceeds('[["a\\\\"], [[1]]]', 2)  # an escaped backslash ends the string
    assert not json_nesting_exceeds("[[]] [[]]", 2)
    assert json_nesting_exceeds("[[[]]]", 2)


def malformed(path: str, detail: str) -> dict:
    return {
        "type": "urn:boucle:problem:malformed_request",
        "title": "Invalid input",
        "status": 400,
        "detail": detail,
        "code": "malformed_request",
        "instance": path,
    }


NOT_A_DOUBLE = (
    "The JSON body has a number that does not fit a double-precision float ({}): NaN, Infinity and "
    "numbers beyond ±1.8e308 are refused."
)


@pytest.mark.parametrize(
    ("number", "shown"),
    [
        ("NaN", "NaN"),
        ("Infinity", "Infinity"),
        ("-Infinity", "-Infinity"),
        ("1e999", "1e999"),
        ("-2e308", "-2e308"),
        ("1" + "0" * 400, "10000000000000000000…"),  # an int: float() of it raised OverflowError, a 500
        ("9" * 5000, "99999999999999999999…"),
    ],
)
def test_numbers_a_double_cannot_hold_are_a_400(firm_member, number, shown):
    body = '{"name": "Dépôt", "location": {"type": "Point", "coordinates": [' + number + ", 50.69]}}"
    response = client_for(firm_member).generic(
        "POST", "/api/v1/sites/", body, content_type="application/json", **EN
    )
    assert_problem(response, malformed("/api/v1/sites/", NOT_A_DOUBLE.format(shown)))


def test_the_largest_double_is_still_a_number(firm_member):
    body = '{"name": "Dépôt", "location": {"type": "Point", "coordinates": [1.7976931348623157e308, 50]}}'
    response = client_for(firm_member).generic(
        "POST", "/api/v1/sites/", body, content_type="application/json", **EN
    )
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"field": "location", "code": "longitude", "message": "Longitude must be between -180 and 180."}
    ]


def test_malformed_json_keeps_its_code_and_says_why(anon):
    response = anon.generic(
        "POST", "/api/v1/auth/token/", b'{"email": ', content_type="application/json", **EN
    )
    assert_problem(
        response,
        malformed(
            "/api/v1/auth/token/",
            "The body is not valid JSON: Expecting value: line 1 column 11 (char 10).",
        ),
    )


# ---------------------------------------------------------------------------------------------------
# b. Dates, date-times and time zones
# ---------------------------------------------------------------------------------------------------

SEARCH = "/api/v1/offers/search/?lat=50.69&lon=3.17"


def year_9999_routes(operator) -> list[tuple[str, str]]:
    """(url, field) of every GET the report crashed with a year 9999, and the others taking dates."""
    organisation_id = operator.memberships.get().organisation_id
    return [
        (f"{SEARCH}&available_on=9999-12-31", "available_on"),
        ("/api/v1/stats/summary/?to=9999-12-31", "to"),
        ("/api/v1/stats/summary/?from=9999-12-31", "from"),
        ("/api/v1/stats/timeseries/?interval=day&to=9999-12-31", "to"),
        ("/api/v1/stats/territories/?to=9999-12-31", "to"),
        ("/api/v1/stats/ledger/?to=9999-12-31", "to"),
        ("/api/v1/stats/ledger/?to=9999-12-31&format=csv", "to"),
        (f"/api/v1/organisations/{organisation_id}/impact/?to=9999-12-31", "to"),
        ("/api/v1/handovers/?to=9999-12-31", "to"),
        ("/api/v1/handovers/?from=9999-12-31&format=csv", "from"),
        ("/api/v1/offers/?updated_since=9999-12-31T23:59:59Z", "updated_since"),
    ]


def test_year_9999_is_a_400_on_every_route_taking_a_date(operator):
    client = client_for(operator)
    for url, field in year_9999_routes(operator):
        response = client.get(url, **EN)
        assert_problem(
            response, validation_problem(url.split("?")[0], (field, "out_of_range", DATE_RANGE_EN))
        )


def test_year_9999_on_the_dashboard_is_a_400_page(operator):
    client = Client()
    client.force_login(operator)
    response = client.get("/dashboard/?to=9999-12-31&lang=en")
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")
    assert f'<p class="field-error">{DATE_RANGE_EN}</p>' in response.content.decode()
    assert 'data-figure="' not in response.content.decode()
    assert client.get("/dashboard/?from=0001-01-01&to=2025-01-01&lang=en").status_code == 400


@pytest.mark.parametrize("table", ["summary", "timeseries", "territories"])
def test_year_9999_on_the_dashboard_downloads_is_a_400_problem(operator, table):
    client = Client()
    client.force_login(operator)
    path = f"/dashboard/export/{table}/"
    response = client.get(f"{path}?to=9999-12-31&interval=month&format=csv&lang=en")
    assert_problem(response, validation_problem(path, ("to", "out_of_range", DATE_RANGE_EN)))


def test_the_dashboard_date_inputs_carry_the_range(operator):
    client = Client()
    client.force_login(operator)
    html = client.get("/dashboard/?from=2025-01-01&to=2025-12-31").content.decode()
    for name in ("from", "to"):
        assert re.search(rf'name="{name}" value="[0-9-]+" min="2000-01-01" max="2100-12-31" required', html)


@pytest.mark.parametrize(
    "name", ["Europe", "America/Argentina", "localtime", "Nowhere/City", "../etc/passwd"]
)
def test_a_time_zone_that_is_not_a_zone_is_a_400(operator, name):
    client = client_for(operator)
    for path in ("/api/v1/stats/summary/", "/api/v1/stats/timeseries/", "/api/v1/stats/ledger/"):
        response = client.get(path, {"tz": name, "interval": "month"}, **EN)
        assert_problem(response, validation_problem(path, ("tz", "unknown_time_zone", UNKNOWN_TZ_EN)))


def test_a_real_time_zone_is_accepted(operator):
    response = client_for(operator).get("/api/v1/stats/summary/?tz=America/Cayenne&from=2025-01-01")
    assert response.status_code == 200, response.content
    assert response.json()["tz"] == "America/Cayenne"


def test_every_time_zone_the_api_accepts_is_one_postgresql_knows():
    # The name goes into AT TIME ZONE: one PostgreSQL does not know would be a database error, a 500.
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM pg_timezone_names")
        known = {name for (name,) in cursor.fetchall()}
    assert "Europe/Paris" in time_zone_names()
    assert sorted(time_zone_names() - known) == []
    # ... and which the schema's pattern describes.
    pattern = re.compile("^[A-Za-z][A-Za-z0-9_+-]*(?:/[A-Za-z0-9_+-]+)*$")
    assert sorted(name for name in time_zone_names() if not pattern.match(name) or len(name) > 64) == []


def offer_body(site, **over) -> dict:
    from inventory.models import Category

    category = Category.objects.get_or_create(
        key="furniture", defaults={"name_fr": "Meubles", "name_en": "Furniture", "default_unit": "piece"}
    )[0]
    return {
        "site": site.pk,
        "category": category.pk,
        "title": "Chaises",
        "quantity": "3",
        "unit": "piece",
        "condition": "good",
        **over,
    }


def test_a_year_1_offer_is_refused_instead_of_served_as_invalid_rfc_3339(firm_member):
    site = make_site(firm_member.memberships.get().organisation)
    response = client_for(firm_member).post(
        "/api/v1/offers/", offer_body(site, available_from="0001-01-01T00:00:00Z"), format="json", **EN
    )
    assert_problem(
        response, validation_problem("/api/v1/offers/", ("available_from", "out_of_range", DATE_RANGE_EN))
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("available_from", "9999-12-31T23:59:59-05:00"),  # converted to Paris: year 10000
        ("available_until", "0001-01-01T00:00:00+14:00"),  # converted to Paris: year 0
        ("available_until", "2101-01-01T00:00:00Z"),
    ],
)
def test_offer_dates_beyond_the_range_are_a_400(firm_member, field, value):
    site = make_site(firm_member.memberships.get().organisation)
    response = client_for(firm_member).post(
        "/api/v1/offers/", offer_body(site, **{field: value}), format="json", **EN
    )
    assert_problem(response, validation_problem("/api/v1/offers/", (field, "out_of_range", DATE_RANGE_EN)))


def test_the_first_allowed_instant_is_stored_and_served_as_rfc_3339(firm_member):
    site = make_site(firm_member.memberships.get().organisation)
    client = client_for(firm_member)
    response = client.post(
        "/api/v1/offers/",
        offer_body(site, available_from="2000-01-01T00:00:00+01:00", available_until="2100-12-31T23:59:59Z"),
        format="json",
    )
    assert response.status_code == 201, response.content
    offer = response.json()
    assert offer["available_from"] == "2000-01-01T00:00:00+01:00"
    assert offer["available_until"] == "2101-01-01T00:59:59+01:00"


def test_date_boundaries_first_and_last_day_pass_one_beyond_is_refused(operator):
    client = client_for(operator)
    organisation_id = operator.memberships.get().organisation_id
    for day in ("2000-01-01", "2100-12-31"):
        for url in (
            f"{SEARCH}&available_on={day}",
            f"/api/v1/handovers/?from={day}&to={day}",
            f"/api/v1/stats/summary/?from={day}&to={day}&tz=Pacific/Kiritimati",
            f"/api/v1/stats/timeseries/?from={day}&to={day}&interval=week&tz=Etc/GMT%2B12",
            f"/api/v1/stats/territories/?from={day}&to={day}",
            f"/api/v1/stats/ledger/?from={day}&to={day}",
            f"/api/v1/organisations/{organisation_id}/impact/?from={day}&to={day}",
        ):
            assert client.get(url).status_code == 200, url
    for day in ("1999-12-31", "2101-01-01"):
        url = f"{SEARCH}&available_on={day}"
        assert_problem(
            client.get(url, **EN),
            validation_problem("/api/v1/offers/search/", ("available_on", "out_of_range", DATE_RANGE_EN)),
        )
        url = f"/api/v1/stats/summary/?from={day}&to=2050-01-01"
        assert_problem(
            client.get(url, **EN),
            validation_problem("/api/v1/stats/summary/", ("from", "out_of_range", DATE_RANGE_EN)),
        )


def test_date_time_boundaries_are_the_dates_as_written(operator):
    client = client_for(operator)
    # The date as written decides, whatever the offset: what the schema's pattern says too.
    for instant in ("2000-01-01T00:00:00+14:00", "2100-12-31T23:59:59.999999-12:00"):
        assert client.get("/api/v1/offers/", {"updated_since": instant}).status_code == 200
    for instant in ("1999-12-31T23:59:59.999999-12:00", "2101-01-01T00:00:00+14:00"):
        assert_problem(
            client.get("/api/v1/offers/", {"updated_since": instant}, **EN),
            validation_problem("/api/v1/offers/", ("updated_since", "out_of_range", DATE_RANGE_EN)),
        )


def test_the_range_message_is_in_french_by_default(operator):
    response = client_for(operator).get(f"{SEARCH}&available_on=9999-12-31")
    assert response.status_code == 400
    assert response.json()["title"] == "Données invalides"
    assert response.json()["errors"] == [
        {"field": "available_on", "code": "out_of_range", "message": DATE_RANGE_FR}
    ]


def test_the_dashboard_range_message_is_in_french_by_default(operator):
    client = Client()
    client.force_login(operator)
    response = client.get("/dashboard/?to=9999-12-31")
    assert response.status_code == 400
    assert f'<p class="field-error">{DATE_RANGE_FR}</p>' in response.content.decode()


def test_the_output_is_rfc_3339_at_every_instant_the_input_range_allows():
    """The output field renders in the server's zone: over the whole input range its offsets are whole
    minutes (Europe/Paris read +00:09:21 before 1911), so every instant comes out as RFC 3339."""
    rfc_3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
    field = serializers.DateTimeField()
    zone = ZoneInfo(settings.TIME_ZONE)
    day = EARLIEST_INPUT_DATE - timedelta(days=1)  # an instant written in the range may fall the day before
    while day <= LATEST_INPUT_DATE + timedelta(days=1):
        for hour in (0, 12):
            instant = datetime.combine(day, time(hour), tzinfo=UTC)
            offset = instant.astimezone(zone).utcoffset()
            assert offset.total_seconds() % 60 == 0, instant
        day += timedelta(days=1)
    for text in ("2000-01-01T00:00:00+14:00", "2100-12-31T23:59:59-12:00", "2025-03-30T01:30:00Z"):
        value = BoundedDateTimeField().to_internal_value(text)
        assert rfc_3339.match(field.to_representation(value)), text


def test_every_date_input_of_the_schema_documents_the_range():
    """Every date, date-time and time zone a client sends — query parameters and request bodies — goes
    through the bounded fields: the committed schema shows their pattern, so a new input that does
    not use them fails here."""
    year_pattern = "^(?:20[0-9]{2}|2100)-"
    components = spec()["components"]["schemas"]
    unbounded = []

    def check(where: str, schema: dict) -> None:
        if schema.get("format") in ("date", "date-time") and schema.get("pattern") != year_pattern:
            unbounded.append(where)

    seen_dates = 0
    for path, item in spec()["paths"].items():
        for method, operation in item.items():
            for parameter in operation.get("parameters", []):
                schema = parameter.get("schema", {})
                seen_dates += schema.get("format") in ("date", "date-time")
                check(f"{method} {path} ?{parameter['name']}", schema)
                if parameter["name"] == "tz":
                    # The one TimeZone component: the zones the server accepts, and no tzdata directory.
                    (ref,) = (part["$ref"] for part in schema["allOf"])
                    zones = components[ref.rsplit("/", 1)[-1]]["enum"]
                    assert "Europe/Paris" in zones and "Europe" not in zones, path
    for name, component in components.items():
        if name.endswith("Request"):
            for prop, schema in component.get("properties", {}).items():
                seen_dates += schema.get("format") in ("date", "date-time")
                check(f"{name}.{prop}", schema)
    assert seen_dates > 20
    assert unbounded == []


def test_the_other_dates_of_request_bodies_are_bounded_too(firm_member):
    firm = firm_member.memberships.get().organisation
    claim = make_claim(make_offer(firm))
    client = client_for(firm_member)
    for method, path, field in (
        ("post", f"/api/v1/claims/{claim.pk}/accept/", "pickup_deadline"),
        ("post", f"/api/v1/claims/{claim.pk}/handover/", "collected_at"),
        ("post", "/api/v1/needs/", "deadline"),
    ):
        response = getattr(client, method)(path, {field: "9999-12-31T23:59:59-05:00"}, format="json", **EN)
        assert response.status_code == 400, (path, response.content)
        error = {"field": field, "code": "out_of_range", "message": DATE_RANGE_EN}
        assert error in response.json()["errors"], path

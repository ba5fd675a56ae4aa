"""Query parameters are read strictly, and the schema states the limits the server enforces (issue 8,
item 10: what Schemathesis found).

- An empty value is a value: `?status=` is an invalid status, not an absent one.
- A parameter given twice is refused, pagination's `limit` and `cursor` and `format` included.
- An invalid `limit` is a 400, not the default page size.
- Parameters an operation does not document are ignored.
- openapi.yaml carries the Idempotency-Key pattern, the statistics period limit, the search radius and
  page size bounds, with the values the validators use."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest

from api.idempotency import KEY_MAX_LENGTH, KEY_PATTERN, IdempotencyKeyInvalid, parse_key
from api.pagination import CursorPage
from impact.query import MAX_PERIOD_DAYS
from matching.search import MAX_RADIUS_M

from .conftest import ROUBAIX, client_for, make_member, make_offer
from .openapi import spec

pytestmark = pytest.mark.django_db

EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


def assert_field_errors(response, errors: list[dict]) -> None:
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert (body["code"], body["errors"]) == ("validation_error", errors)


@pytest.fixture
def member(association):
    return client_for(make_member(association))


# ---- the findings, exactly as quoted ------------------------------------------------------------


def test_an_empty_claim_status_is_refused(member):
    assert_field_errors(
        member.get("/api/v1/claims/?status=", **EN),
        [{"field": "status", "code": "invalid_choice", "message": '"" is not a valid choice.'}],
    )


def test_an_empty_updated_since_is_refused(member):
    message = (
        "Datetime has wrong format. Use one of these formats instead: "
        "YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z]."
    )
    assert_field_errors(
        member.get("/api/v1/offers/?updated_since=", **EN),
        [{"field": "updated_since", "code": "invalid", "message": message}],
    )


def test_an_empty_handover_period_end_is_refused(member):
    message = "Date has wrong format. Use one of these formats instead: YYYY-MM-DD."
    assert_field_errors(
        member.get("/api/v1/handovers/?to=", **EN), [{"field": "to", "code": "invalid", "message": message}]
    )


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/api-keys/",
        "/api/v1/sites/",
        "/api/v1/organisations/",
        "/api/v1/matches/",
        "/api/v1/stats/reports/",
        "/api/v1/claims/",
        "/api/v1/offers/",
    ],
)
def test_a_repeated_limit_is_refused(member, path):
    assert_field_errors(
        member.get(f"{path}?limit=null&limit=null", **EN),
        [{"field": "limit", "code": "repeated", "message": "Give this parameter once."}],
    )


def test_an_empty_factor_version_is_refused(anon):
    assert_field_errors(
        anon.get("/api/v1/categories/?factor_version=", **EN),
        [{"field": "factor_version", "code": "blank", "message": "This field may not be blank."}],
    )


# ---- the same rules elsewhere -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("limit", "code", "message"),
    [
        ("null", "invalid", "A valid integer is required."),
        ("", "invalid", "A valid integer is required."),
        ("0", "min_value", "Ensure this value is greater than or equal to 1."),
        ("501", "max_value", "Ensure this value is less than or equal to 500."),
    ],
)
def test_an_invalid_limit_is_refused_not_replaced_by_the_default(member, limit, code, message):
    assert_field_errors(
        member.get(f"/api/v1/claims/?limit={limit}", **EN),
        [{"field": "limit", "code": code, "message": message}],
    )


def test_a_limit_within_bounds_is_the_page_size(firm):
    site_owner = client_for(make_member(firm))
    for _ in range(3):
        make_offer(firm)
    assert len(site_owner.get("/api/v1/offers/?limit=2").json()["results"]) == 2
    assert len(site_owner.get("/api/v1/offers/?limit=500").json()["results"]) == 3


def test_a_repeated_filter_is_refused(member):
    assert_field_errors(
        member.get("/api/v1/claims/?status=requested&status=accepted", **EN),
        [{"field": "status", "code": "repeated", "message": "Give this parameter once."}],
    )


def test_a_repeated_cursor_is_refused(member):
    assert_field_errors(
        member.get("/api/v1/claims/?cursor=cD0x&cursor=cD0y", **EN),
        [{"field": "cursor", "code": "repeated", "message": "Give this parameter once."}],
    )


def test_an_empty_filter_is_refused_where_blank_means_nothing(firm):
    assert_field_errors(
        client_for(make_member(firm)).get("/api/v1/offers/?external_ref=", **EN),
        [{"field": "external_ref", "code": "blank", "message": "This field may not be blank."}],
    )


def test_a_parameter_that_allows_blank_keeps_it(member):
    response = member.get(f"/api/v1/offers/search/?lat={ROUBAIX.y}&lon={ROUBAIX.x}&q=")
    assert response.status_code == 200, response.content


def test_undocumented_parameters_are_ignored(member):
    assert member.get("/api/v1/claims/?colour=blue&page=3").status_code == 200


UNKNOWN_FORMAT = {
    "field": "format",
    "code": "invalid_choice",
    "message": "Unknown format; use one of: csv, json.",
}
REPEATED_FORMAT = {"field": "format", "code": "repeated", "message": "Give this parameter once."}


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ("format=", UNKNOWN_FORMAT),
        ("format=xml", UNKNOWN_FORMAT),
        ("format=csv&format=json", REPEATED_FORMAT),
    ],
)
def test_format_is_a_parameter_like_the_others(member, query, error):
    assert_field_errors(member.get(f"/api/v1/handovers/?{query}", **EN), [error])


def test_a_known_format_still_chooses_the_representation(member):
    response = member.get("/api/v1/handovers/?format=csv")
    assert (response.status_code, response["Content-Type"].split(";")[0]) == (200, "text/csv")


@pytest.mark.parametrize("value", ["1e3", " 5", "-0", "0", "0.000", "1.2345", "", "5_0"])
def test_min_quantity_is_read_as_the_schema_writes_it(member, value):
    response = member.get(
        "/api/v1/offers/search/", {"lat": ROUBAIX.y, "lon": ROUBAIX.x, "min_quantity": value}, **EN
    )
    message = "A positive quantity is required, such as 2 or 0.5."
    assert_field_errors(response, [{"field": "min_quantity", "code": "not_positive", "message": message}])


# ---- the schema states the limits, from the constants the validators use ----------------------


def _operations():
    for path, item in spec()["paths"].items():
        for method, operation in item.items():
            if method in {"get", "post", "put", "patch", "delete"}:
                yield path, method, operation


def _parameter(operation: dict, name: str) -> dict:
    return next(p for p in operation.get("parameters", []) if p["name"] == name)


def test_the_schema_documents_the_idempotency_key_as_the_server_checks_it():
    headers = [
        _parameter(operation, "Idempotency-Key")
        for _path, _method, operation in _operations()
        if any(p["name"] == "Idempotency-Key" for p in operation.get("parameters", []))
    ]
    assert len(headers) >= 10
    documented = {"type": "string", "minLength": 1, "maxLength": KEY_MAX_LENGTH, "pattern": KEY_PATTERN}
    assert all(header["schema"] == documented for header in headers)
    pattern = re.compile(KEY_PATTERN)
    for key in ["a", "order-1", "x" * KEY_MAX_LENGTH, "a b", "~!{}"]:
        assert pattern.fullmatch(key) and parse_key(key) == key
    for key in ["", "x" * (KEY_MAX_LENGTH + 1), "é", "a\tb", "a\x7f"]:
        assert not pattern.fullmatch(key)
        with pytest.raises(IdempotencyKeyInvalid):
            parse_key(key)


def test_the_idempotency_key_bounds_hold_through_the_api(firm):
    client = client_for(make_member(firm))
    body = {"name": "Cour", "location": {"type": "Point", "coordinates": [ROUBAIX.x, ROUBAIX.y]}}

    def post(key):
        return client.post("/api/v1/sites/", body, format="json", HTTP_IDEMPOTENCY_KEY=key)

    assert post("k" * KEY_MAX_LENGTH).status_code == 201
    refused = post("k" * (KEY_MAX_LENGTH + 1))
    assert (refused.status_code, refused.json()["code"]) == (400, "invalid_idempotency_key")


STATS_OPERATIONS = [
    "/api/v1/stats/summary/",
    "/api/v1/stats/timeseries/",
    "/api/v1/stats/territories/",
    "/api/v1/stats/ledger/",
    "/api/v1/organisations/{organisation_id}/impact/",
]


@pytest.mark.parametrize("path", STATS_OPERATIONS)
def test_the_schema_documents_the_period_limit(path):
    operation = spec()["paths"][path]["get"]
    assert operation["x-period-max-days"] == MAX_PERIOD_DAYS
    for name in ("from", "to"):
        assert f"at most {MAX_PERIOD_DAYS} days" in _parameter(operation, name)["description"]


def test_the_period_limit_holds_through_the_api(operator_user):
    client = client_for(operator_user)
    start = date(2021, 3, 1)
    longest = start + timedelta(days=MAX_PERIOD_DAYS - 1)
    assert client.get(f"/api/v1/stats/summary/?from={start}&to={longest}").status_code == 200
    too_long = client.get(f"/api/v1/stats/summary/?from={start}&to={longest + timedelta(days=1)}")
    assert (too_long.status_code, too_long.json()["code"]) == (400, "period_too_long")


def test_the_schema_documents_the_search_radius_and_its_bounds():
    radius = _parameter(spec()["paths"]["/api/v1/offers/search/"]["get"], "radius_km")["schema"]
    assert (radius["exclusiveMinimum"], radius["maximum"]) == (0, MAX_RADIUS_KM)
    assert "minimum" not in radius


MAX_RADIUS_KM = MAX_RADIUS_M / 1000


@pytest.mark.parametrize(
    ("radius_km", "status"), [("0.001", 200), (MAX_RADIUS_KM, 200), ("0", 400), (MAX_RADIUS_KM + 0.001, 400)]
)
def test_the_search_radius_bounds_hold_through_the_api(member, radius_km, status):
    query = {"lat": ROUBAIX.y, "lon": ROUBAIX.x, "radius_km": radius_km}
    assert member.get("/api/v1/offers/search/", query).status_code == status


def test_the_schema_documents_the_page_size_bounds():
    paginated = [
        operation
        for _path, _method, operation in _operations()
        if any(p["name"] == "cursor" for p in operation.get("parameters", []))
    ]
    assert len(paginated) >= 10
    bounds = {
        "type": "integer",
        "minimum": 1,
        "maximum": CursorPage.max_page_size,
        "default": CursorPage.page_size,
    }
    assert all(_parameter(operation, "limit")["schema"] == bounds for operation in paginated)


def test_json_bodies_are_json_only():
    """A form cannot carry the nested objects and nulls of the JSON bodies: only uploads (a photo, a file
    to import) take multipart, and no operation takes a urlencoded form."""
    forms = {"multipart/form-data", "application/x-www-form-urlencoded"}
    with_forms = [
        (method.upper(), path, sorted(forms & set(operation.get("requestBody", {}).get("content", {}))))
        for path, method, operation in _operations()
    ]
    assert [operation for operation in with_forms if operation[2]] == [
        ("POST", "/api/v1/imports/", ["multipart/form-data"]),
        ("POST", "/api/v1/offers/{offer_id}/photos/", ["multipart/form-data"]),
    ]


def test_a_form_body_on_a_json_operation_is_unsupported(firm):
    response = client_for(make_member(firm)).post("/api/v1/sites/", {"name": "Cour"}, format="multipart")
    assert (response.status_code, response.json()["code"]) == (415, "unsupported_media_type")


# ---- a read that names something absent is a 404 ------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        f"/api/v1/offers/search/?lat={ROUBAIX.y}&lon={ROUBAIX.x}&category=999999",
        "/api/v1/offers/?category=999999",
        "/api/v1/handovers/?category=999999",
    ],
)
def test_a_category_filter_naming_no_category_is_a_404(member, path):
    response = member.get(path)
    assert (response.status_code, response.json()["code"]) == (404, "not_found")


@pytest.mark.parametrize("query", ["category=no-such-category", "category=999999", "factor_version=1999.1"])
def test_statistics_of_a_category_or_factor_version_that_does_not_exist_are_a_404(operator_user, query):
    response = client_for(operator_user).get(f"/api/v1/stats/summary/?{query}")
    assert (response.status_code, response.json()["code"]) == (404, "not_found")


# ---- JSON bodies are read with the documented types (api.json_types) ----------------------------


def _errors(response) -> list[tuple[str, str]]:
    assert response.status_code == 400, response.content
    return [(e["field"], e["message"]) for e in response.json()["errors"]]


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({"last_name": 0}, [("last_name", "A string is required.")]),
        ({"first_name": True}, [("first_name", "A string is required.")]),
        ({"preferred_language": 1}, [("preferred_language", "A string is required.")]),
    ],
)
def test_a_string_field_takes_strings_only(association, body, errors):
    response = client_for(make_member(association)).patch("/api/v1/me/", body, format="json", **EN)
    assert _errors(response) == errors


def test_integers_booleans_decimals_and_list_items_have_their_type(firm, association):
    offer = make_offer(firm)
    claimant = client_for(make_member(association))
    response = claimant.post(
        "/api/v1/claims/", {"offer": str(offer.pk), "quantity": " 1"}, format="json", **EN
    )
    assert _errors(response) == [
        ("offer", "An integer is required."),
        ("quantity", "A number is required, or a decimal string such as “2.5”."),
    ]
    owner = client_for(make_member(firm))
    response = owner.patch(f"/api/v1/offers/{offer.pk}/", {"auto_accept_claims": "yes"}, format="json", **EN)
    assert _errors(response) == [("auto_accept_claims", "true or false is required.")]
    need = {
        "title": "Chaises",
        "categories": [1, "2"],
        "radius_m": 1000,
        "location": {"type": "Point", "coordinates": [3.17, 50.69]},
    }
    response = claimant.post("/api/v1/needs/", need, format="json", **EN)
    assert _errors(response) == [("categories.1", "An integer is required.")]


@pytest.mark.parametrize("quantity", ["2", "0.5", 2, 0.5])
def test_a_decimal_is_a_decimal_string_or_a_number(firm, association, quantity):
    offer = make_offer(firm, unit="kg")
    claimant = client_for(make_member(association))
    response = claimant.post("/api/v1/claims/", {"offer": offer.pk, "quantity": quantity}, format="json")
    assert response.status_code == 201, response.content


def test_the_schema_documents_decimal_inputs_as_json_types_reads_them():
    from api.endpoints.claims import ClaimCreateIn
    from api.json_types import decimal_pattern

    documented = spec()["components"]["schemas"]["ClaimCreateInRequest"]["properties"]["quantity"]
    pattern = decimal_pattern(ClaimCreateIn().fields["quantity"])
    assert documented["anyOf"] == [
        {"type": "string", "format": "decimal", "pattern": pattern},
        {"type": "number", "minimum": 0.001, "maximum": 99999999999.999, "multipleOf": 0.001},
    ]
    assert [bool(re.fullmatch(pattern, v)) for v in ["2", "0.5", "0.001", "0", "-1", "1.0001", " 1"]] == [
        True, True, True, False, False, False, False,
    ]  # fmt: skip


def test_the_schema_documents_point_bounds_and_non_blank_strings():
    coordinates = spec()["components"]["schemas"]["SiteCreateInRequest"]["properties"]["location"]
    assert coordinates["properties"]["coordinates"]["prefixItems"] == [
        {"type": "number", "minimum": -180, "maximum": 180},
        {"type": "number", "minimum": -90, "maximum": 90},
    ]
    reason = spec()["components"]["schemas"]["HandoverDisputeInRequest"]["properties"]["reason"]
    assert (reason["minLength"], reason["pattern"]) == (1, r"\S")


def test_a_string_of_whitespace_is_blank(firm):
    client = client_for(make_member(firm))
    site = client.post(
        "/api/v1/sites/",
        {"name": "Cour", "location": {"type": "Point", "coordinates": [ROUBAIX.x, ROUBAIX.y]}},
        format="json",
    ).json()
    response = client.patch(f"/api/v1/sites/{site['id']}/", {"name": "\x1e "}, format="json", **EN)
    assert _errors(response) == [("name", "This field may not be blank.")]


def test_every_link_names_an_operation_and_fills_its_path_parameters():
    """The links the stateful phase of the contract fuzzing follows (api.schema.LINKS)."""
    operations = {operation["operationId"]: operation for _path, _method, operation in _operations()}
    links = [
        link
        for operation in operations.values()
        for response in operation["responses"].values()
        for link in response.get("links", {}).values()
    ]
    assert len(links) >= 25
    for link in links:
        target = operations[link["operationId"]]
        path_parameters = {p["name"] for p in target.get("parameters", []) if p["in"] == "path"}
        assert set(link["parameters"]) == path_parameters, link


def test_the_error_statuses_an_operation_can_give_are_documented_with_the_problem_shape():
    responses = spec()["paths"]["/api/v1/claims/{claim_id}/accept/"]["post"]["responses"]
    for status in ("400", "401", "403", "404", "409", "413", "415", "422", "429"):
        assert responses[status]["content"]["application/problem+json"]["schema"] == {
            "$ref": "#/components/schemas/Problem"
        }, status
    public = spec()["paths"]["/api/v1/categories/"]["get"]["responses"]
    assert "403" not in public  # 401 only for credentials sent and refused: they are optional there
    assert public["401"]["description"].startswith("The token or key sent is invalid")

"""Tax receipts over HTTP (issue 13): a firm values its donation, the association collects it, declares
its right to issue receipts, the operator verifies it, the association issues the receipt, both parties
read it and its PDF, cancel and re-issue; every refusal with its code, who sees the valuation, the
yearly totals in JSON and CSV, and bad input as a 4xx in the one error shape."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from exchange.models import Offer
from organisations.models import MembershipRole, OrganisationKind

from .conftest import (
    client_for,
    client_for_key,
    make_api_key,
    make_member,
    make_org,
    make_receipt_association,
    make_receipt_donor,
)

VALUATION = {"unit_value_eur": "2.50", "valuation_basis": "stock_value"}


def _problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert (body["status"], body["code"]) == (status, code), body
    return body


@pytest.fixture
def parties(catalogue, operator_user):
    firm = make_receipt_donor()
    firm_site = firm.sites.get()
    association = make_receipt_association(verified=False)
    other = make_org(OrganisationKind.COMPANY, name="NordNum", siret="44229377500007")
    return {
        "firm": firm,
        "site": firm_site,
        "association": association,
        "wood": catalogue["wood"],
        "donor": client_for(make_member(firm, MembershipRole.ADMIN)),
        "key": client_for_key(make_api_key(firm)[1]),
        "recipient": client_for(make_member(association, MembershipRole.ADMIN)),
        "recipient_member": client_for(make_member(association, MembershipRole.MEMBER)),
        "stranger": client_for(make_member(other, MembershipRole.ADMIN)),
        "operator": client_for(operator_user),
    }


def _offer(p, client=None, **extra) -> dict:
    body = {
        "site": p["site"].pk,
        "category": p["wood"].pk,
        "title": "Chutes de chêne",
        "quantity": "100",
        "unit": "kg",
        "condition": "good",
        "publish": True,
        **extra,
    }
    response = (client or p["donor"]).post("/api/v1/offers/", body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def _collected(p, offer_id: int, quantity: str = "40") -> int:
    claim = p["recipient"].post("/api/v1/claims/", {"offer": offer_id, "quantity": quantity}, format="json")
    assert claim.status_code == 201, claim.content
    claim_id = claim.json()["id"]
    assert p["donor"].post(f"/api/v1/claims/{claim_id}/accept/", {}, format="json").status_code == 200
    handover = p["donor"].post(f"/api/v1/claims/{claim_id}/handover/", {"mass_kg": quantity}, format="json")
    assert handover.status_code == 201, handover.content
    return handover.json()["id"]


def _verified(p) -> None:
    org = p["association"].pk
    declared = p["recipient"].post(
        f"/api/v1/organisations/{org}/tax-receipts/declare/",
        {"evidence": "Rescrit fiscal n° 2025-59-0042"},
        format="json",
    )
    assert declared.status_code == 200, declared.content
    verified = p["operator"].post(
        f"/api/v1/organisations/{org}/tax-receipts/verify/", {"accepted": True}, format="json"
    )
    assert verified.status_code == 200, verified.content


def _issue_body(p, **extra) -> dict:
    today = timezone.localdate()
    return {
        "donor": p["firm"].pk,
        "period_start": str(today.replace(day=1)),
        "period_end": str(today),
        **extra,
    }


def test_the_whole_flow_over_http(parties):
    p = parties
    offer = _offer(p, **VALUATION)
    assert offer["valuation"] == {"unit_value_eur": "2.50", "basis": "stock_value", "near_use_by": False}
    handover_id = _collected(p, offer["id"])

    # Not yet verified: the association may not issue.
    refused = p["recipient"].post("/api/v1/receipts/", _issue_body(p), format="json")
    assert _problem(refused, 403, "tax_receipts_not_verified")["tax_receipt_status"] == ""

    org_url = f"/api/v1/organisations/{p['association'].pk}/"
    declared = p["recipient"].post(
        org_url + "tax-receipts/declare/", {"evidence": " Rescrit fiscal n° 2025-59-0042 "}, format="json"
    )
    assert declared.status_code == 200
    tax = declared.json()["tax_receipts"]
    assert (tax["status"], tax["evidence"], tax["decided_at"]) == (
        "declared",
        "Rescrit fiscal n° 2025-59-0042",
        None,
    )
    assert tax["declared_at"] is not None
    verified = p["operator"].post(org_url + "tax-receipts/verify/", {"accepted": True}, format="json")
    assert verified.json()["tax_receipts"]["status"] == "verified"
    assert p["recipient"].get(org_url).json()["tax_receipts"]["status"] == "verified"
    assert p["donor"].get(f"/api/v1/organisations/{p['firm'].pk}/").json()["tax_receipts"] is None

    issued = p["recipient"].post("/api/v1/receipts/", _issue_body(p), format="json")
    assert issued.status_code == 201, issued.content
    receipt = issued.json()
    year = timezone.localdate().year
    assert issued["Location"] == f"http://testserver/api/v1/receipts/{receipt['id']}/"
    assert (receipt["reference"], receipt["number"], receipt["year"]) == (f"{year}-000001", 1, year)
    assert (receipt["total_value_eur"], receipt["total_in_words"]) == ("100.00", "cent euros")
    assert receipt["association"]["name"] == "Repair Café Roubaix"
    assert receipt["association"]["evidence"] == "Rescrit fiscal n° 2025-59-0042"
    assert (receipt["donor"]["name"], receipt["donor"]["siret"]) == ("Menuiserie du Nord", "73282932000074")
    assert receipt["donor"]["address"] == "12 rue de Lannoy, 59100 Roubaix"
    [line] = receipt["lines"]
    assert (line["handover"], line["quantity"], line["unit"]) == (handover_id, "40.000", "kg")
    assert (line["unit_value_eur"], line["valuation_basis"], line["value_eur"]) == (
        "2.50",
        "stock_value",
        "100.00",
    )
    assert (receipt["cancellation"], receipt["replaces"], receipt["replaced_by"]) == (None, None, None)

    # Both parties read it; the donor's key too; nobody else.
    url = f"/api/v1/receipts/{receipt['id']}/"
    for client in (p["donor"], p["key"], p["recipient_member"], p["operator"]):
        assert client.get(url).json()["total_value_eur"] == "100.00"
        assert [r["id"] for r in client.get("/api/v1/receipts/").json()["results"]] == [receipt["id"]]
    _problem(p["stranger"].get(url), 404, "not_found")
    assert p["stranger"].get("/api/v1/receipts/").json()["results"] == []

    pdf = p["donor"].get(url + "pdf/")
    assert pdf.status_code == 200
    assert pdf["Content-Type"] == "application/pdf"
    assert pdf["Content-Disposition"] == f'attachment; filename="recu-{year}-000001.pdf"'
    assert pdf.content.startswith(b"%PDF")
    _problem(p["stranger"].get(url + "pdf/"), 404, "not_found")

    # Nothing left to receipt; a replacement needs the old one cancelled first.
    _problem(
        p["recipient"].post("/api/v1/receipts/", _issue_body(p), format="json"), 400, "nothing_to_receipt"
    )
    again = p["recipient"].post(
        "/api/v1/receipts/", _issue_body(p, handover_ids=[handover_id]), format="json"
    )
    assert _problem(again, 409, "already_receipted")["handover_ids"] == [handover_id]
    early = p["recipient"].post("/api/v1/receipts/", _issue_body(p, replaces=receipt["id"]), format="json")
    _problem(early, 409, "replaces_not_cancelled")

    # Cancel (the association, not the donor), once; then re-issue.
    reason = {"reason": "Erreur de période."}
    _problem(p["donor"].post(url + "cancel/", reason, format="json"), 403, "issuer_only")
    cancelled = p["recipient"].post(url + "cancel/", reason, format="json")
    assert cancelled.status_code == 200
    assert cancelled.json()["cancellation"]["reason"] == "Erreur de période."
    _problem(p["recipient"].post(url + "cancel/", reason, format="json"), 409, "already_cancelled")
    reissued = p["recipient"].post("/api/v1/receipts/", _issue_body(p, replaces=receipt["id"]), format="json")
    assert reissued.status_code == 201, reissued.content
    new = reissued.json()
    assert (new["reference"], new["replaces"], new["total_value_eur"]) == (
        f"{year}-000002",
        receipt["id"],
        "100.00",
    )
    assert p["donor"].get(url).json()["replaced_by"] == new["id"]
    listed = p["donor"].get(f"/api/v1/receipts/?year={year}&donor={p['firm'].pk}").json()["results"]
    assert [r["id"] for r in listed] == [new["id"], receipt["id"]]
    assert p["donor"].get(f"/api/v1/receipts/?year={year - 1}").json()["results"] == []


def _receipted(p, quantity="40") -> None:
    _collected(p, _offer(p, **VALUATION)["id"], quantity)
    _verified(p)
    response = p["recipient"].post("/api/v1/receipts/", _issue_body(p), format="json")
    assert response.status_code == 201, response.content


def test_the_yearly_totals_in_json_and_csv(parties):
    p = parties
    _receipted(p)
    year = timezone.localdate().year
    donor_url = f"/api/v1/receipts/totals/?year={year}&organisation={p['firm'].pk}"
    for client in (p["donor"], p["key"], p["operator"]):
        body = client.get(donor_url).json()
        assert body == {
            "side": "donor",
            "organisation": p["firm"].pk,
            "year": year,
            "receipt_count": 1,
            "total_value_eur": "100.00",
            "cancelled_count": None,
            "reduction": {
                "turnover_eur": None,
                "ceiling_eur": "20000.00",
                "eligible_eur": "100.00",
                "reduction_eur": "60.00",
                "carried_over_eur": "0.00",
                "carry_over_years": 5,
            },
        }
    big = p["donor"].get(donor_url + "&turnover_eur=10000000").json()["reduction"]
    assert (big["turnover_eur"], big["ceiling_eur"]) == ("10000000.00", "50000.00")
    csv = p["donor"].get(donor_url + "&format=csv")
    assert csv["Content-Type"].startswith("text/csv")
    assert csv["Content-Disposition"] == (
        f'attachment; filename="boucle-receipt-totals-{p["firm"].pk}-{year}.csv"'
    )
    assert csv.content.decode().splitlines() == [
        "donor_id,year,receipt_count,total_value_eur,turnover_eur,ceiling_eur,eligible_eur,reduction_eur,"
        "carried_over_eur,carry_over_years",
        f"{p['firm'].pk},{year},1,100.00,,20000.00,100.00,60.00,0.00,5",  # euros with their cents, as in JSON
    ]
    labelled = p["donor"].get(donor_url + "&format=csv&labels=true", HTTP_ACCEPT_LANGUAGE="en")
    assert labelled.content.decode().splitlines()[1].startswith("Donor,Year,Receipts,Total of gifts (EUR)")

    association_url = f"/api/v1/receipts/totals/?year={year}&organisation={p['association'].pk}"
    body = p["recipient_member"].get(association_url).json()
    assert (body["side"], body["receipt_count"], body["total_value_eur"], body["cancelled_count"]) == (
        "association",
        1,
        "100.00",
        0,
    )
    assert body["reduction"] is None
    csv = p["recipient"].get(association_url + "&format=csv").content.decode().splitlines()
    assert csv == [
        "association_id,year,receipt_count,total_value_eur,cancelled_count",
        f"{p['association'].pk},{year},1,100.00,0",
    ]
    # Only the organisation's own people (and, for a donor, keys) and the operator.
    _problem(p["stranger"].get(donor_url), 404, "not_found")
    _problem(p["recipient"].get(donor_url), 404, "not_found")
    _problem(p["donor"].get(association_url), 404, "not_found")
    _problem(p["stranger"].get(association_url + "&format=csv"), 404, "not_found")


def test_the_valuation_is_the_offering_organisations_own(parties):
    p = parties
    offer = _offer(p, **VALUATION, near_use_by=True)
    url = f"/api/v1/offers/{offer['id']}/"
    seen = {"unit_value_eur": "2.50", "basis": "stock_value", "near_use_by": True}
    for client in (p["donor"], p["key"], p["operator"]):
        assert client.get(url).json()["valuation"] == seen
    for client in (p["recipient"], p["stranger"]):
        body = client.get(url).json()
        assert body["valuation"] is None
        assert body["title"] == "Chutes de chêne"

    changed = p["donor"].patch(
        url, {"unit_value_eur": "3.10", "valuation_basis": "cost_price"}, format="json"
    )
    assert changed.json()["valuation"] == {
        "unit_value_eur": "3.10",
        "basis": "cost_price",
        "near_use_by": True,
    }
    cleared = p["donor"].patch(url, {"unit_value_eur": None, "valuation_basis": ""}, format="json")
    assert cleared.json()["valuation"] is None
    assert _offer(p)["valuation"] is None


def test_the_bulk_path_takes_the_valuation(parties):
    p = parties
    item = {
        "external_ref": "ERP-CHENE",
        "site": p["site"].pk,
        "category": p["wood"].pk,
        "title": "Chutes de chêne",
        "quantity": "100",
        "unit": "kg",
        "condition": "good",
        **VALUATION,
    }
    created = p["key"].post("/api/v1/offers/bulk/", {"items": [item]}, format="json").json()
    assert created["created"] == 1
    offer = Offer.objects.get(pk=created["results"][0]["offer"])
    assert (offer.unit_value_eur, offer.valuation_basis) == (Decimal("2.50"), "stock_value")
    changed = {"external_ref": "ERP-CHENE", "unit_value_eur": "1.20", "valuation_basis": "cost_price"}
    updated = p["key"].post("/api/v1/offers/bulk/", {"items": [changed]}, format="json").json()
    assert updated["updated"] == 1
    offer.refresh_from_db()
    assert (offer.unit_value_eur, offer.valuation_basis) == (Decimal("1.20"), "cost_price")
    sale = {"external_ref": "ERP-VENTE", **{k: v for k, v in item.items() if k != "external_ref"}}
    refused = (
        p["key"]
        .post(
            "/api/v1/offers/bulk/", {"items": [{**sale, "mode": "sale", "price_eur": "5.00"}]}, format="json"
        )
        .json()
    )
    assert refused["results"][0]["error"]["errors"][0]["field"] == "unit_value_eur"


@pytest.mark.parametrize(
    "body, field",
    [
        ({"unit_value_eur": "2.50"}, "valuation_basis"),
        ({"valuation_basis": "stock_value"}, "unit_value_eur"),
        ({"unit_value_eur": "0", "valuation_basis": "stock_value"}, "unit_value_eur"),
        ({**VALUATION, "mode": "sale", "price_eur": "5.00"}, "unit_value_eur"),
        ({"unit_value_eur": "2.5x", "valuation_basis": "stock_value"}, "unit_value_eur"),
        ({"unit_value_eur": "2.50", "valuation_basis": "sale_price"}, "valuation_basis"),
    ],
)
def test_a_bad_valuation_is_a_400_on_its_field(parties, body, field):
    p = parties
    response = p["donor"].post(
        "/api/v1/offers/",
        {
            "site": p["site"].pk,
            "category": p["wood"].pk,
            "title": "Chutes",
            "quantity": "10",
            "unit": "kg",
            "condition": "good",
            **body,
        },
        format="json",
    )
    problem = _problem(response, 400, "validation_error")
    assert [error["field"] for error in problem["errors"]] == [field]


def test_every_refusal_of_an_issue_with_its_code(parties):
    p = parties
    _collected(p, _offer(p)["id"])  # not valued
    unvalued = p["recipient"].post("/api/v1/receipts/", _issue_body(p), format="json")
    _problem(unvalued, 403, "tax_receipts_not_verified")
    _verified(p)
    _problem(
        p["recipient"].post("/api/v1/receipts/", _issue_body(p), format="json"), 400, "valuation_missing"
    )
    no_siret = make_org(OrganisationKind.COMPANY, name="Sans SIRET")
    body = _issue_body(p, donor=no_siret.pk)
    problem = _problem(
        p["recipient"].post("/api/v1/receipts/", body, format="json"), 400, "donor_not_eligible"
    )
    assert problem["errors"][0]["field"] == "donor"
    backwards = _issue_body(p, period_start="2026-02-01", period_end="2026-01-01")
    problem = _problem(p["recipient"].post("/api/v1/receipts/", backwards, format="json"), 400, "invalid")
    assert problem["errors"][0]["field"] == "period_end"
    outside = p["recipient"].post("/api/v1/receipts/", _issue_body(p, handover_ids=[999999]), format="json")
    assert _problem(outside, 400, "handovers_not_eligible")["handover_ids"] == [999999]
    # The donor cannot issue (a company is no association); a stranger does not see the association.
    as_donor = p["donor"].post("/api/v1/receipts/", _issue_body(p), format="json")
    _problem(as_donor, 403, "not_an_association")
    named = _issue_body(p, association=p["association"].pk)
    _problem(p["stranger"].post("/api/v1/receipts/", named, format="json"), 404, "not_found")
    _problem(p["key"].post("/api/v1/receipts/", named, format="json"), 404, "not_found")


def test_tax_receipt_status_refusals(parties):
    p = parties
    org_url = f"/api/v1/organisations/{p['association'].pk}/tax-receipts/"
    verify = {"accepted": True}
    _problem(p["operator"].post(org_url + "verify/", verify, format="json"), 409, "nothing_declared")
    evidence = {"evidence": "Rescrit"}
    _problem(
        p["recipient_member"].post(org_url + "declare/", evidence, format="json"), 403, "permission_denied"
    )
    _problem(p["stranger"].post(org_url + "declare/", evidence, format="json"), 404, "not_found")
    blank = p["recipient"].post(org_url + "declare/", {"evidence": "   "}, format="json")
    assert _problem(blank, 400, "validation_error")["errors"][0]["field"] == "evidence"
    assert p["recipient"].post(org_url + "declare/", evidence, format="json").status_code == 200
    _problem(p["recipient"].post(org_url + "verify/", verify, format="json"), 403, "operator_only")
    _problem(p["stranger"].post(org_url + "verify/", verify, format="json"), 404, "not_found")
    refused = p["operator"].post(org_url + "verify/", {"accepted": False}, format="json")
    assert refused.json()["tax_receipts"]["status"] == "refused"
    firm_url = f"/api/v1/organisations/{p['firm'].pk}/tax-receipts/declare/"
    _problem(p["donor"].post(firm_url, evidence, format="json"), 409, "not_an_association")


@pytest.mark.parametrize(
    "method, path, body",
    [
        (
            "post",
            "/api/v1/receipts/",
            {"donor": "x", "period_start": "2026-01-01", "period_end": "2026-01-31"},
        ),
        ("post", "/api/v1/receipts/", {"donor": 1, "period_start": "2026-13-01", "period_end": "2026-01-31"}),
        ("post", "/api/v1/receipts/", {"donor": 1, "period_start": "2026-01-01"}),
        (
            "post",
            "/api/v1/receipts/",
            {"donor": 1, "period_start": "2026-01-01", "period_end": "2026-01-31", "handover_ids": []},
        ),  # fmt: skip
        (
            "post",
            "/api/v1/receipts/",
            {"donor": 1, "period_start": "2026-01-01", "period_end": "2026-01-31", "handover_ids": ["a"]},
        ),  # fmt: skip
        (
            "post",
            "/api/v1/receipts/",
            {"donor": 999999, "period_start": "2026-01-01", "period_end": "2026-01-31"},
        ),
        ("post", "/api/v1/receipts/", []),
        ("get", "/api/v1/receipts/?year=abc", None),
        ("get", "/api/v1/receipts/?year=2026&year=2025", None),
        ("get", "/api/v1/receipts/totals/", None),
        ("get", "/api/v1/receipts/totals/?year=2026", None),
        ("get", "/api/v1/receipts/totals/?year=2026&organisation=1&turnover_eur=-5", None),
        ("get", "/api/v1/receipts/totals/?year=2026&organisation=1&labels=maybe", None),
        ("post", "/api/v1/organisations/{association}/tax-receipts/declare/", {"evidence": 7}),
        ("post", "/api/v1/organisations/{association}/tax-receipts/verify/", {"accepted": "peut-être"}),
    ],
)
def test_bad_input_is_a_400_in_the_one_error_shape(parties, method, path, body):
    p = parties
    client = p["operator"] if "verify" in path else p["recipient"]
    url = path.format(association=p["association"].pk)
    response = getattr(client, method)(url, body, format="json") if method == "post" else client.get(url)
    # A body the serializer refuses is `validation_error`; a donor that does not exist, the domain's
    # `invalid` on its field.
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] in ("validation_error", "invalid")
    assert response.json()["errors"] or response.json()["code"] == "validation_error"


def test_a_cancellation_needs_a_reason_and_strangers_do_not_see_the_receipt(parties):
    p = parties
    _receipted(p)
    url = f"/api/v1/receipts/{p['recipient'].get('/api/v1/receipts/').json()['results'][0]['id']}/cancel/"
    _problem(p["recipient"].post(url, {"reason": ""}, format="json"), 400, "validation_error")
    _problem(p["recipient"].post(url, {}, format="json"), 400, "validation_error")
    _problem(p["stranger"].post(url, {"reason": "Erreur."}, format="json"), 404, "not_found")
    _problem(
        p["recipient"].post("/api/v1/receipts/999999/cancel/", {"reason": "x"}, format="json"),
        404,
        "not_found",
    )


def test_the_list_does_not_query_per_receipt(parties):
    p = parties
    _verified(p)

    def issue_one() -> None:
        handover_id = _collected(p, _offer(p, **VALUATION)["id"], "10")
        body = _issue_body(p, handover_ids=[handover_id])
        assert p["recipient"].post("/api/v1/receipts/", body, format="json").status_code == 201

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert p["donor"].get("/api/v1/receipts/").status_code == 200
        return len(captured)

    issue_one()
    one = queries()
    issue_one()
    issue_one()
    assert len(p["donor"].get("/api/v1/receipts/").json()["results"]) == 3
    assert queries() == one

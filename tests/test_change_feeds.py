"""Change feeds (issue 10): `updated_since` and the oldest-change-first order on claims/, needs/ and
handovers/, as offers/ has them, so an integration syncs incrementally: store the last `updated_at` it
saw, ask for what changed strictly after it, follow `next`. A ledger row is append-only; its
`updated_at` is the latest of its own recording and of what is recorded beside it (confirmation or
dispute, reversal, corrected row, dispute proposals)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from claims.models import ConfirmationState, HandoverConfirmation, HandoverProposal
from organisations.models import OrganisationKind

from .conftest import (
    client_for,
    make_claim,
    make_ledger_row,
    make_member,
    make_need,
    make_offer,
    make_org,
    make_reversal,
)

pytestmark = pytest.mark.django_db

EN = {"HTTP_ACCEPT_LANGUAGE": "en"}
FR = {"HTTP_ACCEPT_LANGUAGE": "fr"}


def sweep(client, url: str, **params) -> list[dict]:
    """Every row of a list, two a page, following `next`."""
    seen, response = [], client.get(url, {"limit": 2, **params})
    while True:
        assert response.status_code == 200, response.content
        page = response.json()
        seen += page["results"]
        if not page["next"]:
            return seen
        response = client.get(page["next"])


# ---- claims ---------------------------------------------------------------------------------------


def test_claims_sync_oldest_change_first_and_strictly_after_updated_since(firm):
    client = client_for(make_member(firm))
    offer = make_offer(firm, quantity=10)
    claims = [make_claim(offer) for _ in range(4)]

    first = sweep(client, "/api/v1/claims/")
    assert [c["id"] for c in first] == [c.pk for c in claims]  # oldest change first
    mark = first[-1]["updated_at"]
    assert sweep(client, "/api/v1/claims/", updated_since=mark) == []

    assert client.post(f"/api/v1/claims/{claims[2].pk}/accept/", {}, format="json").status_code == 200
    assert client.post(f"/api/v1/claims/{claims[0].pk}/decline/", {}, format="json").status_code == 200
    again = sweep(client, "/api/v1/claims/", updated_since=mark)
    assert [(c["id"], c["status"]) for c in again] == [(claims[2].pk, "accepted"), (claims[0].pk, "declined")]
    assert sweep(client, "/api/v1/claims/", updated_since=again[-1]["updated_at"]) == []
    # with the other filters, as before
    assert [c["id"] for c in sweep(client, "/api/v1/claims/", updated_since=mark, status="declined")] == [
        claims[0].pk
    ]


def test_claims_updated_since_is_a_checked_parameter_not_ignored(firm):
    """It used to be ignored (200 with every claim); now it is validated like every parameter."""
    client = client_for(make_member(firm))
    make_claim(make_offer(firm))
    formats = "YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z]."
    for headers, message in [
        (EN, f"Datetime has wrong format. Use one of these formats instead: {formats}"),
        (FR, f"La date + heure n'a pas le bon format. Utilisez un des formats suivants\u00a0: {formats}"),
    ]:
        response = client.get("/api/v1/claims/", {"updated_since": "yesterday"}, **headers)
        assert response.status_code == 400
        assert response.json()["errors"] == [
            {"field": "updated_since", "code": "invalid", "message": message}
        ]
    future = (timezone.now() + timedelta(days=1)).isoformat()
    assert client.get("/api/v1/claims/", {"updated_since": future}).json()["results"] == []


# ---- needs ----------------------------------------------------------------------------------------


def test_needs_sync_oldest_change_first_and_strictly_after_updated_since(catalogue):
    association = make_org(OrganisationKind.ASSOCIATION)
    client = client_for(make_member(association))
    category = next(iter(catalogue.values()))
    needs = [make_need(association, [category]) for _ in range(3)]
    make_need(make_org(OrganisationKind.ASSOCIATION), [category])  # another organisation's

    first = sweep(client, "/api/v1/needs/")
    assert [n["id"] for n in first] == [n.pk for n in needs]
    mark = first[-1]["updated_at"]
    assert sweep(client, "/api/v1/needs/", updated_since=mark) == []

    response = client.patch(f"/api/v1/needs/{needs[0].pk}/", {"title": "Chaises pliantes"}, format="json")
    assert response.status_code == 200
    again = sweep(client, "/api/v1/needs/", updated_since=mark)
    assert [(n["id"], n["title"]) for n in again] == [(needs[0].pk, "Chaises pliantes")]
    assert again[0]["updated_at"] == response.json()["updated_at"]
    assert sweep(client, "/api/v1/needs/", updated_since=again[0]["updated_at"]) == []


# ---- handovers ------------------------------------------------------------------------------------


@pytest.fixture
def ledger(firm, catalogue):
    """Three rows between the firm and an association, recorded an hour apart, long ago."""
    association = make_org(OrganisationKind.ASSOCIATION)
    category = next(iter(catalogue.values()))
    start = timezone.now() - timedelta(days=3)
    rows = [
        make_ledger_row(
            firm,
            association,
            category,
            mass_kg=10 + i,
            collected_at=start,
            recorded_at=start + timedelta(hours=i),
        )
        for i in range(3)
    ]
    return {"rows": rows, "association": association, "client": client_for(make_member(firm))}


def _iso(moment) -> str:
    return moment.astimezone(timezone.get_current_timezone()).isoformat()


def test_handover_updated_at_is_its_recording_until_something_is_recorded_beside_it(ledger):
    client, rows = ledger["client"], ledger["rows"]
    first = sweep(client, "/api/v1/handovers/")
    assert [(h["id"], h["updated_at"]) for h in first] == [
        (r.pk, h["recorded_at"]) for r, h in zip(rows, first, strict=True)
    ]
    assert [h["id"] for h in first] == [r.pk for r in rows]  # oldest change first, not newest row first
    mark = first[-1]["updated_at"]
    assert sweep(client, "/api/v1/handovers/", updated_since=mark) == []

    # The oldest row is confirmed: it comes again, with the confirmation's time.
    confirmed = HandoverConfirmation.objects.create(
        handover=rows[0],
        state=ConfirmationState.CONFIRMED,
        organisation=ledger["association"],
        recorded_by="test",
    )
    again = sweep(client, "/api/v1/handovers/", updated_since=mark)
    assert [(h["id"], h["confirmation"]["state"]) for h in again] == [(rows[0].pk, "confirmed")]
    assert again[0]["updated_at"] == again[0]["confirmation"]["answered_at"] != again[0]["recorded_at"]
    mark = again[0]["updated_at"]

    # The middle row is reversed: it comes again (reversed_by), then the reversal itself, in id order
    # (both carry the reversal's recording time).
    reversal = make_reversal(rows[1])
    again = sweep(client, "/api/v1/handovers/", updated_since=mark)
    assert [(h["id"], h["reversed_by"], h["reverses"]) for h in again] == [
        (rows[1].pk, reversal.pk, None),
        (reversal.pk, None, rows[1].pk),
    ]
    assert again[0]["updated_at"] == again[1]["updated_at"] == again[1]["recorded_at"]
    mark = again[-1]["updated_at"]

    # A dispute proposal on the newest row.
    proposal = HandoverProposal.objects.create(
        handover=rows[2],
        organisation=ledger["association"],
        quantity=Decimal("1"),
        mass_kg=Decimal("5"),
        reason="Pesé à 5 kg",
        recorded_by="test",
    )
    again = sweep(client, "/api/v1/handovers/", updated_since=mark)
    assert [(h["id"], [p["id"] for p in h["proposals"]]) for h in again] == [(rows[2].pk, [proposal.pk])]
    assert again[0]["updated_at"] == again[0]["proposals"][0]["recorded_at"]
    assert sweep(client, "/api/v1/handovers/", updated_since=again[0]["updated_at"]) == []

    # The detail computes the same instant as the list.
    for row, moment in [(rows[0], confirmed.recorded_at), (rows[1], reversal.recorded_at)]:
        detail = client.get(f"/api/v1/handovers/{row.pk}/").json()
        assert detail["updated_at"] == _iso(moment)


def test_handover_updated_since_with_the_period_filters_and_csv(ledger):
    client, rows = ledger["client"], ledger["rows"]
    mark = _iso(rows[0].recorded_at)
    assert [h["id"] for h in sweep(client, "/api/v1/handovers/", updated_since=mark)] == [
        rows[1].pk,
        rows[2].pk,
    ]
    response = client.get("/api/v1/handovers/", {"updated_since": mark, "format": "csv"})
    assert response.status_code == 200
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert [line.split(",")[0] for line in lines[1:]] == [str(rows[1].pk), str(rows[2].pk)]
    response = client.get("/api/v1/handovers/", {"updated_since": "2026-13-01T00:00:00Z"}, **EN)
    assert response.status_code == 400
    assert [e["field"] for e in response.json()["errors"]] == ["updated_since"]


def test_a_dispute_settled_by_the_parties_shows_in_the_feed(firm, association, catalogue):
    """Through the API: a row recorded, disputed, then settled by agreement. Each step brings the row
    back in the feed; the agreement also brings the reversal and the corrected row. A proposal has no URL
    of its own: its 201 has no Location."""
    offer = make_offer(firm, category=catalogue["mixed_household_reuse"], quantity=500, unit="kg")
    claim = make_claim(offer, association, 500, accept=True)
    donor, recipient = client_for(make_member(firm)), client_for(make_member(association))
    recorded = donor.post(f"/api/v1/claims/{claim.pk}/handover/", {}, format="json")
    assert recorded.status_code == 201
    row = recorded.json()["id"]
    assert recorded["Location"] == f"http://testserver/api/v1/handovers/{row}/"
    mark = recorded.json()["updated_at"]
    assert mark == recorded.json()["recorded_at"]

    disputed = recipient.post(f"/api/v1/handovers/{row}/dispute/", {"reason": "300 kg"}, format="json")
    assert disputed.status_code == 200
    [again] = sweep(donor, "/api/v1/handovers/", updated_since=mark)
    assert (again["id"], again["confirmation"]["state"]) == (row, "disputed")
    assert again["updated_at"] == again["confirmation"]["answered_at"] == disputed.json()["updated_at"]
    mark = again["updated_at"]

    body = {"mass_kg": "300", "quantity": "500", "reason": "Pesée au dépôt"}
    proposed = recipient.post(f"/api/v1/handovers/{row}/proposals/", body, format="json")
    assert proposed.status_code == 201
    assert "Location" not in proposed
    [again] = sweep(donor, "/api/v1/handovers/", updated_since=mark)
    assert (again["id"], again["updated_at"]) == (row, proposed.json()["recorded_at"])
    mark = again["updated_at"]

    agreed = donor.post(f"/api/v1/handovers/{row}/proposals/", body, format="json")
    assert agreed.status_code == 201
    feed = sweep(recipient, "/api/v1/handovers/", updated_since=mark)
    reversal, correction = feed[0]["reversed_by"], agreed.json()["correction"]
    assert [(h["id"], h["reverses"], h["corrects"]) for h in feed] == [
        (row, None, None),
        (reversal, row, None),
        (correction, None, row),
    ]
    assert feed[0]["corrected_by"] == correction
    assert feed[0]["updated_at"] == feed[2]["updated_at"]  # the corrected row, recorded last
    assert sweep(recipient, "/api/v1/handovers/", updated_since=feed[-1]["updated_at"]) == []

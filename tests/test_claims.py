"""Claims: request, accept, decline, cancel, expiry (no-shows), caps, reveal of the pickup place,
reliability, and who may see or touch what."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import override_settings
from django.utils import timezone

from claims import services
from claims.models import Claim, ClaimStatus
from claims.selectors import reliability_of
from claims.tasks import expire_no_shows
from core.models import DomainEvent
from exchange.models import Offer, OfferStatus
from inventory.models import Category
from organisations.actors import Actor
from organisations.models import MembershipRole, OrganisationKind

from .conftest import (
    client_for,
    client_for_key,
    make_api_key,
    make_claim,
    make_ledger_row,
    make_member,
    make_offer,
    make_org,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def donor(firm):
    firm.email, firm.phone = "contact@menuiserie.example", "+33 3 20 00 00 00"
    firm.save()
    return client_for(make_member(firm, MembershipRole.MEMBER))


@pytest.fixture
def recipient(association):
    return client_for(make_member(association, MembershipRole.MEMBER))


@pytest.fixture
def offer(firm):
    return make_offer(firm, quantity=10, pickup_instructions="Quai 3, sonner")


def _claim(client, offer, quantity="4", **extra):
    return client.post("/api/v1/claims/", {"offer": offer.pk, "quantity": quantity, **extra}, format="json")


def _remaining(offer) -> Decimal:
    offer.refresh_from_db()
    return offer.remaining_quantity


def _events(name: str) -> list[DomainEvent]:
    return list(DomainEvent.objects.filter(name=name).order_by("id"))


def _in_good_standing(organisation) -> None:
    """A past handover its donor vouched for: offers that accept claims automatically then accept this
    organisation's (tests/test_location_reveal.py covers the rule)."""
    category, _ = Category.objects.get_or_create(
        key="test-misc", defaults={"name_fr": "Divers", "name_en": "Miscellaneous", "default_unit": "piece"}
    )
    make_ledger_row(make_org(), organisation, category, mass_kg=1, collected_at=timezone.now())


# ---- request and accept ----------------------------------------------------------------------------


def test_association_claims_then_the_firm_accepts(firm, association, donor, recipient, offer):
    response = _claim(recipient, offer, "4", message="Pour notre atelier")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "requested"
    assert body["quantity"] == "4.000"
    assert body["recipient"] == {"id": association.pk, "name": "Repair Café Roubaix", "kind": "association"}
    assert body["donor"]["id"] == firm.pk
    assert body["pickup"] is None
    assert body["handover"] is None
    assert _remaining(offer) == Decimal("10")  # a request holds nothing yet

    accepted = donor.post(f"/api/v1/claims/{body['id']}/accept/", {}, format="json")
    assert accepted.status_code == 200, accepted.content
    claim = accepted.json()
    assert claim["status"] == "accepted"
    deadline = Claim.objects.get(pk=body["id"]).pickup_deadline
    assert timedelta(days=7) - timedelta(minutes=1) < deadline - timezone.now() <= timedelta(days=7)
    assert _remaining(offer) == Decimal("6")
    assert offer.status == OfferStatus.PUBLISHED

    seen = recipient.get(f"/api/v1/claims/{body['id']}/").json()
    assert seen["pickup"] == {
        "site": {
            "id": offer.site_id,
            "name": "Dépôt",
            "address": "",
            "location": {"type": "Point", "coordinates": [3.1746, 50.6916]},
            "opening_notes": "",
        },
        "instructions": "Quai 3, sonner",
        "donor_contact": {
            "name": "Menuiserie du Nord",
            "email": "contact@menuiserie.example",
            "phone": "+33 3 20 00 00 00",
        },
        "recipient_contact": {"name": "Repair Café Roubaix", "email": "", "phone": ""},
    }
    assert [e.payload["automatic"] for e in _events("claim.accepted")] == [False]
    assert [e.aggregate_id for e in _events("claim.requested")] == [body["id"]]


def test_accepting_reveals_the_exact_place_on_the_offer_to_that_recipient_only(donor, recipient, offer):
    other = client_for(make_member(make_org(OrganisationKind.ASSOCIATION)))
    claim_id = _claim(recipient, offer, "2").json()["id"]
    assert recipient.get(f"/api/v1/offers/{offer.pk}/").json()["location_is_approximate"] is True

    donor.post(f"/api/v1/claims/{claim_id}/accept/", {}, format="json")
    mine = recipient.get(f"/api/v1/offers/{offer.pk}/").json()
    assert mine["location_is_approximate"] is False
    assert mine["location"] == {"type": "Point", "coordinates": [3.1746, 50.6916]}
    assert mine["pickup_instructions"] == "Quai 3, sonner"
    theirs = other.get(f"/api/v1/offers/{offer.pk}/").json()
    assert theirs["location_is_approximate"] is True
    assert theirs["site"] is None and theirs["contact"] is None


def test_donor_may_set_the_pickup_deadline(donor, recipient, offer):
    claim_id = _claim(recipient, offer, "1").json()["id"]
    deadline = (timezone.now() + timedelta(days=2)).replace(microsecond=0)
    response = donor.post(
        f"/api/v1/claims/{claim_id}/accept/", {"pickup_deadline": deadline.isoformat()}, format="json"
    )
    assert response.status_code == 200
    assert Claim.objects.get(pk=claim_id).pickup_deadline == deadline
    other = _claim(recipient, offer, "1").json()["id"]
    past = donor.post(
        f"/api/v1/claims/{other}/accept/",
        {"pickup_deadline": (timezone.now() - timedelta(hours=1)).isoformat()},
        format="json",
    )
    assert past.status_code == 400
    assert [e["field"] for e in past.json()["errors"]] == ["pickup_deadline"]
    assert Claim.objects.get(pk=other).status == ClaimStatus.REQUESTED


def test_auto_accepting_offer_accepts_at_once(firm, association, recipient):
    _in_good_standing(association)
    offer = make_offer(firm, quantity=5, auto_accept_claims=True)
    response = _claim(recipient, offer, "5")
    assert response.status_code == 201
    assert response.json()["status"] == "accepted"
    assert response.json()["pickup"] is not None
    offer.refresh_from_db()
    assert (offer.remaining_quantity, offer.status) == (Decimal("0"), OfferStatus.EXHAUSTED)
    assert [e.payload["automatic"] for e in _events("claim.accepted")] == [True]
    assert [e.aggregate_id for e in _events("offer.exhausted")] == [offer.pk]


def test_more_than_remains_is_a_409_with_the_remaining_quantity(recipient, offer):
    response = _claim(recipient, offer, "11")
    assert response.status_code == 409
    body = response.json()
    assert (body["code"], body["remaining_quantity"]) == ("insufficient_quantity", "10.000")
    assert Claim.objects.count() == 0


def test_accept_rechecks_what_remains(donor, recipient, offer):
    first = _claim(recipient, offer, "6").json()["id"]
    second = _claim(recipient, offer, "6").json()["id"]  # both fit when asked
    assert donor.post(f"/api/v1/claims/{first}/accept/", {}, format="json").status_code == 200
    response = donor.post(f"/api/v1/claims/{second}/accept/", {}, format="json")
    assert response.status_code == 409
    assert (response.json()["code"], response.json()["remaining_quantity"]) == (
        "insufficient_quantity",
        "4.000",
    )
    assert Claim.objects.get(pk=second).status == ClaimStatus.REQUESTED
    assert _remaining(offer) == Decimal("4")


def test_auto_accept_that_no_longer_fits_leaves_nothing(firm, association, recipient):
    _in_good_standing(association)
    offer = make_offer(firm, quantity=3, auto_accept_claims=True)
    make_claim(offer, quantity=2, accept=True)
    response = _claim(recipient, offer, "2")
    assert response.status_code == 409
    assert response.json()["remaining_quantity"] == "1.000"
    assert Claim.objects.filter(offer=offer).count() == 1


@pytest.mark.parametrize(
    ("kind", "verified", "code"),
    [
        (OrganisationKind.COMPANY, True, "recipient_kind_required"),
        (OrganisationKind.PUBLIC_AUTHORITY, True, "recipient_kind_required"),
        (OrganisationKind.ASSOCIATION, False, "organisation_not_verified"),
        (OrganisationKind.PROJECT, False, "organisation_not_verified"),
    ],
)
def test_firms_and_unverified_organisations_cannot_claim(offer, kind, verified, code):
    client = client_for(make_member(make_org(kind, verified=verified)))
    response = _claim(client, offer, "1")
    assert response.status_code == 403
    assert response.json()["code"] == code
    assert Claim.objects.count() == 0


def test_verified_project_may_claim(offer):
    client = client_for(make_member(make_org(OrganisationKind.PROJECT)))
    assert _claim(client, offer, "1").status_code == 201


def test_own_offer_cannot_be_claimed(association, recipient):
    own = make_offer(association, quantity=3)
    response = _claim(recipient, own, "1")
    assert (response.status_code, response.json()["code"]) == (403, "own_offer")


@pytest.mark.parametrize(
    ("status", "expected", "code"),
    [
        (OfferStatus.DRAFT, 404, "not_found"),
        (OfferStatus.WITHDRAWN, 404, "not_found"),
        (OfferStatus.CLOSED, 409, "offer_not_claimable"),
        (OfferStatus.EXPIRED, 409, "offer_not_claimable"),
        (OfferStatus.EXHAUSTED, 409, "insufficient_quantity"),
    ],
)
def test_offers_not_published_cannot_be_claimed(firm, recipient, status, expected, code):
    offer = make_offer(firm, quantity=4, status=status)
    if status == OfferStatus.EXHAUSTED:
        Offer.objects.filter(pk=offer.pk).update(remaining_quantity=0, reserved_quantity=4)
    response = _claim(recipient, offer, "1")
    assert (response.status_code, response.json()["code"]) == (expected, code)
    assert Claim.objects.count() == 0


def test_offer_past_its_window_cannot_be_claimed(firm, recipient):
    offer = make_offer(
        firm,
        quantity=4,
        available_from=timezone.now() - timedelta(days=3),
        available_until=timezone.now() - timedelta(minutes=1),
    )
    response = _claim(recipient, offer, "1")
    assert (response.status_code, response.json()["code"]) == (409, "offer_not_claimable")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"quantity": "1"}, "offer"),
        ({"offer": 999999, "quantity": "0"}, "quantity"),
        ({"offer": 999999, "quantity": "-2"}, "quantity"),
        ({"offer": 999999, "quantity": "abc"}, "quantity"),
        ({"offer": 999999, "quantity": "1.0001"}, "quantity"),
    ],
)
def test_bad_claim_input_is_a_400_problem(recipient, body, field):
    response = recipient.post("/api/v1/claims/", body, format="json")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert [e["field"] for e in response.json()["errors"]] == [field]


def test_pieces_are_claimed_in_whole_numbers(recipient, offer):
    response = _claim(recipient, offer, "1.5")
    assert response.status_code == 400
    assert [e["field"] for e in response.json()["errors"]] == ["quantity"]
    assert Claim.objects.count() == 0


def test_unknown_offer_is_404(recipient):
    response = recipient.post("/api/v1/claims/", {"offer": 987654, "quantity": "1"}, format="json")
    assert (response.status_code, response.json()["code"]) == (404, "not_found")


# ---- decline, cancel, expiry --------------------------------------------------------------------------


def test_firm_declines_a_request(donor, recipient, offer):
    claim_id = _claim(recipient, offer, "3").json()["id"]
    response = donor.post(f"/api/v1/claims/{claim_id}/decline/", {"reason": "Déjà promis"}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["closed_by"], body["close_reason"]) == ("declined", "donor", "Déjà promis")
    assert _remaining(offer) == Decimal("10")
    again = donor.post(f"/api/v1/claims/{claim_id}/decline/", {}, format="json")
    assert (again.status_code, again.json()["code"]) == (409, "claim_not_requested")


def test_accepted_claim_cannot_be_declined_but_can_be_cancelled(donor, recipient, offer):
    claim_id = _claim(recipient, offer, "3").json()["id"]
    donor.post(f"/api/v1/claims/{claim_id}/accept/", {}, format="json")
    assert donor.post(f"/api/v1/claims/{claim_id}/decline/", {}, format="json").status_code == 409
    response = donor.post(f"/api/v1/claims/{claim_id}/cancel/", {"reason": "Stock vendu"}, format="json")
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["closed_by"]) == ("cancelled", "donor")
    assert _remaining(offer) == Decimal("10")


def test_recipient_cancels_and_the_quantity_comes_back(firm, association, recipient):
    _in_good_standing(association)
    offer = make_offer(firm, quantity=4, auto_accept_claims=True)
    claim_id = _claim(recipient, offer, "4").json()["id"]
    offer.refresh_from_db()
    assert offer.status == OfferStatus.EXHAUSTED
    response = recipient.post(f"/api/v1/claims/{claim_id}/cancel/", {}, format="json")
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["closed_by"]) == ("cancelled", "recipient")
    assert response.json()["pickup"] is None
    offer.refresh_from_db()
    assert (offer.remaining_quantity, offer.status) == (Decimal("4"), OfferStatus.PUBLISHED)
    assert [e.aggregate_id for e in _events("offer.reopened")] == [offer.pk]
    again = recipient.post(f"/api/v1/claims/{claim_id}/cancel/", {}, format="json")
    assert (again.status_code, again.json()["code"]) == (409, "claim_not_open")


def test_cancelling_a_request_moves_no_quantity(recipient, offer):
    claim_id = _claim(recipient, offer, "3").json()["id"]
    assert recipient.post(f"/api/v1/claims/{claim_id}/cancel/", {}, format="json").status_code == 200
    assert _remaining(offer) == Decimal("10")
    assert _events("claim.cancelled")[0].payload["quantity_returned"] == "0"


def test_beat_task_expires_no_shows_and_returns_the_quantity(association, offer):
    late = make_claim(offer, association, 3, accept=True)
    on_time = make_claim(offer, association, 2, accept=True)
    Claim.objects.filter(pk=late.pk).update(pickup_deadline=timezone.now() - timedelta(minutes=1))
    assert _remaining(offer) == Decimal("5")

    assert expire_no_shows.apply().get() == 1
    late.refresh_from_db()
    on_time.refresh_from_db()
    assert (late.status, late.closed_by_party, late.close_reason) == ("expired", "system", "no-show")
    assert on_time.status == ClaimStatus.ACCEPTED
    assert _remaining(offer) == Decimal("8")
    (event,) = _events("claim.expired")
    assert (event.aggregate_id, event.payload["no_show"], event.actor) == (late.pk, True, "system")
    assert expire_no_shows.apply().get() == 0  # idempotent
    assert reliability_of(association.pk).no_shows == 1


def test_beat_schedule_runs_the_expiry_every_15_minutes(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["claims-expire-no-shows"]
    assert entry == {"task": "claims.tasks.expire_no_shows", "schedule": 900.0}


def test_withdrawing_an_offer_declines_its_requests(firm, recipient, django_capture_on_commit_callbacks):
    from exchange.services import offer_withdraw

    offer = make_offer(firm, quantity=4)
    claim_id = _claim(recipient, offer, "1").json()["id"]
    with django_capture_on_commit_callbacks(execute=True):
        offer_withdraw(actor=Actor.for_system(), offer=offer)
    claim = Claim.objects.get(pk=claim_id)
    assert (claim.status, claim.closed_by_party) == (ClaimStatus.DECLINED, "system")
    assert reliability_of(firm.pk).declines == 0  # not the donor's doing


# ---- caps -------------------------------------------------------------------------------------------


@override_settings(BOUCLE_MAX_OPEN_CLAIMS_PER_ORG=2)
def test_open_claims_are_capped(firm, association, recipient):
    offer = make_offer(firm, quantity=10)
    assert _claim(recipient, offer, "1").status_code == 201
    second = _claim(recipient, offer, "1").json()["id"]
    response = _claim(recipient, offer, "1")
    assert response.status_code == 429
    assert (response.json()["code"], response.json()["limit"]) == ("open_claims_limit", 2)
    recipient.post(f"/api/v1/claims/{second}/cancel/", {}, format="json")
    assert _claim(recipient, offer, "1").status_code == 201  # closed claims do not count


@override_settings(BOUCLE_MAX_OPEN_CLAIM_KG=500)
def test_open_estimated_mass_is_capped(firm, recipient):
    heavy = make_offer(firm, quantity=10, mass_per_unit_kg=Decimal("100"))
    assert _claim(recipient, heavy, "3").status_code == 201
    response = _claim(recipient, heavy, "3")
    assert response.status_code == 429
    body = response.json()
    assert (body["code"], body["limit_kg"], body["open_kg"], body["requested_kg"]) == (
        "open_claim_mass_limit",
        "500.000",
        "300.000",
        "300.000",
    )
    assert _claim(recipient, heavy, "2").status_code == 201  # exactly at the cap


# ---- reading --------------------------------------------------------------------------------------


def test_lists_by_role_status_and_offer(firm, association, donor, recipient, django_assert_max_num_queries):
    offer_a, offer_b = make_offer(firm, quantity=10), make_offer(firm, quantity=10)
    mine = [_claim(recipient, offer_a, "1").json()["id"], _claim(recipient, offer_b, "1").json()["id"]]
    foreign = make_claim(offer_a, quantity=1).pk
    donor.post(f"/api/v1/claims/{mine[0]}/accept/", {}, format="json")

    def ids(client, query=""):
        return [c["id"] for c in client.get(f"/api/v1/claims/{query}").json()["results"]]

    assert ids(recipient) == [mine[1], mine[0]]
    assert ids(recipient, "?role=donor") == []
    assert ids(recipient, "?status=accepted") == [mine[0]]
    assert ids(donor) == [mine[1], foreign, mine[0]]  # oldest change first: mine[0] was accepted last
    assert ids(donor, f"?role=donor&offer={offer_a.pk}") == [foreign, mine[0]]
    with django_assert_max_num_queries(8):
        response = donor.get("/api/v1/claims/")
    assert response.status_code == 200
    [reliability] = [c["recipient_reliability"] for c in response.json()["results"] if c["id"] == foreign]
    assert reliability == {
        "claims_made": 1,
        "claims_received": 0,
        "handovers": 0,
        "no_shows": 0,
        "cancellations": 0,
        "declines": 0,
    }
    assert recipient.get("/api/v1/claims/?role=nobody").status_code == 400


def test_reliability_counts(firm, association):
    offer = make_offer(firm, quantity=50)
    system = Actor.for_system()
    collected = make_claim(offer, association, 1, accept=True)
    services.handover_record(actor=system, claim_id=collected.pk, mass_kg=Decimal("3"))
    cancelled = make_claim(offer, association, 1)
    recipient_actor = Actor.for_user(make_member(association))
    services.claim_cancel(actor=recipient_actor, claim_id=cancelled.pk)
    declined = make_claim(offer, association, 1)
    services.claim_decline(actor=Actor.for_user(make_member(firm)), claim_id=declined.pk)
    donor_cancelled = make_claim(offer, association, 1, accept=True)
    services.claim_cancel(actor=Actor.for_user(make_member(firm)), claim_id=donor_cancelled.pk)
    no_show = make_claim(offer, association, 1, accept=True)
    Claim.objects.filter(pk=no_show.pk).update(pickup_deadline=timezone.now() - timedelta(seconds=1))
    services.claim_expire(claim_id=no_show.pk)

    assert reliability_of(association.pk).as_dict() == {
        "claims_made": 5,
        "claims_received": 0,
        "handovers": 1,
        "no_shows": 1,
        "cancellations": 1,
        "declines": 0,
    }
    assert reliability_of(firm.pk).as_dict() == {
        "claims_made": 0,
        "claims_received": 5,
        "handovers": 1,
        "no_shows": 0,
        "cancellations": 1,
        "declines": 1,
    }
    assert reliability_of(make_org().pk).handovers == 0


# ---- authorization -------------------------------------------------------------------------------


@pytest.mark.parametrize("stranger_kind", [OrganisationKind.ASSOCIATION, OrganisationKind.COMPANY])
def test_other_organisations_get_404_on_every_claim_route(association, offer, stranger_kind):
    claim = make_claim(offer, association, 2, accept=True)
    stranger = client_for(make_member(make_org(stranger_kind)))
    base = f"/api/v1/claims/{claim.pk}/"
    assert stranger.get(base).status_code == 404
    for action in ("accept", "decline", "cancel", "handover"):
        assert stranger.post(f"{base}{action}/", {}, format="json").status_code == 404, action
    assert stranger.get("/api/v1/claims/").json()["results"] == []
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.ACCEPTED
    assert _remaining(offer) == Decimal("8")


def test_recipient_cannot_accept_or_decline_its_own_claim(recipient, offer):
    claim_id = _claim(recipient, offer, "2").json()["id"]
    for action in ("accept", "decline"):
        response = recipient.post(f"/api/v1/claims/{claim_id}/{action}/", {}, format="json")
        assert (response.status_code, response.json()["code"]) == (403, "donor_only")
    assert Claim.objects.get(pk=claim_id).status == ClaimStatus.REQUESTED


def test_operator_sees_claims_without_the_pickup_block(association, offer, operator_user):
    claim = make_claim(offer, association, 2, accept=True)
    body = client_for(operator_user).get(f"/api/v1/claims/{claim.pk}/").json()
    assert (body["status"], body["pickup"]) == ("accepted", None)


def test_api_keys_claim_with_write_scope_only(association, offer):
    _key, raw_read = make_api_key(association, scopes=("read",))
    assert _claim(client_for_key(raw_read), offer, "1").status_code == 403
    _key, raw_write = make_api_key(association)
    response = _claim(client_for_key(raw_write), offer, "1")
    assert response.status_code == 201
    assert response.json()["recipient"]["id"] == association.pk


def test_person_in_several_organisations_names_the_claimant(association, offer):
    user = make_member(association)
    other = make_org(OrganisationKind.PROJECT)
    make_member(other, user=user)
    client = client_for(user)
    ambiguous = _claim(client, offer, "1")
    assert ambiguous.status_code == 400
    assert [e["field"] for e in ambiguous.json()["errors"]] == ["organisation"]
    named = _claim(client, offer, "1", organisation=other.pk)
    assert (named.status_code, named.json()["recipient"]["id"]) == (201, other.pk)


def test_same_idempotency_key_replays_the_claim(recipient, offer):
    first = recipient.post(
        "/api/v1/claims/", {"offer": offer.pk, "quantity": "2"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1"
    )
    again = recipient.post(
        "/api/v1/claims/", {"offer": offer.pk, "quantity": "2"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1"
    )
    assert (first.status_code, again.status_code) == (201, 201)
    assert again["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert Claim.objects.count() == 1


def test_organisation_detail_shows_its_reliability(association, recipient, offer):
    claim = make_claim(offer, association, 1, accept=True)
    Claim.objects.filter(pk=claim.pk).update(pickup_deadline=timezone.now() - timedelta(seconds=1))
    services.claim_expire(claim_id=claim.pk)
    body = recipient.get(f"/api/v1/organisations/{association.pk}/").json()
    assert body["reliability"] == {
        "claims_made": 1,
        "claims_received": 0,
        "handovers": 0,
        "no_shows": 1,
        "cancellations": 0,
        "declines": 0,
    }

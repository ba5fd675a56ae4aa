"""Loans (offers in mode `loan`): a due date on acceptance, the return recorded by the lender (stock back
to remaining), overdue loans listed and reminded by e-mail (claims/loans.py)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.core import mail
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from claims import loans, services
from claims.models import Claim, ClaimStatus
from claims.tasks import remind_overdue_loans
from core.models import DomainEvent
from exchange.models import Offer, OfferStatus
from inventory.models import Category
from organisations.actors import Actor
from organisations.models import MembershipRole, OrganisationKind

from .conftest import (
    client_for,
    client_for_key,
    make_api_key,
    make_ledger_row,
    make_member,
    make_offer,
    make_org,
    make_user,
)

pytestmark = pytest.mark.django_db

SYSTEM = Actor.for_system()


@pytest.fixture
def donor(firm):
    return client_for(make_member(firm, MembershipRole.MEMBER))


@pytest.fixture
def recipient(association):
    return client_for(make_member(association, MembershipRole.MEMBER))


def _loan_offer(firm, quantity=3, **extra):
    return make_offer(firm, quantity=quantity, mode="loan", mass_per_unit_kg=Decimal("2"), **extra)


def _lent(offer, association, quantity="2", *, start=None, loan_due_at=None) -> Claim:
    """A loan claimed, accepted and collected through the services (as the system, at `start`)."""
    quantity = Decimal(quantity)
    claim = services.claim_request(
        actor=SYSTEM, offer_id=offer.pk, quantity=quantity, organisation_id=association.pk, now=start
    )
    services.claim_accept(actor=SYSTEM, claim_id=claim.pk, loan_due_at=loan_due_at, now=start)
    collected_at = start + timedelta(hours=1) if start else None
    services.handover_record(actor=SYSTEM, claim_id=claim.pk, collected_at=collected_at, now=collected_at)
    return Claim.objects.get(pk=claim.pk)


def _claimed(client, offer) -> int:
    return client.post("/api/v1/claims/", {"offer": offer.pk, "quantity": "1"}, format="json").json()["id"]


def _stock(offer) -> tuple:
    offer = Offer.objects.get(pk=offer.pk)
    return (offer.remaining_quantity, offer.reserved_quantity, offer.collected_quantity, offer.status)


def _return(client, claim, body=None, **headers):
    return client.post(
        f"/api/v1/claims/{claim.pk}/return/", body or {"condition": "as_lent"}, format="json", **headers
    )


def _problem(response, status: int, code: str, fields: list[str] = ()) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == code
    assert [e["field"] for e in body.get("errors", [])] == list(fields)
    return body


def _events(name: str) -> list[DomainEvent]:
    return list(DomainEvent.objects.filter(name=name).order_by("id"))


# ---- due date ---------------------------------------------------------------------------------------


def test_accepting_a_loan_sets_its_due_date_by_default(firm, association, donor, recipient):
    offer = _loan_offer(firm)
    claim_id = recipient.post("/api/v1/claims/", {"offer": offer.pk, "quantity": "1"}, format="json").json()[
        "id"
    ]
    response = donor.post(f"/api/v1/claims/{claim_id}/accept/", {}, format="json")
    assert response.status_code == 200, response.content
    claim = Claim.objects.get(pk=claim_id)
    assert claim.loan_due_at == claim.pickup_deadline + timedelta(days=14)
    loan = response.json()["loan"]
    assert parse_datetime(loan.pop("due_at")) == claim.loan_due_at
    assert loan == {
        "returned_at": None,
        "return_condition": None,
        "return_note": "",
        "overdue": False,
        "returned_on_time": None,
    }
    assert _events("claim.accepted")[-1].payload["loan_due_at"] == claim.loan_due_at.isoformat()


def test_an_automatic_acceptance_sets_the_due_date_too(firm, association):
    category = Category.objects.create(
        key="test-vouch", name_fr="Divers", name_en="Misc", default_unit="piece"
    )
    make_ledger_row(make_org(), association, category, mass_kg=1, collected_at=timezone.now())
    offer = _loan_offer(firm, auto_accept_claims=True)
    claim = services.claim_request(
        actor=SYSTEM, offer_id=offer.pk, quantity=Decimal("1"), organisation_id=association.pk
    )
    assert claim.status == ClaimStatus.ACCEPTED and claim.auto_accepted
    assert claim.loan_due_at == claim.pickup_deadline + timedelta(days=settings.BOUCLE_LOAN_DAYS)


def test_a_claim_that_is_not_a_loan_has_no_loan(firm, association, recipient):
    offer = make_offer(firm, quantity=3)
    claim = services.claim_request(
        actor=SYSTEM, offer_id=offer.pk, quantity=Decimal("1"), organisation_id=association.pk
    )
    claim = services.claim_accept(actor=SYSTEM, claim_id=claim.pk)
    assert claim.loan_due_at is None
    assert recipient.get(f"/api/v1/claims/{claim.pk}/").json()["loan"] is None


def test_the_donor_gives_the_due_date(firm, association, donor, recipient):
    offer = _loan_offer(firm)
    claim_id = recipient.post("/api/v1/claims/", {"offer": offer.pk, "quantity": "1"}, format="json").json()[
        "id"
    ]
    deadline = (timezone.now() + timedelta(days=2)).replace(microsecond=0)
    due = deadline + timedelta(days=30)
    response = donor.post(
        f"/api/v1/claims/{claim_id}/accept/",
        {"pickup_deadline": deadline.isoformat(), "loan_due_at": due.isoformat()},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert Claim.objects.get(pk=claim_id).loan_due_at == due
    assert parse_datetime(response.json()["loan"]["due_at"]) == due


MESSAGES = {
    "not_a_loan": {
        "en": "Only a loan has a due date; this offer is not lent.",
        "fr": "Seul un prêt a une date de retour ; cette offre n'est pas prêtée.",
    },
    "range": {
        "en": "The loan's due date must be after the pickup deadline, within 365 days.",
        "fr": "La date de retour du prêt doit suivre la date limite de retrait, dans les 365 jours.",
    },
}


@pytest.mark.parametrize("language", ["en", "fr"])
@pytest.mark.parametrize(
    ("mode", "due_in", "message"),
    [
        ("donation", timedelta(days=30), "not_a_loan"),
        ("loan", timedelta(days=2), "range"),  # the pickup deadline is in 2 days: not after it
        ("loan", timedelta(days=365, minutes=5), "range"),
    ],
    ids=["not-a-loan", "not-after-the-pickup-deadline", "beyond-the-maximum"],
)
def test_due_dates_refused(firm, association, donor, recipient, language, mode, due_in, message):
    offer = make_offer(firm, quantity=3, mode=mode)
    claim_id = recipient.post("/api/v1/claims/", {"offer": offer.pk, "quantity": "1"}, format="json").json()[
        "id"
    ]
    now = timezone.now()
    response = donor.post(
        f"/api/v1/claims/{claim_id}/accept/",
        {"pickup_deadline": (now + timedelta(days=2)).isoformat(), "loan_due_at": (now + due_in).isoformat()},
        format="json",
        HTTP_ACCEPT_LANGUAGE=language,
    )
    body = _problem(response, 400, "invalid", ["loan_due_at"])
    assert body["errors"][0]["message"] == MESSAGES[message][language]
    claim = Claim.objects.get(pk=claim_id)
    assert (claim.status, claim.loan_due_at) == (ClaimStatus.REQUESTED, None)
    assert _stock(offer) == (Decimal("3"), Decimal("0"), Decimal("0"), OfferStatus.PUBLISHED)


def test_the_due_date_may_be_the_last_day_allowed(firm, association):
    offer = _loan_offer(firm)
    now = timezone.now()
    claim = services.claim_request(
        actor=SYSTEM, offer_id=offer.pk, quantity=Decimal("1"), organisation_id=association.pk, now=now
    )
    due = now + timedelta(days=365)
    claim = services.claim_accept(actor=SYSTEM, claim_id=claim.pk, loan_due_at=due, now=now)
    assert claim.loan_due_at == due


# ---- return -----------------------------------------------------------------------------------------


def test_the_lender_records_the_return_and_the_items_come_back(firm, association, donor):
    offer = _loan_offer(firm, quantity=3)
    claim = _lent(offer, association, "2")
    assert _stock(offer) == (Decimal("1"), Decimal("0"), Decimal("2"), OfferStatus.PUBLISHED)
    response = _return(donor, claim, {"condition": "worn", "note": "Une rayure sur le capot."})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "collected"
    loan = body["loan"]
    returned_at = parse_datetime(loan.pop("returned_at"))
    assert timezone.now() - timedelta(seconds=30) < returned_at <= timezone.now()
    assert parse_datetime(loan.pop("due_at")) == claim.loan_due_at
    assert loan == {
        "return_condition": "worn",
        "return_note": "Une rayure sur le capot.",
        "overdue": False,
        "returned_on_time": True,
    }
    assert _stock(offer) == (Decimal("3"), Decimal("0"), Decimal("0"), OfferStatus.PUBLISHED)
    [event] = _events("loan.returned")
    assert event.aggregate_id == claim.pk and event.organisation_id == firm.pk
    assert {k: event.payload[k] for k in ("condition", "on_time", "days_late", "quantity")} == {
        "condition": "worn",
        "on_time": True,
        "days_late": 0,
        "quantity": "2.000",
    }


def test_an_exhausted_loan_stays_open_while_out_and_is_lendable_again_on_return(firm, association, donor):
    offer = _loan_offer(firm, quantity=2)
    claim = _lent(offer, association, "2")
    # A donation collected whole closes; a loan with its items out waits for them.
    assert _stock(offer) == (Decimal("0"), Decimal("0"), Decimal("2"), OfferStatus.EXHAUSTED)
    assert _return(donor, claim).status_code == 200
    assert _stock(offer) == (Decimal("2"), Decimal("0"), Decimal("0"), OfferStatus.PUBLISHED)
    again = services.claim_request(
        actor=SYSTEM, offer_id=offer.pk, quantity=Decimal("2"), organisation_id=association.pk
    )
    services.claim_accept(actor=SYSTEM, claim_id=again.pk)
    assert _stock(offer) == (Decimal("0"), Decimal("2"), Decimal("0"), OfferStatus.EXHAUSTED)


def test_a_donation_collected_whole_still_closes(firm, association):
    offer = make_offer(firm, quantity=2, mass_per_unit_kg=Decimal("2"))
    claim = services.claim_request(
        actor=SYSTEM, offer_id=offer.pk, quantity=Decimal("2"), organisation_id=association.pk
    )
    services.claim_accept(actor=SYSTEM, claim_id=claim.pk)
    services.handover_record(actor=SYSTEM, claim_id=claim.pk)
    assert _stock(offer) == (Decimal("0"), Decimal("0"), Decimal("2"), OfferStatus.CLOSED)


def test_a_partial_pickup_gives_back_only_what_was_out(firm, association, donor):
    offer = _loan_offer(firm, quantity=5)
    claim = services.claim_request(
        actor=SYSTEM, offer_id=offer.pk, quantity=Decimal("3"), organisation_id=association.pk
    )
    services.claim_accept(actor=SYSTEM, claim_id=claim.pk)
    services.handover_record(actor=SYSTEM, claim_id=claim.pk, quantity=Decimal("2"))
    assert _stock(offer) == (Decimal("3"), Decimal("0"), Decimal("2"), OfferStatus.PUBLISHED)
    assert _return(donor, Claim.objects.get(pk=claim.pk)).status_code == 200
    assert _stock(offer) == (Decimal("5"), Decimal("0"), Decimal("0"), OfferStatus.PUBLISHED)


def test_a_late_return_and_a_return_dated_on_time(firm, association, donor):
    start = timezone.now() - timedelta(days=10) + timedelta(hours=1)
    due = start + timedelta(days=8)  # the pickup deadline is start + 7 days; due 2 days ago, less an hour
    late = _lent(_loan_offer(firm, available_from=start), association, "1", start=start, loan_due_at=due)
    dated = _lent(_loan_offer(firm, available_from=start), association, "1", start=start, loan_due_at=due)

    response = _return(donor, late, {"condition": "damaged"})
    assert response.status_code == 200, response.content
    assert response.json()["loan"]["returned_on_time"] is False
    returned_at = due - timedelta(hours=1)
    response = _return(donor, dated, {"condition": "as_lent", "returned_at": returned_at.isoformat()})
    assert response.status_code == 200, response.content
    assert response.json()["loan"]["returned_on_time"] is True
    assert Claim.objects.get(pk=dated.pk).returned_at == returned_at
    assert [(e.payload["on_time"], e.payload["days_late"]) for e in _events("loan.returned")] == [
        (False, 2),
        (True, 0),
    ]


def test_the_operator_and_the_lenders_key_record_returns(firm, association, operator_user):
    offer = _loan_offer(firm)
    first, second = _lent(offer, association, "1"), _lent(offer, association, "1")
    assert _return(client_for(operator_user), first).status_code == 200
    _, raw_key = make_api_key(firm)
    assert _return(client_for_key(raw_key), second).status_code == 200
    assert _stock(offer) == (Decimal("3"), Decimal("0"), Decimal("0"), OfferStatus.PUBLISHED)


def test_return_refusals(firm, association, donor, recipient):
    offer = _loan_offer(firm)
    lent = _lent(offer, association, "1")
    accepted = services.claim_request(
        actor=SYSTEM, offer_id=offer.pk, quantity=Decimal("1"), organisation_id=association.pk
    )
    services.claim_accept(actor=SYSTEM, claim_id=accepted.pk)
    donation = make_offer(firm, quantity=1, mass_per_unit_kg=Decimal("2"))
    given = services.claim_request(
        actor=SYSTEM, offer_id=donation.pk, quantity=Decimal("1"), organisation_id=association.pk
    )
    services.claim_accept(actor=SYSTEM, claim_id=given.pk)
    services.handover_record(actor=SYSTEM, claim_id=given.pk)
    before = _stock(offer)

    _problem(_return(recipient, lent), 403, "donor_only")
    _problem(_return(donor, given), 409, "not_a_loan")
    body = _problem(_return(donor, accepted), 409, "loan_not_out")
    assert (body["claim_status"], body["returned_at"]) == ("accepted", None)
    _problem(_return(donor, lent, {"note": "?"}), 400, "validation_error", ["condition"])
    _problem(_return(donor, lent, {"condition": "lost"}), 400, "validation_error", ["condition"])
    collected_at = lent.handovers.get().collected_at
    for when in (timezone.now() + timedelta(minutes=5), collected_at - timedelta(seconds=1)):
        _problem(
            _return(donor, lent, {"condition": "as_lent", "returned_at": when.isoformat()}),
            400,
            "invalid",
            ["returned_at"],
        )
    assert _stock(offer) == before
    assert Claim.objects.get(pk=lent.pk).returned_at is None
    assert _events("loan.returned") == []

    assert _return(donor, lent).status_code == 200
    body = _problem(_return(donor, lent), 409, "loan_not_out")
    assert body["claim_status"] == "collected" and body["returned_at"] is not None
    assert _events("loan.returned")[0].aggregate_id == lent.pk and len(_events("loan.returned")) == 1


@pytest.mark.parametrize(
    ("language", "future", "before"),
    [
        ("en", "The return time cannot be in the future.",
         "The return time cannot be before the equipment was collected."),
        ("fr", "La date de retour ne peut pas être dans le futur.",
         "La date de retour ne peut pas précéder le retrait du matériel."),
    ],
)  # fmt: skip
def test_return_time_messages(firm, association, donor, language, future, before):
    lent = _lent(_loan_offer(firm), association, "1")
    collected_at = lent.handovers.get().collected_at
    messages = [
        _problem(
            _return(
                donor,
                lent,
                {"condition": "as_lent", "returned_at": when.isoformat()},
                HTTP_ACCEPT_LANGUAGE=language,
            ),
            400,
            "invalid",
            ["returned_at"],
        )["errors"][0]["message"]
        for when in (timezone.now() + timedelta(minutes=5), collected_at - timedelta(seconds=1))
    ]
    assert messages == [future, before]


def test_a_third_party_does_not_see_the_claim(firm, association):
    lent = _lent(_loan_offer(firm), association, "1")
    other = client_for(make_member(make_org(OrganisationKind.ASSOCIATION)))
    _problem(_return(other, lent), 404, "not_found")


# ---- overdue: list and output -----------------------------------------------------------------------


@pytest.fixture
def four_claims(firm, association):
    """A loan out, a loan overdue, a loan returned, a donation collected."""
    start = timezone.now() - timedelta(days=10) + timedelta(hours=1)  # due 2 days ago, less an hour
    out = _lent(_loan_offer(firm), association, "1")
    overdue = _lent(
        _loan_offer(firm, available_from=start),
        association,
        "1",
        start=start,
        loan_due_at=start + timedelta(days=8),
    )
    returned = _lent(_loan_offer(firm), association, "1")
    loans.claim_return(actor=SYSTEM, claim_id=returned.pk, condition="as_lent")
    donation = make_offer(firm, quantity=1, mass_per_unit_kg=Decimal("2"))
    given = services.claim_request(
        actor=SYSTEM, offer_id=donation.pk, quantity=Decimal("1"), organisation_id=association.pk
    )
    services.claim_accept(actor=SYSTEM, claim_id=given.pk)
    services.handover_record(actor=SYSTEM, claim_id=given.pk)
    return {"out": out.pk, "overdue": overdue.pk, "returned": returned.pk, "given": given.pk}


@pytest.mark.parametrize(
    ("loan", "expected"),
    [("out", {"out", "overdue"}), ("overdue", {"overdue"}), ("returned", {"returned"})],
)
def test_the_claims_list_filters_loans(donor, recipient, four_claims, loan, expected):
    for client in (donor, recipient):
        response = client.get(f"/api/v1/claims/?loan={loan}")
        assert response.status_code == 200
        assert {r["id"] for r in response.json()["results"]} == {four_claims[name] for name in expected}
    everything = {r["id"]: r for r in recipient.get("/api/v1/claims/").json()["results"]}
    assert set(everything) == set(four_claims.values())
    assert {name for name, pk in four_claims.items() if (everything[pk]["loan"] or {}).get("overdue")} == {
        "overdue"
    }
    assert everything[four_claims["given"]]["loan"] is None


@pytest.mark.parametrize("query", ["loan=late", "loan=", "loan=out&loan=overdue"])
def test_the_loan_filter_is_strict(donor, query):
    _problem(donor.get(f"/api/v1/claims/?{query}"), 400, "validation_error", ["loan"])


# ---- reminders --------------------------------------------------------------------------------------


def test_overdue_loans_are_reminded_once_per_window(firm, association, four_claims):
    english = make_member(association, MembershipRole.MEMBER, make_user(preferred_language="en"))
    french = make_member(association, MembershipRole.ADMIN, make_user(preferred_language="fr"))
    make_member(association, MembershipRole.MEMBER, make_user(is_active=False))
    mail.outbox.clear()

    assert remind_overdue_loans.apply().get() == 1
    assert sorted(m.to[0] for m in mail.outbox) == sorted([english.email, french.email])
    by_reader = {m.to[0]: m for m in mail.outbox}
    offer = Claim.objects.get(pk=four_claims["overdue"]).offer
    assert by_reader[english.email].subject == f"[Boucle] Loan overdue: {offer.title}"
    assert by_reader[french.email].subject == f"[Boucle] Prêt en retard : {offer.title}"
    assert "2 days ago" in by_reader[english.email].body
    assert "il y a 2 jours" in by_reader[french.email].body
    assert f"/api/v1/claims/{four_claims['overdue']}/" in by_reader[english.email].body
    [event] = _events("loan.overdue_reminded")
    assert (event.aggregate_id, event.organisation_id) == (four_claims["overdue"], association.pk)
    assert (event.payload["days_late"], event.payload["recipients"]) == (2, 2)

    # Twice in a row, or within the window: nothing more.
    assert remind_overdue_loans.apply().get() == 0
    assert loans.loan_remind(claim_id=four_claims["overdue"]) is False
    assert len(mail.outbox) == 2
    # A day later, once more.
    Claim.objects.filter(pk=four_claims["overdue"]).update(
        loan_reminded_at=timezone.now() - timedelta(hours=settings.BOUCLE_LOAN_REMINDER_HOURS, minutes=1)
    )
    assert remind_overdue_loans.apply().get() == 1
    assert len(mail.outbox) == 4
    assert len(_events("loan.overdue_reminded")) == 2


def test_a_returned_loan_is_no_longer_reminded(firm, association, four_claims):
    make_member(association, MembershipRole.MEMBER)
    loans.claim_return(actor=SYSTEM, claim_id=four_claims["overdue"], condition="worn")
    mail.outbox.clear()
    assert remind_overdue_loans.apply().get() == 0
    assert mail.outbox == []


def test_the_reminder_runs_hourly():
    assert settings.CELERY_BEAT_SCHEDULE["claims-remind-overdue-loans"] == {
        "task": "claims.tasks.remind_overdue_loans",
        "schedule": 3600.0,
    }

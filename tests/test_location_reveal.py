"""When the exact pickup place and the contacts are revealed (claims/selectors/reveal.py), issue 8 item 8.

Before: an offer that accepts claims automatically handed its site's exact point and address, the
pickup instructions and the donor's e-mail and phone to any verified association that claimed one unit,
which could cancel at once and go on to the next firm. Now automatic acceptance needs a handover vouched
for by a donor and a clean record, reveals from the day before the lot is available, and claims broken
after the reveal are counted (strikes) and capped. The claim detail, the claims list, the offer detail
and search all apply the one rule, so the tests ask all four each time."""

from __future__ import annotations

import threading
from contextlib import contextmanager
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
from django.contrib.gis.geos import Point
from django.core import mail
from django.db import connection
from django.utils import timezone

from claims import services
from claims.models import Claim, HandoverConfirmation
from claims.selectors import reliability_of
from core.models import DomainEvent
from inventory.models import Category
from organisations.actors import Actor
from organisations.models import MembershipRole, OrganisationKind

from .conftest import (
    ROUBAIX,
    client_for,
    make_claim,
    make_ledger_row,
    make_member,
    make_offer,
    make_org,
    make_reversal,
    make_site,
)

PARIS = ZoneInfo("Europe/Paris")
SYSTEM = Actor.for_system()
SEARCH = {"lat": ROUBAIX.y, "lon": ROUBAIX.x, "radius_km": 5}
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


@contextmanager
def clock(at: datetime):
    """The server's clock stopped at `at` (timezone.now only: tokens keep their own clock)."""
    with mock.patch("django.utils.timezone.now", return_value=at):
        yield


def _firm(n: int = 0):
    firm = make_org(
        OrganisationKind.COMPANY,
        name=f"Entrepôt {n}",
        email=f"stock{n}@entrepot.example",
        phone=f"+33 3 20 11 22 3{n}",
    )
    site = make_site(firm, Point(3.1746 + n / 2000, 50.6916, srid=4326), name=f"Cour {n}")
    site.address = f"{n} rue du Secret, Roubaix"
    site.save()
    return firm, site


def _offer(firm, site, **extra):
    values = {"quantity": 10, "auto_accept_claims": True, "pickup_instructions": "Portail bleu"}
    values.update(extra)
    return make_offer(firm, site=site, **values)


def _category():
    category, _ = Category.objects.get_or_create(
        key="test-misc", defaults={"name_fr": "Divers", "name_en": "Miscellaneous", "default_unit": "piece"}
    )
    return category


def vouch(recipient, **stamp):
    """A handover to `recipient` its donor vouches for (recorded by the system: no organisation)."""
    return make_ledger_row(
        make_org(),
        recipient,
        _category(),
        mass_kg=5,
        collected_at=timezone.now() - timedelta(days=40),
        **stamp,
    )


def _claim(client, offer, quantity="1", **headers):
    return client.post("/api/v1/claims/", {"offer": offer.pk, "quantity": quantity}, format="json", **headers)


def _views(client, claim_id: int, offer) -> dict[str, bool]:
    """Whether each of the four views shows the exact place and contacts for this claim and offer."""
    detail = client.get(f"/api/v1/claims/{claim_id}/").json()
    listed = next(c for c in client.get("/api/v1/claims/").json()["results"] if c["id"] == claim_id)
    shown = client.get(f"/api/v1/offers/{offer.pk}/").json()
    day = offer.available_from.astimezone(PARIS).date()
    hits = client.get("/api/v1/offers/search/", {**SEARCH, "available_on": day.isoformat()}).json()["results"]
    (hit,) = [h for h in hits if h["id"] == offer.pk]
    assert listed == detail
    exact = shown["location_is_approximate"] is False
    assert (
        shown["site"] is not None,
        shown["contact"] is not None,
        shown["pickup_instructions"] is not None,
    ) == (
        exact,
        exact,
        exact,
    )
    return {
        "claim_detail": detail["pickup"] is not None,
        "claims_list": listed["pickup"] is not None,
        "offer_detail": exact,
        "search": hit["location_is_approximate"] is False,
    }


def _all(shown: bool) -> dict[str, bool]:
    return dict.fromkeys(("claim_detail", "claims_list", "offer_detail", "search"), shown)


def _reveal_fields(body: dict) -> tuple:
    return (body["status"], body["reveal_reason"], body["location_revealed_at"], body["pickup"] is None)


def _paris_midnight(day) -> datetime:
    return datetime.combine(day, time.min, tzinfo=PARIS)


# ---- the finding --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_claim_and_cancel_across_auto_accepting_offers_harvests_nothing():
    harvester = client_for(make_member(make_org(OrganisationKind.ASSOCIATION)))
    secrets, bodies = [], []
    for n in range(3):
        firm, site = _firm(n)
        offer = _offer(firm, site)
        secrets += [site.address, firm.email, firm.phone, "Portail bleu"]
        created = _claim(harvester, offer)
        assert created.status_code == 201
        claim_id = created.json()["id"]
        assert _reveal_fields(created.json()) == ("requested", "awaiting_donor_no_history", None, True)
        bodies.append(created.content)
        for url in (f"/api/v1/claims/{claim_id}/", "/api/v1/claims/", f"/api/v1/offers/{offer.pk}/"):
            bodies.append(harvester.get(url).content)
        bodies.append(harvester.get("/api/v1/offers/search/", SEARCH).content)
        assert _views(harvester, claim_id, offer) == _all(False)
        cancelled = harvester.post(f"/api/v1/claims/{claim_id}/cancel/", {}, format="json")
        assert _reveal_fields(cancelled.json()) == ("cancelled", "claim_closed", None, True)
        bodies.append(cancelled.content)
        offer.refresh_from_db()
        assert offer.remaining_quantity == Decimal("10")  # a request held nothing
    leaked = [secret for secret in secrets for body in bodies if secret.encode() in body]
    assert leaked == []
    assert not DomainEvent.objects.filter(name="claim.accepted").exists()


# ---- who is accepted automatically ------------------------------------------------------------------


def _confirmed(row):
    HandoverConfirmation.objects.create(handover=row, state="confirmed", recorded_by="system")
    return row


HISTORIES = {
    "none": lambda org: None,
    "recorded by the system": lambda org: vouch(org),
    "self-recorded, unconfirmed": lambda org: vouch(org, recorded_by_organisation=org),
    "self-recorded, confirmed": lambda org: _confirmed(vouch(org, recorded_by_organisation=org)),
    "self-recorded, disputed": lambda org: HandoverConfirmation.objects.create(
        handover=vouch(org, recorded_by_organisation=org),
        state="disputed",
        reason="jamais venu",
        recorded_by="x",
    ),
    "reversed": lambda org: make_reversal(vouch(org)),
}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("history", "accepted"),
    [
        ("none", False),
        ("recorded by the system", True),
        ("self-recorded, unconfirmed", False),
        ("self-recorded, confirmed", True),
        ("self-recorded, disputed", False),
        ("reversed", False),
    ],
)
def test_automatic_acceptance_needs_a_handover_a_donor_vouched_for(history, accepted):
    association = make_org(OrganisationKind.ASSOCIATION)
    HISTORIES[history](association)
    firm, site = _firm()
    body = _claim(client_for(make_member(association)), _offer(firm, site)).json()
    if accepted:
        assert (body["status"], body["reveal_reason"]) == ("accepted", "pickup_window_open")
    else:
        assert _reveal_fields(body) == ("requested", "awaiting_donor_no_history", None, True)


@pytest.mark.django_db
def test_a_donor_recorded_handover_vouches(firm):
    association = make_org(OrganisationKind.ASSOCIATION)
    donor = make_org()
    make_ledger_row(
        donor,
        association,
        _category(),
        mass_kg=3,
        collected_at=timezone.now(),
        recorded_by_organisation=donor,
    )
    firm2, site = _firm()
    assert _claim(client_for(make_member(association)), _offer(firm2, site)).json()["status"] == "accepted"


@pytest.mark.django_db
@pytest.mark.parametrize(("handovers", "status"), [(1, "requested"), (2, "accepted")])
def test_the_history_required_is_a_setting(settings, handovers, status):
    settings.BOUCLE_AUTO_ACCEPT_MIN_HANDOVERS = 2
    association = make_org(OrganisationKind.ASSOCIATION)
    for _ in range(handovers):
        vouch(association)
    firm, site = _firm()
    assert _claim(client_for(make_member(association)), _offer(firm, site)).json()["status"] == status


@pytest.mark.django_db
def test_the_donor_accepts_a_withheld_claim_and_it_reveals_at_once():
    firm, site = _firm()
    offer = _offer(firm, site, available_from=timezone.now() + timedelta(days=10))
    recipient = client_for(make_member(make_org(OrganisationKind.ASSOCIATION)))
    claim_id = _claim(recipient, offer).json()["id"]
    donor = client_for(make_member(firm, MembershipRole.MEMBER))
    accepted = donor.post(f"/api/v1/claims/{claim_id}/accept/", {}, format="json", **EN).json()
    assert _reveal_fields(accepted) == ("accepted", "accepted_by_donor", accepted["accepted_at"], False)
    assert accepted["reveal_detail"] == "The donor accepted: the exact place and the contacts are shown."
    assert _views(recipient, claim_id, offer) == _all(True)
    claim = Claim.objects.get(pk=claim_id)
    assert (claim.auto_accepted, claim.auto_accept_withheld) == (False, "no_history")
    # A lot available in ten days: the pickup deadline counts from then, not from the acceptance.
    assert claim.pickup_deadline == offer.available_from + timedelta(days=7)


# ---- when: the pickup window -----------------------------------------------------------------------


@pytest.mark.django_db
def test_an_automatic_claim_on_a_lot_available_now_reveals_at_once():
    association = make_org(OrganisationKind.ASSOCIATION)
    vouch(association)
    firm, site = _firm()
    offer = _offer(firm, site)
    client = client_for(make_member(association))
    body = _claim(client, offer, **EN).json()
    assert _reveal_fields(body) == ("accepted", "pickup_window_open", body["accepted_at"], False)
    assert body["pickup"]["site"]["address"] == "0 rue du Secret, Roubaix"
    assert body["pickup"]["donor_contact"]["phone"] == "+33 3 20 11 22 30"
    assert body["reveal_detail"] == (
        "Accepted automatically; the pickup window is open: the exact place and the contacts are shown."
    )
    assert _views(client, body["id"], offer) == _all(True)
    claim = Claim.objects.get(pk=body["id"])
    assert (claim.auto_accepted, claim.location_revealed_at) == (True, claim.accepted_at)


@pytest.mark.django_db
def test_an_automatic_claim_on_a_later_lot_reveals_from_midnight_the_day_before():
    association = make_org(OrganisationKind.ASSOCIATION)
    vouch(association)
    firm, site = _firm()
    available_from = (timezone.now() + timedelta(days=5)).astimezone(PARIS).replace(hour=9, minute=30)
    offer = _offer(firm, site, available_from=available_from)
    client = client_for(make_member(association))
    body = _claim(client, offer, **EN).json()
    opens = _paris_midnight(available_from.date() - timedelta(days=1))
    assert _reveal_fields(body) == ("accepted", "before_pickup_window", opens.isoformat(), True)
    assert body["reveal_detail"].startswith(
        "Accepted automatically. The exact place and the contacts are shown"
    )
    offer.refresh_from_db()
    assert offer.remaining_quantity == Decimal("9")  # the quantity is reserved all the same

    with clock(opens - timedelta(microseconds=1)):
        assert _views(client, body["id"], offer) == _all(False)
        assert client.get(f"/api/v1/claims/{body['id']}/").json()["reveal_reason"] == "before_pickup_window"
    with clock(opens):
        assert _views(client, body["id"], offer) == _all(True)
        assert client.get(f"/api/v1/claims/{body['id']}/").json()["reveal_reason"] == "pickup_window_open"
    # The donor, too, gets the pickup block (the recipient's contact) only then.
    donor = client_for(make_member(firm))
    assert donor.get(f"/api/v1/claims/{body['id']}/").json()["pickup"] is None
    # Deadline: a week from the lot's first day.
    assert Claim.objects.get(pk=body["id"]).pickup_deadline == available_from + timedelta(days=7)


def _reveal_for(available_from: datetime, *, now: datetime) -> datetime:
    """The reveal time the service stamps on an automatic claim made at `now` (the seeding clock)."""
    association = make_org(OrganisationKind.ASSOCIATION)
    vouch(association)
    firm, site = _firm()
    offer = _offer(firm, site, available_from=available_from)
    claim = services.claim_request(
        actor=SYSTEM, offer_id=offer.pk, quantity=Decimal(1), organisation_id=association.pk, now=now
    )
    assert (claim.status, claim.auto_accepted) == ("accepted", True)
    return claim.location_revealed_at


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("available_from", "opens_utc"),
    [
        # 00:30 in Paris is still the day before in UTC: the day that counts is the donor's.
        ("2027-01-20T00:30:00+01:00", "2027-01-18T23:00:00+00:00"),
        ("2027-01-20T23:30:00+00:00", "2027-01-19T23:00:00+00:00"),  # 00:30 on the 21st in Paris
        # Summer time begins on 28 March 2027 at 02:00: midnight that day is still UTC+1.
        ("2027-03-29T10:00:00+02:00", "2027-03-27T23:00:00+00:00"),
        # It ends on 31 October 2027 at 03:00: midnight that day is still UTC+2.
        ("2027-11-01T09:00:00+01:00", "2027-10-30T22:00:00+00:00"),
    ],
)
def test_the_window_opens_at_midnight_in_the_donors_time_not_utc(available_from, opens_utc):
    now = datetime(2027, 1, 2, 12, tzinfo=UTC)
    revealed = _reveal_for(datetime.fromisoformat(available_from), now=now)
    assert revealed == datetime.fromisoformat(opens_utc)
    assert revealed.astimezone(PARIS).time() == time.min


@pytest.mark.django_db
def test_the_lead_is_a_setting_and_a_late_claim_reveals_at_once(settings):
    available_from = datetime(2027, 2, 10, 8, tzinfo=PARIS)
    settings.BOUCLE_REVEAL_LEAD_DAYS = 0
    assert _reveal_for(available_from, now=datetime(2027, 2, 1, tzinfo=UTC)) == datetime(
        2027, 2, 10, tzinfo=PARIS
    )
    settings.BOUCLE_REVEAL_LEAD_DAYS = 1
    # Claimed once the window has opened (the evening before): the place shows at once.
    late = datetime(2027, 2, 9, 20, tzinfo=PARIS)
    assert _reveal_for(available_from, now=late) == late


# ---- strikes: claims broken after the reveal --------------------------------------------------------


def _trusted_client():
    association = make_org(OrganisationKind.ASSOCIATION)
    vouch(association)
    return association, client_for(make_member(association))


def _strike(client, n: int) -> None:
    """Claim an offer available now, then cancel it: the place was shown, so a strike."""
    firm, site = _firm(n)
    body = _claim(client, _offer(firm, site)).json()
    assert (body["status"], body["pickup"] is None) == ("accepted", False)
    cancelled = client.post(f"/api/v1/claims/{body['id']}/cancel/", {}, format="json")
    assert cancelled.json()["status"] == "cancelled"


def _operator_mail() -> list:
    """The operator's e-mails (the parties are also told of each claim: claims/notifications.py)."""
    return [message for message in mail.outbox if message.to == ["operateur@boucle.localhost"]]


@pytest.mark.django_db
def test_cap_minus_one_strikes_keep_automatic_acceptance_the_cap_suspends_it(
    settings, django_capture_on_commit_callbacks
):
    settings.BOUCLE_AUTO_ACCEPT_STRIKES = 3
    association, client = _trusted_client()
    with django_capture_on_commit_callbacks(execute=True):
        _strike(client, 1)
        _strike(client, 2)
    assert reliability_of(association.pk).no_shows == 2
    assert not DomainEvent.objects.filter(name="organisation.auto_accept_suspended").exists()
    assert _operator_mail() == []

    with django_capture_on_commit_callbacks(execute=True):
        _strike(client, 3)  # cap − 1 strikes: still accepted automatically, and this is the third
    (event,) = DomainEvent.objects.filter(name="organisation.auto_accept_suspended")
    assert (event.aggregate_type, event.aggregate_id, event.organisation_id) == (
        "organisation",
        association.pk,
        association.pk,
    )
    assert (event.payload["strikes"], event.payload["days"]) == (3, 30)
    first = Claim.objects.filter(organisation=association, status="cancelled").order_by("closed_at").first()
    assert event.payload["resumes_at"] == (first.closed_at + timedelta(days=30)).isoformat()
    (message,) = _operator_mail()
    assert message.to == ["operateur@boucle.localhost"]
    assert message.subject == f"[Boucle] Acceptation automatique suspendue : {association.name}"
    assert f"{association.name} a rompu 3 réservations dans les 30 derniers jours" in message.body

    firm, site = _firm(4)
    offer = _offer(firm, site)
    body = _claim(client, offer, **EN).json()
    assert _reveal_fields(body) == ("requested", "awaiting_donor_auto_accept_suspended", None, True)
    assert body["reveal_detail"] == (
        "Automatic acceptance is suspended for the claimant: too many claims were cancelled or not "
        "collected after their place was shown, in the last 30 days. The donor answers this claim; the "
        "exact place and the contacts are shown once the donor accepts."
    )
    assert _views(client, body["id"], offer) == _all(False)
    assert reliability_of(association.pk).as_dict() == {
        "claims_made": 5,  # the vouched handover's, three broken, one waiting
        "claims_received": 0,
        "handovers": 1,
        "no_shows": 3,
        "cancellations": 0,
        "declines": 0,
    }


@pytest.mark.django_db
def test_a_further_strike_does_not_tell_the_operator_again(settings, django_capture_on_commit_callbacks):
    settings.BOUCLE_AUTO_ACCEPT_STRIKES = 1
    association, client = _trusted_client()
    with django_capture_on_commit_callbacks(execute=True):
        _strike(client, 1)
        # A claim the donor accepted, then cancelled by the recipient once shown: a strike as well.
        firm, site = _firm(2)
        offer = make_offer(firm, site=site)
        claim = make_claim(offer, association, 1, accept=True)
        client.post(f"/api/v1/claims/{claim.pk}/cancel/", {}, format="json")
    assert reliability_of(association.pk).no_shows == 2
    assert DomainEvent.objects.filter(name="organisation.auto_accept_suspended").count() == 1
    assert len(_operator_mail()) == 1


@pytest.mark.django_db
def test_what_is_not_a_strike(settings):
    settings.BOUCLE_AUTO_ACCEPT_STRIKES = 3
    association, client = _trusted_client()
    # Cancelled before the window opened: the place was never shown.
    firm, site = _firm(1)
    later = _offer(firm, site, available_from=timezone.now() + timedelta(days=4))
    claim_id = _claim(client, later).json()["id"]
    assert client.post(f"/api/v1/claims/{claim_id}/cancel/", {}, format="json").status_code == 200
    # Cancelled by the donor after the reveal.
    firm, site = _firm(2)
    claim_id = _claim(client, _offer(firm, site)).json()["id"]
    donor = client_for(make_member(firm))
    assert donor.post(f"/api/v1/claims/{claim_id}/cancel/", {}, format="json").status_code == 200
    # A request cancelled before any answer.
    firm, site = _firm(3)
    claim_id = _claim(client, make_offer(firm, site=site)).json()["id"]
    assert client.post(f"/api/v1/claims/{claim_id}/cancel/", {}, format="json").status_code == 200

    assert reliability_of(association.pk).as_dict() == {
        "claims_made": 4,
        "claims_received": 0,
        "handovers": 1,
        "no_shows": 0,
        "cancellations": 2,
        "declines": 0,
    }
    firm, site = _firm(4)
    assert _claim(client, _offer(firm, site)).json()["status"] == "accepted"


@pytest.mark.django_db
def test_a_no_show_is_a_strike(settings):
    settings.BOUCLE_AUTO_ACCEPT_STRIKES = 2
    association, client = _trusted_client()
    firm, site = _firm(1)
    claim = Claim.objects.get(pk=_claim(client, _offer(firm, site)).json()["id"])
    _strike(client, 2)
    assert services.claim_expire(claim_id=claim.pk, now=claim.pickup_deadline + timedelta(seconds=1))
    assert DomainEvent.objects.filter(name="organisation.auto_accept_suspended").count() == 1
    firm, site = _firm(3)
    assert (
        _claim(client, _offer(firm, site)).json()["reveal_reason"] == "awaiting_donor_auto_accept_suspended"
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("age", "status"),
    [(timedelta(days=30, minutes=-1), "requested"), (timedelta(days=30, minutes=1), "accepted")],
)
def test_strikes_age_out_after_the_strike_days(settings, age, status):
    settings.BOUCLE_AUTO_ACCEPT_STRIKES = 1
    association, client = _trusted_client()
    _strike(client, 1)
    Claim.objects.filter(organisation=association, status="cancelled").update(
        closed_at=timezone.now() - age, location_revealed_at=timezone.now() - age - timedelta(minutes=5)
    )
    firm, site = _firm(2)
    assert _claim(client, _offer(firm, site)).json()["status"] == status


# ---- claims in flight --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_automatic_claims_in_flight_count_against_the_cap(settings):
    settings.BOUCLE_AUTO_ACCEPT_STRIKES = 3
    association, client = _trusted_client()
    held = []
    for n in range(3):  # 0, 1, 2 open: each is accepted automatically
        firm, site = _firm(n)
        body = _claim(client, _offer(firm, site)).json()
        assert body["status"] == "accepted", n
        held.append(body["id"])
    firm, site = _firm(3)
    offer = _offer(firm, site)
    body = _claim(client, offer, **EN).json()
    assert _reveal_fields(body) == ("requested", "awaiting_donor_auto_accept_limit", None, True)
    assert body["reveal_detail"] == (
        "The claimant already holds as many automatically accepted claims not yet collected as allowed; "
        "the donor answers this one. The exact place and the contacts are shown once the donor accepts."
    )
    assert _views(client, body["id"], offer) == _all(False)
    # Collecting one frees its place.
    assert (
        client.post(f"/api/v1/claims/{held[0]}/handover/", {"mass_kg": "2"}, format="json").status_code == 201
    )
    firm, site = _firm(4)
    assert _claim(client, _offer(firm, site)).json()["status"] == "accepted"


# ---- the other fields --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_reveal_fields_of_a_plain_request_and_of_a_collected_claim(firm):
    association = make_org(OrganisationKind.ASSOCIATION)
    client = client_for(make_member(association))
    offer = make_offer(firm, quantity=5)
    body = _claim(client, offer, **EN).json()
    assert _reveal_fields(body) == ("requested", "awaiting_donor", None, True)
    assert (
        body["reveal_detail"]
        == "The exact place and the contacts are shown once the donor accepts the claim."
    )
    accepted = services.claim_accept(actor=SYSTEM, claim_id=body["id"])
    services.handover_record(actor=SYSTEM, claim_id=body["id"], mass_kg=Decimal("2"))
    collected = client.get(f"/api/v1/claims/{body['id']}/", **EN).json()
    revealed_at = client.get(f"/api/v1/claims/{body['id']}/").json()["location_revealed_at"]
    assert revealed_at == collected["accepted_at"]
    assert _reveal_fields(collected) == ("collected", "collected", revealed_at, False)
    assert collected["reveal_detail"] == "Collected: the exact place and the contacts stay shown."
    assert accepted.location_revealed_at == accepted.accepted_at


@pytest.mark.django_db
def test_the_explanation_is_in_french_by_default():
    association = make_org(OrganisationKind.ASSOCIATION)
    firm, site = _firm()
    body = _claim(client_for(make_member(association)), _offer(firm, site)).json()
    assert body["reveal_detail"] == (
        "Cette offre accepte d’elle-même les demandes des bénéficiaires ayant une remise attestée par "
        "un donateur ; le demandeur n’en a pas encore, le donateur répond donc à cette demande. Le lieu "
        "exact et les coordonnées sont communiqués dès qu’il l’accepte."
    )


@pytest.mark.django_db
def test_the_operator_sees_why_but_not_the_place(operator_user):
    association, client = _trusted_client()
    firm, site = _firm()
    claim_id = _claim(client, _offer(firm, site)).json()["id"]
    body = client_for(operator_user).get(f"/api/v1/claims/{claim_id}/").json()
    assert (body["reveal_reason"], body["pickup"]) == ("pickup_window_open", None)


# ---- concurrency ------------------------------------------------------------------------------------


def _in_parallel(n: int, work) -> list:
    barrier = threading.Barrier(n)
    results: list = []
    lock = threading.Lock()

    def run(i: int):
        try:
            barrier.wait(timeout=30)
            result = work(i)
        except BaseException as exc:  # reported, not swallowed
            result = exc
        finally:
            connection.close()
        with lock:
            results.append(result)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(results) == n
    return results


@pytest.mark.django_db(transaction=True)
def test_parallel_automatic_claims_never_exceed_the_cap(settings):
    settings.BOUCLE_AUTO_ACCEPT_STRIKES = 3
    association = make_org(OrganisationKind.ASSOCIATION)
    vouch(association)
    user = make_member(association)
    offers = [_offer(*_firm(n)) for n in range(10)]

    def claim(i: int) -> str:
        made = services.claim_request(actor=Actor.for_user(user), offer_id=offers[i].pk, quantity=Decimal(1))
        return f"{made.status}/{made.auto_accept_withheld}"

    results = _in_parallel(10, claim)
    assert sorted(results) == ["accepted/"] * 3 + ["requested/limit"] * 7


@pytest.mark.django_db(transaction=True)
def test_parallel_cancellations_count_every_strike_and_suspend_once(settings):
    settings.BOUCLE_AUTO_ACCEPT_STRIKES = 10  # room to hold six claims, then the cap is lowered
    association = make_org(OrganisationKind.ASSOCIATION)
    vouch(association)
    user = make_member(association)
    claims = [
        services.claim_request(actor=Actor.for_user(user), offer_id=_offer(*_firm(n)).pk, quantity=Decimal(1))
        for n in range(6)
    ]
    assert {c.status for c in claims} == {"accepted"}
    settings.BOUCLE_AUTO_ACCEPT_STRIKES = 3

    def cancel(i: int) -> str:
        return services.claim_cancel(actor=Actor.for_user(user), claim_id=claims[i].pk).status

    assert _in_parallel(6, cancel) == ["cancelled"] * 6
    assert reliability_of(association.pk).no_shows == 6
    events = DomainEvent.objects.filter(
        name="organisation.auto_accept_suspended", aggregate_id=association.pk
    )
    assert [e.payload["strikes"] for e in events] == [3]
    assert len(_operator_mail()) == 1

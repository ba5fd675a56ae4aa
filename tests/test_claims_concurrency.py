"""Concurrency with real parallel database connections: many claimants on one lot never allocate more
than it holds, and the remaining quantity is exact afterwards; once through several gunicorn workers
over HTTP; parallel requests sharing an Idempotency-Key create one claim; parallel corrections of one
reversed ledger row write one, and parallel returns of one loan give it back once.

PostgreSQL allows 100 connections on the development server, shared with other test runs: the thread
tests spread their 100 claimants over THREADS threads (one connection each), all released together by a
barrier. The HTTP test fires its 100 requests from 100 client threads at once (they hold no database
connection; the 4 workers do)."""

from __future__ import annotations

import json
import random
import threading
import urllib.error
import urllib.request
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import Sum
from django.utils import timezone
from rest_framework_simplejwt.tokens import RefreshToken

from claims import services
from claims.models import Claim, ClaimStatus
from core.errors import Conflict, LimitExceeded
from exchange.models import OfferStatus
from inventory.models import Category
from organisations.actors import Actor
from organisations.models import OrganisationKind

from .conftest import client_for, make_ledger_row, make_member, make_offer, make_org

CLAIMANTS = 100
THREADS = 32
LOT = 37


def _claimants(n: int) -> list:
    """Associations in good standing (a handover vouched for by a donor), so that offers that accept
    claims automatically accept theirs (claims/selectors/reveal.py)."""
    donor = make_org()
    category, _ = Category.objects.get_or_create(
        key="test-misc", defaults={"name_fr": "Divers", "name_en": "Miscellaneous", "default_unit": "piece"}
    )
    users = []
    for _ in range(n):
        association = make_org(OrganisationKind.ASSOCIATION)
        make_ledger_row(donor, association, category, mass_kg=1, collected_at=timezone.now())
        users.append(make_member(association))
    return users


def _check_lot(offer) -> Decimal:
    offer.refresh_from_db()
    held = Claim.objects.filter(
        offer=offer, status__in=(ClaimStatus.ACCEPTED, ClaimStatus.COLLECTED)
    ).aggregate(s=Sum("quantity"))["s"] or Decimal("0")
    assert held <= LOT
    assert offer.remaining_quantity == LOT - held
    assert offer.status == (OfferStatus.EXHAUSTED if held == LOT else OfferStatus.PUBLISHED)
    assert not Claim.objects.filter(offer=offer, status=ClaimStatus.REQUESTED).exists()  # all-or-nothing
    return held


@pytest.mark.django_db(transaction=True)
def test_hundred_claimants_in_parallel_never_overallocate(firm, settings):
    # Each claimant holds up to one automatic claim per round: keep them all under the in-flight cap.
    settings.BOUCLE_AUTO_ACCEPT_STRIKES = 10
    users = _claimants(CLAIMANTS)
    rng = random.Random(20260)
    for _round in range(3):
        offer = make_offer(firm, quantity=LOT, auto_accept_claims=True)
        asked = [Decimal(rng.randint(1, 5)) for _ in users]
        outcomes: list[tuple[str, Decimal]] = []
        unexpected: list[BaseException] = []
        lock = threading.Lock()
        barrier = threading.Barrier(THREADS)

        def work(
            indexes: list[int],
            offer_id=offer.pk,
            asked=asked,
            barrier=barrier,
            outcomes=outcomes,
            unexpected=unexpected,
            lock=lock,
        ):
            try:
                barrier.wait(timeout=30)
                for i in indexes:
                    try:
                        claim = services.claim_request(
                            actor=Actor.for_user(users[i]), offer_id=offer_id, quantity=asked[i]
                        )
                        result = (claim.status, asked[i])
                    except Conflict as exc:
                        result = (exc.code, asked[i])
                    with lock:
                        outcomes.append(result)
            except BaseException as exc:  # anything else is a failure of the test
                with lock:
                    unexpected.append(exc)
            finally:
                connection.close()

        threads = [
            threading.Thread(target=work, args=(list(range(t, CLAIMANTS, THREADS)),)) for t in range(THREADS)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)

        assert unexpected == []
        assert len(outcomes) == CLAIMANTS
        assert {status for status, _q in outcomes} <= {"accepted", "insufficient_quantity"}
        granted = sum((q for status, q in outcomes if status == "accepted"), Decimal("0"))
        assert _check_lot(offer) == granted
        # Someone was refused only because what remained was less than what it asked.
        assert any(status == "insufficient_quantity" for status, _q in outcomes)


def _post(url: str, token: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_hundred_claimants_over_http_through_four_gunicorn_workers(firm, gunicorn_server):
    users = _claimants(CLAIMANTS)
    tokens = [str(RefreshToken.for_user(user).access_token) for user in users]
    offer = make_offer(firm, quantity=LOT, auto_accept_claims=True)
    rng = random.Random(7)
    asked = [rng.randint(1, 5) for _ in users]
    answers: list[tuple[int, dict, int]] = [None] * CLAIMANTS  # type: ignore[list-item]
    barrier = threading.Barrier(CLAIMANTS)

    def fire(i: int):
        barrier.wait(timeout=30)
        status, body = _post(
            f"{gunicorn_server}/api/v1/claims/", tokens[i], {"offer": offer.pk, "quantity": str(asked[i])}
        )
        answers[i] = (status, body, asked[i])

    threads = [threading.Thread(target=fire, args=(i,)) for i in range(CLAIMANTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)

    assert all(answer is not None for answer in answers)
    assert {status for status, _b, _q in answers} <= {201, 409}
    assert {body["code"] for status, body, _q in answers if status == 409} <= {"insufficient_quantity"}
    granted = sum(q for status, body, q in answers if status == 201)
    assert all(body["status"] == "accepted" for status, body, _q in answers if status == 201)
    assert _check_lot(offer) == granted
    assert any(status == 409 for status, _b, _q in answers)


@pytest.mark.django_db(transaction=True)
def test_ten_parallel_requests_with_one_idempotency_key_create_one_claim(firm, association):
    user = make_member(association)
    offer = make_offer(firm, quantity=LOT)
    barrier = threading.Barrier(10)
    answers: list[tuple[int, dict]] = []
    lock = threading.Lock()

    def fire():
        client = client_for(user)
        try:
            barrier.wait(timeout=30)
            response = client.post(
                "/api/v1/claims/",
                {"offer": offer.pk, "quantity": "3"},
                format="json",
                HTTP_IDEMPOTENCY_KEY="same-key-for-all",
            )
            with lock:
                answers.append((response.status_code, response.json()))
        finally:
            connection.close()

    threads = [threading.Thread(target=fire) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert len(answers) == 10
    assert Claim.objects.filter(offer=offer).count() == 1
    claim_id = Claim.objects.get(offer=offer).pk
    assert {status for status, _b in answers} <= {201, 409}
    assert all(body["id"] == claim_id for status, body in answers if status == 201)
    assert all(body["code"] == "idempotency_in_progress" for status, body in answers if status == 409)
    # Once the first has finished, a retry replays it.
    replay = client_for(user).post(
        "/api/v1/claims/",
        {"offer": offer.pk, "quantity": "3"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="same-key-for-all",
    )
    assert (replay.status_code, replay.json()["id"], replay["Idempotent-Replayed"]) == (201, claim_id, "true")


@pytest.mark.django_db(transaction=True)
def test_the_open_claims_cap_holds_under_parallel_requests(firm, association, settings):
    settings.BOUCLE_MAX_OPEN_CLAIMS_PER_ORG = 3
    actor_user = make_member(association)
    offer = make_offer(firm, quantity=LOT)
    barrier = threading.Barrier(10)
    codes: list[str] = []
    lock = threading.Lock()

    def fire():
        try:
            barrier.wait(timeout=30)
            try:
                services.claim_request(
                    actor=Actor.for_user(actor_user), offer_id=offer.pk, quantity=Decimal(1)
                )
                code = "created"
            except LimitExceeded as exc:
                code = exc.code
            with lock:
                codes.append(code)
        finally:
            connection.close()

    threads = [threading.Thread(target=fire) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(codes) == ["created"] * 3 + ["open_claims_limit"] * 7
    assert Claim.objects.filter(organisation=association).count() == 3


def _together(n: int, action) -> list:
    """Runs `action()` in n threads released together (one connection each); what each returned or
    raised."""
    barrier = threading.Barrier(n)
    outcomes: list = []
    lock = threading.Lock()

    def run():
        try:
            barrier.wait(timeout=30)
            try:
                outcome = action()
            except Exception as exc:
                outcome = exc
            with lock:
                outcomes.append(outcome)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


@pytest.mark.django_db(transaction=True)
def test_parallel_corrections_of_one_reversed_row_write_one(firm, association):
    from claims.models import Handover

    offer = make_offer(firm, quantity=10, unit="kg")
    claim = services.claim_request(
        actor=Actor.for_system(), offer_id=offer.pk, quantity=Decimal("6"), organisation_id=association.pk
    )
    services.claim_accept(actor=Actor.for_system(), claim_id=claim.pk)
    first = services.handover_record(actor=Actor.for_system(), claim_id=claim.pk)
    services.handover_reverse(actor=Actor.for_system(), handover_id=first.pk, reason="pesée")

    outcomes = _together(
        8,
        lambda: services.handover_record(actor=Actor.for_system(), claim_id=claim.pk, quantity=Decimal("4")),
    )
    written = [o for o in outcomes if isinstance(o, Handover)]
    refused = [o for o in outcomes if isinstance(o, Conflict)]
    assert (len(written), len(refused)) == (1, 7), outcomes
    assert {o.code for o in refused} == {"already_collected"}
    assert Handover.objects.filter(claim=claim, corrects=first).count() == 1
    offer.refresh_from_db()
    assert (offer.remaining_quantity, offer.reserved_quantity, offer.collected_quantity) == (6, 0, 4)


@pytest.mark.django_db(transaction=True)
def test_parallel_returns_of_one_loan_give_it_back_once(firm, association):
    from claims.loans import claim_return

    offer = make_offer(firm, quantity=3, mode="loan")
    claim = services.claim_request(
        actor=Actor.for_system(), offer_id=offer.pk, quantity=Decimal("2"), organisation_id=association.pk
    )
    services.claim_accept(actor=Actor.for_system(), claim_id=claim.pk)
    services.handover_record(actor=Actor.for_system(), claim_id=claim.pk, mass_kg=Decimal("1"))

    outcomes = _together(
        8, lambda: claim_return(actor=Actor.for_system(), claim_id=claim.pk, condition="worn")
    )
    refused = [o for o in outcomes if isinstance(o, Conflict)]
    assert (len(outcomes) - len(refused), {o.code for o in refused}) == (1, {"loan_not_out"}), outcomes
    offer.refresh_from_db()
    assert (offer.remaining_quantity, offer.reserved_quantity, offer.collected_quantity) == (3, 0, 0)

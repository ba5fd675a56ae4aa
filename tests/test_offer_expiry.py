from datetime import timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.utils import timezone

from core.models import DomainEvent
from exchange.models import Offer, OfferStatus
from exchange.services import offers_expire_due
from exchange.tasks import expire_offers

from .conftest import client_for, make_member, make_offer

pytestmark = pytest.mark.django_db


def ended(firm, status="published", **extra) -> Offer:
    """An offer whose availability ended an hour ago (written directly: the API refuses past windows)."""
    now = timezone.now()
    return make_offer(
        firm,
        status=status,
        available_from=now - timedelta(days=3),
        available_until=now - timedelta(hours=1),
        **extra,
    )


def test_expiry_task_expires_published_offers_whose_window_ended(firm):
    due = ended(firm)
    exhausted = ended(firm, status="exhausted", quantity=2, remaining_quantity=Decimal("0"))
    draft = ended(firm, status="draft")
    running = make_offer(firm, available_until=timezone.now() + timedelta(days=1))
    open_ended = make_offer(firm)
    before = Offer.objects.get(pk=due.pk).updated_at

    assert expire_offers.delay().get() == 1

    statuses = dict(Offer.objects.values_list("id", "status"))
    assert statuses == {
        due.id: OfferStatus.EXPIRED,
        exhausted.id: OfferStatus.EXHAUSTED,  # accepted claims are still to be collected
        draft.id: OfferStatus.DRAFT,
        running.id: OfferStatus.PUBLISHED,
        open_ended.id: OfferStatus.PUBLISHED,
    }
    assert Offer.objects.get(pk=due.pk).updated_at > before
    events = list(
        DomainEvent.objects.values_list("name", "aggregate_id", "actor", "organisation_id", "payload")
    )
    assert events == [("offer.expired", due.id, "system", firm.id, {"status": "expired"})]


def test_expiry_is_idempotent(firm):
    offers = [ended(firm) for _ in range(3)]
    assert offers_expire_due(batch_size=2) == 3
    assert offers_expire_due() == 0
    assert DomainEvent.objects.filter(name="offer.expired").count() == 3
    assert sorted(DomainEvent.objects.values_list("aggregate_id", flat=True)) == sorted(o.id for o in offers)


def test_expiry_uses_the_given_instant(firm):
    offer = make_offer(firm, available_until=timezone.now() + timedelta(hours=2))
    assert offers_expire_due(now=timezone.now() + timedelta(hours=1)) == 0
    assert offers_expire_due(now=timezone.now() + timedelta(hours=3)) == 1
    offer.refresh_from_db()
    assert offer.status == OfferStatus.EXPIRED


def test_the_task_runs_every_five_minutes():
    entry = settings.CELERY_BEAT_SCHEDULE["exchange-expire-offers"]
    assert entry == {"task": "exchange.tasks.expire_offers", "schedule": 300.0}


def test_a_draft_whose_window_ended_cannot_be_published_until_extended(firm):
    offer = ended(firm, status="draft")
    client = client_for(make_member(firm))
    refused = client.post(f"/api/v1/offers/{offer.id}/publish/")
    assert (refused.status_code, refused.json()["code"]) == (409, "offer_window_over")
    later = (timezone.now() + timedelta(days=7)).isoformat()
    assert (
        client.patch(f"/api/v1/offers/{offer.id}/", {"available_until": later}, format="json").status_code
        == 200
    )
    assert client.post(f"/api/v1/offers/{offer.id}/publish/").json()["status"] == "published"


def test_a_published_offer_cannot_be_given_a_past_end(firm):
    offer = make_offer(firm, available_from=timezone.now() - timedelta(days=2))
    past = (timezone.now() - timedelta(hours=1)).isoformat()
    response = client_for(make_member(firm)).patch(
        f"/api/v1/offers/{offer.id}/", {"available_until": past}, format="json"
    )
    assert response.status_code == 400
    assert [e["field"] for e in response.json()["errors"]] == ["available_until"]
    offer.refresh_from_db()
    assert offer.available_until is None


def test_an_expired_offer_is_still_readable_by_others_but_not_editable(firm, association):
    offer = ended(firm)
    offers_expire_due()
    assert (
        client_for(make_member(association)).get(f"/api/v1/offers/{offer.id}/").json()["status"] == "expired"
    )
    response = client_for(make_member(firm)).patch(
        f"/api/v1/offers/{offer.id}/", {"title": "x"}, format="json"
    )
    assert response.status_code == 409

"""Match alerts. `match_published_offer` is subscribed to the `offer.published` outbox event (see apps.py);
the others run on the beat schedule (CELERY_BEAT_SCHEDULE in config/settings/base.py). All reload by
id and are safe to run twice."""

from __future__ import annotations

import smtplib

from celery import shared_task
from django.db import IntegrityError, OperationalError

from core.events import event_consume, events_pending
from core.models import DomainEvent
from exchange.models import Offer

from .services import match_alerts_send, match_digests_send, matches_record_for_offer, needs_expire_due

ALERTS_CONSUMER = "matching.alerts"
OFFER_PUBLISHED = "offer.published"


def _record_matches(event: DomainEvent) -> None:
    offer = Offer.objects.select_related("category").filter(pk=event.aggregate_id).first()
    if offer is not None:  # withdrawn or exhausted since: the service records nothing
        matches_record_for_offer(offer=offer)


@shared_task(
    name="matching.tasks.match_published_offer",
    ignore_result=True,
    autoretry_for=(OperationalError, IntegrityError),
    retry_backoff=True,
    max_retries=5,
)
def match_published_offer(*, event_id: int) -> bool:
    """Records the matches of a freshly published offer, once per event whatever the deliveries."""
    return event_consume(consumer=ALERTS_CONSUMER, event_id=event_id, handler=_record_matches)


@shared_task(name="matching.tasks.sweep_published_offers", ignore_result=True)
def sweep_published_offers(*, limit: int = 500) -> int:
    """Catches up with `offer.published` events nobody consumed (the worker was down, a message lost)."""
    done = 0
    for event_id in events_pending(consumer=ALERTS_CONSUMER, names=[OFFER_PUBLISHED], limit=limit):
        done += event_consume(consumer=ALERTS_CONSUMER, event_id=event_id, handler=_record_matches)
    return done


@shared_task(
    name="matching.tasks.send_match_alert",
    ignore_result=True,
    autoretry_for=(smtplib.SMTPException, ConnectionError, OperationalError),
    retry_backoff=True,
    max_retries=8,
)
def send_match_alert(*, organisation_id: int, match_ids: list[int]) -> int:
    return match_alerts_send(organisation_id=organisation_id, match_ids=match_ids)


@shared_task(name="matching.tasks.send_match_digests", ignore_result=True)
def send_match_digests() -> int:
    return match_digests_send()


@shared_task(name="matching.tasks.expire_needs", ignore_result=True)
def expire_needs() -> int:
    return needs_expire_due()

"""An offer's domain events: each change of an offer is recorded as one event, with the status the offer
is in after the change (its payload's `status`), for the outbox (webhooks, alerts, change feeds)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from core.events import PendingEvent, event_record, events_record

from .models import Offer


@dataclass(frozen=True)
class OfferEvent:
    """A change of an offer as it happened (its payload says the status it is in after the change),
    recorded once the offer is saved: a new offer has its id only then."""

    offer: Offer
    name: str
    payload: dict[str, Any]


def offer_change(offer: Offer, name: str, **payload: Any) -> OfferEvent:
    return OfferEvent(offer, name, {"status": offer.status, **payload})


def _pending(event: OfferEvent, actor_label: str) -> PendingEvent:
    return PendingEvent(
        name=event.name,
        aggregate_type="offer",
        aggregate_id=event.offer.pk,
        actor=actor_label,
        organisation_id=event.offer.organisation_id,
        payload=event.payload,
    )


def offer_change_record(event: OfferEvent, actor_label: str) -> None:
    pending = _pending(event, actor_label)
    event_record(
        name=pending.name,
        aggregate_type=pending.aggregate_type,
        aggregate_id=pending.aggregate_id,
        actor=pending.actor,
        organisation_id=pending.organisation_id,
        payload=pending.payload,
    )


def offer_events_record(events: Sequence[OfferEvent], *, actor_label: str) -> None:
    """Record the changes of many saved offers in one insert, in the order given: the same rows as the
    one-offer services record for each in turn (exchange.bulk)."""
    events_record([_pending(event, actor_label) for event in events])


def offer_record(offer: Offer, name: str, actor_label: str, **payload: Any) -> None:
    offer_change_record(offer_change(offer, name, **payload), actor_label)

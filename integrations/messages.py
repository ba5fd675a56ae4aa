"""What a webhook says about a domain event: its type, which organisations hear of it, the key that keeps
one object's messages in order, and a thin body.

Bodies carry ids, states, quantities and a short summary: what an integration needs to decide whether
to fetch the object through the API. Never a person's name, e-mail address or telephone number, and no
address: a receiver that needs more reads it with its own credentials, under the API's rules.

Every message of one offer (its own events, its claims', handovers' and matches') has the ordering key
`offer:<id>`; the services that change an offer's stock lock its row, so those events are recorded, and
delivered, in commit order."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.utils.translation import gettext_lazy as _

from claims.models import Claim, Handover
from core.models import DomainEvent
from exchange.models import Offer
from exchange.shape import offer_plain_values
from matching.models import Match

# type → what it means (the schema, the endpoints' choices, the README). The domain event of the same
# name is what triggers it.
WEBHOOK_EVENTS: dict[str, Any] = {
    "offer.published": _("An offer of yours was published."),
    "offer.expired": _("An offer of yours reached its end date."),
    "offer.exhausted": _("All of an offer of yours is reserved or collected."),
    "claim.requested": _("A claim was requested on an offer of yours (or by you)."),
    "claim.accepted": _("A claim was accepted."),
    "claim.declined": _("A claim was declined."),
    "claim.cancelled": _("A claim was cancelled."),
    "claim.expired": _("A claim expired: nobody came to collect it."),
    "handover.recorded": _("A handover was recorded and awaits the other party's confirmation."),
    "handover.confirmed": _("A handover was confirmed (or tacitly, once its window closed)."),
    "handover.disputed": _("A handover was disputed."),
    "handover.reversed": _("A handover was reversed."),
    "match.created": _("An offer matches one of your needs."),
    "import.finished": _("A file import of yours has finished."),
}


@dataclass(frozen=True)
class Message:
    type: str
    organisation_ids: tuple[int, ...]  # who hears of it
    ordering_key: str
    data: dict[str, Any]


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)  # as the API writes decimals


def _wire(value: Any) -> Any:
    """A value as the message's JSON carries it: decimals as the API writes them, times in RFC 3339 UTC
    like the message's `timestamp`."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    return value


def _offer_data(offer: Offer) -> dict[str, Any]:
    """The offer's identity, its status and its plain fields: the read shape (exchange/shape.py)."""
    return {
        "offer": offer.pk,
        "external_ref": offer.external_ref or None,
        "status": offer.status,
        **{name: _wire(value) for name, value in offer_plain_values(offer).items()},
    }


def _offer_message(event: DomainEvent) -> Message | None:
    offer = Offer.objects.filter(pk=event.aggregate_id).first()
    if offer is None:
        return None
    data = {**_offer_data(offer), "status": event.payload.get("status", offer.status)}
    data["summary"] = f"Offer {offer.pk} ({offer.title[:80]}): {event.name.split('.')[1]}"
    return Message(event.name, (offer.organisation_id,), f"offer:{offer.pk}", data)


def _claim_message(event: DomainEvent) -> Message | None:
    claim = Claim.objects.select_related("offer").filter(pk=event.aggregate_id).first()
    if claim is None:
        return None
    offer = claim.offer
    data = {
        "claim": claim.pk,
        "offer": offer.pk,
        "external_ref": offer.external_ref or None,
        "claimant": claim.organisation_id,
        "quantity": _text(claim.quantity),
        "unit": offer.unit,
        "status": event.name.split(".")[1],
        "summary": f"Claim {claim.pk} on offer {offer.pk}: {event.name.split('.')[1]}",
    }
    parties = tuple(dict.fromkeys((offer.organisation_id, claim.organisation_id)))
    return Message(event.name, parties, f"offer:{offer.pk}", data)


def _handover_message(event: DomainEvent) -> Message | None:
    handover = Handover.objects.select_related("offer").filter(pk=event.aggregate_id).first()
    if handover is None:
        return None
    data = {
        "handover": handover.pk,
        "claim": handover.claim_id,
        "offer": handover.offer_id,
        "external_ref": handover.offer.external_ref or None,
        "quantity": _text(handover.quantity),
        "unit": handover.unit,
        "mass_kg": _text(handover.mass_kg),
        "reverses": handover.reverses_id,
        "summary": f"Handover {handover.pk} of claim {handover.claim_id}: {event.name.split('.')[1]}",
    }
    parties = tuple(dict.fromkeys((handover.donor_id, handover.recipient_id)))
    return Message(event.name, parties, f"offer:{handover.offer_id}", data)


def _match_message(event: DomainEvent) -> Message | None:
    match = Match.objects.filter(pk=event.aggregate_id).first()
    if match is None:
        return None
    data = {
        "match": match.pk,
        "need": match.need_id,
        "offer": match.offer_id,
        "score": round(match.score, 3),
        "distance_km": round(match.distance_m / 1000, 1),
        "summary": f"Offer {match.offer_id} matches your need {match.need_id}",
    }
    return Message(event.name, (match.organisation_id,), f"offer:{match.offer_id}", data)


def _import_message(event: DomainEvent) -> Message | None:
    if event.organisation_id is None:
        return None
    counts = {key: value for key, value in event.payload.items() if isinstance(value, int | str)}
    data = {"import": event.aggregate_id, **counts, "summary": f"Import {event.aggregate_id} finished"}
    return Message(event.name, (event.organisation_id,), f"{event.aggregate_type}:{event.aggregate_id}", data)


_BUILDERS = {
    "offer": _offer_message,
    "claim": _claim_message,
    "handover": _handover_message,
    "match": _match_message,
    "import": _import_message,
}


def message_for(event: DomainEvent) -> Message | None:
    """The webhook message of a domain event, or None when it has none (its object is gone)."""
    if event.name not in WEBHOOK_EVENTS:
        return None
    return _BUILDERS[event.name.split(".")[0]](event)


def body_of(*, event: DomainEvent, message: Message) -> str:
    """The JSON body, as signed and sent (Standard Webhooks' type / timestamp / data)."""
    payload = {
        "id": f"evt_{event.pk}",
        "type": message.type,
        "timestamp": event.occurred_at.isoformat().replace("+00:00", "Z"),
        "data": message.data,
    }
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)

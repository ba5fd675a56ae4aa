"""What the claim and ledger services share: the clock, events, the claim's lock, and the offer's stock
asked of exchange.lifecycle."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.utils.translation import gettext as _

from core.errors import Conflict
from core.events import event_record
from exchange.lifecycle import offer_close_if_done
from exchange.models import Offer
from organisations.actors import Actor
from organisations.models import Organisation

from ..models import Claim, Handover
from ..selectors import claims_open_on

# The furthest a donor may push a pickup deadline.
MAX_PICKUP_DAYS = 90
# Tolerance for clocks a little ahead of ours when a collection time is given.
CLOCK_SKEW = timedelta(minutes=1)


# Helpers -------------------------------------------------------------------------------------------


def _clock(actor: Actor, now: datetime | None) -> datetime:
    return actor.clock(now)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _event(
    name: str,
    obj: Claim | Handover | Offer | Organisation,
    *,
    actor: Actor,
    organisation_id: int | None,
    **data: Any,
) -> None:
    event_record(
        name=name,
        aggregate_type=str(obj._meta.model_name),
        aggregate_id=obj.pk,
        actor=actor.label,
        organisation_id=organisation_id,
        payload={key: _jsonable(value) for key, value in data.items()},
    )


def _locked_claim(claim: Claim) -> Claim:
    """The claim again, row-locked, with its offer (the offer row itself is not locked here)."""
    return (
        Claim.objects.select_for_update(of=("self",))
        .select_related("offer", "offer__category", "offer__site")
        .get(pk=claim.pk)
    )


def _close_if_done(*, offer_id: int, actor: Actor, now: datetime) -> None:
    """Close the offer if all its stock is gone and no claim on it is open (exchange.lifecycle)."""
    offer_close_if_done(offer_id=offer_id, actor_label=actor.label, now=now, claims_open=claims_open_on)


def _close(claim: Claim, *, status: str, party: str, reason: str, now: datetime) -> None:
    claim.status = status
    claim.closed_at = now
    claim.closed_by_party = party
    claim.close_reason = reason[:200]
    claim.save(update_fields=["status", "closed_at", "closed_by_party", "close_reason", "updated_at"])


def handover_lock(handover: Handover) -> None:
    """Serialises what is done to one ledger row: answers, reversal, settlement. A lock is not an UPDATE:
    the append-only trigger lets it be."""
    Handover.objects.select_for_update(no_key=True).filter(pk=handover.pk).values_list("pk", flat=True).get()


def handover_lock_unreversed(handover: Handover) -> None:
    """Lock the row, or 409 `handover_reversed` when it has been reversed."""
    handover_lock(handover)
    if Handover.objects.filter(reverses_id=handover.pk).exists():
        raise Conflict(_("This handover has been reversed."), code="handover_reversed")

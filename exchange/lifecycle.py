"""The offer's life cycle, in one place: its statuses and its stock.

Statuses. draft → published ⇄ exhausted → closed, with withdrawn (by the firm or the operator) and
expired (the availability window ended) as the other ends. Who may publish (an offering, verified
organisation, an active site, an open window), what may be withdrawn or closed, and when a live offer is
exhausted are decided here; the services and the bulk path (exchange.bulk) apply them.

Stock. An offer's quantity is in three parts that always add up (a CHECK constraint guards it):
    quantity = remaining + reserved + collected,
reserved being what accepted claims hold, collected what was handed over (for a loan: what is out on
loan now; a return puts it back in remaining). Claims do not write these columns: they ask this module to
take stock (`stock_take`, one conditional UPDATE whose row count says whether it won), to give it back
(`stock_give_back`), to change what a handover collected (`stock_recollect`) and to close an offer whose
stock is all gone (`offer_close_if_done`). A live offer is exhausted exactly when nothing remains: the
rule is `status_after_quantity_change`, and `_exhausted_when_taking` is its SQL twin for those UPDATEs.

Each change records its domain event (exchange.events); an `actor_label` says who made it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal

from django.db import transaction
from django.db.models import Case, F, Q, Value, When
from django.db.models.expressions import Combinable
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import Conflict, PermissionDenied
from organisations.models import Organisation, OrganisationKind

from .events import OfferEvent, offer_change, offer_record
from .models import Offer, OfferMode, OfferStatus
from .rules import quantity_text

OFFERING_KINDS = (OrganisationKind.COMPANY, OrganisationKind.PUBLIC_AUTHORITY)
# Statuses in which stock can be taken or given back, and `exhausted` is a matter of quantity.
LIVE_STOCK_STATUSES = (OfferStatus.PUBLISHED, OfferStatus.EXHAUSTED)


# Statuses ------------------------------------------------------------------------------------------


def require_offering_organisation(organisation: Organisation) -> None:
    if organisation.kind not in OFFERING_KINDS:
        raise PermissionDenied(
            _("Only companies and public authorities post offers; associations and projects claim them."),
            code="organisation_kind_cannot_offer",
        )


def require_verified(organisation: Organisation) -> None:
    if not organisation.is_verified:
        raise PermissionDenied(
            _("Your organisation must be verified by the operator before it publishes offers."),
            code="organisation_not_verified",
        )


def require_status(offer: Offer, allowed: tuple[str, ...], refusal: str) -> None:
    """`refusal` is a whole translated sentence around %(status)s: a verb slotted into one shared
    sentence cannot agree with its noun in French."""
    if offer.status not in allowed:
        raise Conflict(
            refusal % {"status": OfferStatus(offer.status).label},
            code="offer_status_conflict",
            extra={"offer_status": offer.status},
        )


def status_after_quantity_change(offer: Offer) -> str:
    """A live offer is exhausted exactly when nothing remains to reserve."""
    if offer.status in LIVE_STOCK_STATUSES:
        return OfferStatus.EXHAUSTED if offer.remaining_quantity == 0 else OfferStatus.PUBLISHED
    return offer.status


def window_open(now: dt.datetime) -> Q:
    """Offers whose availability window has not ended at `now`."""
    return Q(available_until__isnull=True) | Q(available_until__gt=now)


def _window_open_for(offer: Offer, now: dt.datetime) -> bool:
    return offer.available_until is None or offer.available_until > now


def offer_publish_apply(offer: Offer, *, now: dt.datetime) -> OfferEvent:
    """Publish a draft in memory, its rules checked (the organisation may offer and is verified, the
    site is active, the window is not over), and its `offer.published`. Raises PermissionDenied or
    Conflict."""
    require_offering_organisation(offer.organisation)
    require_verified(offer.organisation)
    if not offer.site.is_active:
        raise Conflict(_("This offer's site has been retired; move the offer first."), code="site_retired")
    if offer.available_until is not None and offer.available_until <= now:
        raise Conflict(
            _("The availability window of this offer is over; extend it before publishing."),
            code="offer_window_over",
        )
    offer.status = OfferStatus.PUBLISHED
    offer.published_at = now
    return offer_change(offer, "offer.published", category_id=offer.category_id, site_id=offer.site_id)


def offer_withdraw_apply(offer: Offer, *, now: dt.datetime) -> OfferEvent:
    """Withdraw the locked offer in memory, its rules checked, and its `offer.withdrawn`. Raises
    Conflict."""
    require_status(
        offer,
        (OfferStatus.DRAFT, OfferStatus.PUBLISHED),
        _("The offer's status is %(status)s: it cannot be withdrawn."),
    )
    if offer.reserved_quantity:
        raise Conflict(
            _("Accepted claims hold part of this offer: close it instead, so they can still be collected."),
            code="offer_has_reservations",
            extra={"reserved_quantity": quantity_text(offer.reserved_quantity)},
        )
    offer.status = OfferStatus.WITHDRAWN
    offer.closed_at = now
    return offer_change(offer, "offer.withdrawn")


def offer_close_apply(offer: Offer, *, now: dt.datetime) -> OfferEvent:
    """Close the locked offer in memory: no new claims; claims already accepted may still be collected.
    Raises Conflict."""
    require_status(
        offer,
        LIVE_STOCK_STATUSES,
        _("The offer's status is %(status)s: it cannot be closed."),
    )
    offer.status = OfferStatus.CLOSED
    offer.closed_at = now
    return offer_change(offer, "offer.closed")


def offers_expire_due(*, now: dt.datetime | None = None, batch_size: int = 500) -> int:
    """Published offers whose availability ended become expired; returns how many. Safe to run twice or
    concurrently: each batch locks its rows (skipping rows another run holds) and re-checks the status."""
    now = now or timezone.now()
    expired = 0
    while True:
        with transaction.atomic():
            offers = list(
                Offer.objects.select_for_update(skip_locked=True)
                .filter(status=OfferStatus.PUBLISHED, available_until__lte=now)
                .order_by("pk")
                .only("pk", "organisation_id", "status")[:batch_size]
            )
            if not offers:
                return expired
            Offer.objects.filter(pk__in=[o.pk for o in offers]).update(
                status=OfferStatus.EXPIRED, updated_at=timezone.now()
            )
            for offer in offers:
                offer.status = OfferStatus.EXPIRED
                offer_record(offer, "offer.expired", "system")
            expired += len(offers)


# Stock ---------------------------------------------------------------------------------------------


def insufficient(offer: Offer) -> Conflict:
    """409: less remains than was asked for."""
    return Conflict(
        _("Only %(remaining)s %(unit)s of this offer remain.")
        % {"remaining": quantity_text(offer.remaining_quantity), "unit": offer.unit},
        code="insufficient_quantity",
        extra={"remaining_quantity": quantity_text(offer.remaining_quantity)},
    )


def unavailable(offer: Offer, now: dt.datetime) -> Conflict:
    """409: why stock cannot be taken from this offer now (too little left, or no longer claimable)."""
    if offer.status in LIVE_STOCK_STATUSES and _window_open_for(offer, now):
        return insufficient(offer)
    return Conflict(
        _("This offer can no longer be claimed."),
        code="offer_not_claimable",
        extra={"offer_status": offer.status},
    )


def _exhausted_when_taking(quantity: Decimal) -> Case:
    """status_after_quantity_change, for an UPDATE taking `quantity` out of the remaining part."""
    return Case(
        When(status__in=LIVE_STOCK_STATUSES, remaining_quantity=quantity, then=Value(OfferStatus.EXHAUSTED)),
        default=F("status"),
    )


def stock_take(*, offer_id: int, quantity: Decimal, actor_label: str, now: dt.datetime) -> None:
    """Reserve `quantity` of a published offer, or raise 409. One conditional UPDATE: concurrent takers
    queue on the row lock and each re-checks the condition against the committed value."""
    taken = Offer.objects.filter(
        window_open(now), pk=offer_id, status=OfferStatus.PUBLISHED, remaining_quantity__gte=quantity
    ).update(
        remaining_quantity=F("remaining_quantity") - quantity,
        reserved_quantity=F("reserved_quantity") + quantity,
        status=_exhausted_when_taking(quantity),
        updated_at=timezone.now(),
    )
    offer = Offer.objects.get(pk=offer_id)
    if not taken:
        raise unavailable(offer, now)
    if offer.status == OfferStatus.EXHAUSTED:
        offer_record(offer, "offer.exhausted", actor_label)


def stock_give_back(
    *,
    offer_id: int,
    quantity: Decimal,
    actor_label: str,
    now: dt.datetime,
    collected: Decimal = Decimal("0"),
    source: str = "reserved_quantity",
) -> None:
    """Move `quantity` + `collected` out of `source` (what accepted claims hold, or, for a returned
    loan, what was out on loan): `collected` to the collected part, `quantity` back to the remaining
    one. An exhausted offer given something back is live again while its window is open."""
    if quantity <= 0 and collected <= 0:
        return
    offer = Offer.objects.select_for_update().get(pk=offer_id)
    status = offer.status
    if status == OfferStatus.EXHAUSTED and quantity > 0:
        status = OfferStatus.PUBLISHED if _window_open_for(offer, now) else OfferStatus.EXPIRED
    moves: dict[str, Combinable] = {
        "remaining_quantity": F("remaining_quantity") + quantity,
        "collected_quantity": F("collected_quantity") + collected,
    }
    moves[source] = F(source) - (quantity + collected)
    Offer.objects.filter(pk=offer_id).update(**moves, status=status, updated_at=timezone.now())
    if status != offer.status:
        offer.status = status
        offer_record(
            offer, "offer.reopened" if status == OfferStatus.PUBLISHED else "offer.expired", actor_label
        )


def stock_recollect(
    *, offer_id: int, before: Decimal, after: Decimal, actor_label: str, now: dt.datetime
) -> None:
    """A handover's collected quantity changes from `before` to `after` (a correction): the difference
    moves between the collected and the remaining parts (taking more needs that much remaining)."""
    if after < before:
        stock_give_back(
            offer_id=offer_id,
            quantity=before - after,
            actor_label=actor_label,
            now=now,
            source="collected_quantity",
        )
    elif after > before:
        more = after - before
        taken = Offer.objects.filter(pk=offer_id, remaining_quantity__gte=more).update(
            remaining_quantity=F("remaining_quantity") - more,
            collected_quantity=F("collected_quantity") + more,
            status=_exhausted_when_taking(more),
            updated_at=timezone.now(),
        )
        if not taken:
            raise insufficient(Offer.objects.get(pk=offer_id))


def offer_close_if_done(
    *, offer_id: int, actor_label: str, now: dt.datetime, claims_open: Callable[[int], bool]
) -> None:
    """An exhausted offer closes once nothing remains and no claim on it is open (`claims_open(offer_id)`,
    asked under the offer's lock: claims are the claims app's), unless it is a loan with items out:
    their return makes them lendable again."""
    offer = Offer.objects.select_for_update().get(pk=offer_id)
    if offer.status != OfferStatus.EXHAUSTED or offer.remaining_quantity != 0:
        return
    if offer.mode == OfferMode.LOAN and offer.collected_quantity > 0:
        return
    if claims_open(offer_id):
        return
    Offer.objects.filter(pk=offer_id).update(
        status=OfferStatus.CLOSED, closed_at=now, updated_at=timezone.now()
    )
    offer.status = OfferStatus.CLOSED
    offer_record(offer, "offer.closed", actor_label, reason="all collected")

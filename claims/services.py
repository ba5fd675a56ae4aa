"""State changes of claims and of the handover ledger. One function per change, in a transaction, called
alike by views, the admin, commands and tasks.

Quantities. An offer's stock is in three parts that always add up (a CHECK constraint guards it):
    quantity = remaining + reserved + collected,
reserved being what accepted claims hold, collected what was handed over (for a loan: what is out on
loan now; a return puts it back in remaining, claims/loans.py).
A *requested* claim holds nothing: it is checked against the remaining quantity when made (to refuse
early, 409 with `remaining_quantity`), and again, atomically, when accepted: one conditional
`UPDATE … SET remaining = remaining − q WHERE status = 'published' AND remaining >= q` whose row count
says whether it won. The CHECK constraint 0 ≤ remaining ≤ quantity is the last guard. Declining,
cancelling and expiring give back what was taken; a handover moves what was collected from reserved to
collected and gives back the rest.

A reversal corrects the ledger, not the stock: goods that left the yard do not come back to the offer,
and the claim stays collected.

Locks are taken in one order: claimant organisation → claim → offer → ledger row. The claimant's row
serialises what is counted per recipient: the caps on open claims, and its standing for automatic
acceptance (strikes and automatically accepted claims, see claims/selectors.py).

Clock. Every service takes `now`, for the system's seeding path only (demo data spread over a year):
people and API keys always act at the present time.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Case, F, Q, Value, When
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import Conflict, InvalidInput, LimitExceeded, NotFound, PermissionDenied
from core.events import event_record
from exchange.models import Offer, OfferMode, OfferStatus
from exchange.rules import PUBLIC_STATUSES
from inventory.plausibility import quantity_check
from organisations.actors import Actor
from organisations.models import RECIPIENT_KINDS, Organisation

from .ledger import LedgerFigures, ledger_figures, mass_of
from .models import (
    OPEN_CLAIM_STATUSES,
    Claim,
    ClaimStatus,
    ConfirmationState,
    Handover,
    HandoverConfirmation,
    Party,
)
from .selectors import (
    auto_accept_resumes_at,
    broken_after_reveal,
    claim_get,
    claim_party_of,
    handover_get,
    location_revealed_at,
    recipient_standing,
    strikes_since,
)

# The furthest a donor may push a pickup deadline.
MAX_PICKUP_DAYS = 90
# Tolerance for clocks a little ahead of ours when a collection time is given.
CLOCK_SKEW = timedelta(minutes=1)


# Helpers -------------------------------------------------------------------------------------------


def _clock(actor: Actor, now: datetime | None) -> datetime:
    if now is None:
        return timezone.now()
    if not actor.system:
        raise ValueError("Only the system actor may set the clock (seeding path).")
    return now


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
    **data,
):
    event_record(
        name=name,
        aggregate_type=obj._meta.model_name,
        aggregate_id=obj.pk,
        actor=actor.label,
        organisation_id=organisation_id,
        payload={key: _jsonable(value) for key, value in data.items()},
    )


def _quantity_text(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.001")))


def _window_open(now: datetime) -> Q:
    return Q(available_until__isnull=True) | Q(available_until__gt=now)


def _insufficient(offer: Offer) -> Conflict:
    return Conflict(
        _("Only %(remaining)s %(unit)s of this offer remain.")
        % {"remaining": _quantity_text(offer.remaining_quantity), "unit": offer.unit},
        code="insufficient_quantity",
        extra={"remaining_quantity": _quantity_text(offer.remaining_quantity)},
    )


def _unavailable(offer: Offer, now: datetime) -> Conflict:
    window_open = offer.available_until is None or offer.available_until > now
    if offer.status in (OfferStatus.PUBLISHED, OfferStatus.EXHAUSTED) and window_open:
        return _insufficient(offer)
    return Conflict(
        _("This offer can no longer be claimed."),
        code="offer_not_claimable",
        extra={"offer_status": offer.status},
    )


def _locked_claim(claim: Claim) -> Claim:
    """The claim again, row-locked, with its offer (the offer row itself is not locked here)."""
    return (
        Claim.objects.select_for_update(of=("self",))
        .select_related("offer", "offer__category", "offer__site")
        .get(pk=claim.pk)
    )


# Offer quantity ------------------------------------------------------------------------------------


def _take(*, offer_id: int, quantity: Decimal, actor: Actor, now: datetime) -> None:
    """Reserve `quantity` of a published offer, or raise 409. One conditional UPDATE: concurrent takers
    queue on the row lock and each re-checks the condition against the committed value."""
    taken = Offer.objects.filter(
        _window_open(now), pk=offer_id, status=OfferStatus.PUBLISHED, remaining_quantity__gte=quantity
    ).update(
        remaining_quantity=F("remaining_quantity") - quantity,
        reserved_quantity=F("reserved_quantity") + quantity,
        status=Case(
            When(remaining_quantity=quantity, then=Value(OfferStatus.EXHAUSTED)), default=F("status")
        ),
        updated_at=timezone.now(),
    )
    offer = Offer.objects.get(pk=offer_id)
    if not taken:
        raise _unavailable(offer, now)
    if offer.status == OfferStatus.EXHAUSTED:
        _event("offer.exhausted", offer, actor=actor, organisation_id=offer.organisation_id)


def _give_back(
    *,
    offer_id: int,
    quantity: Decimal,
    actor: Actor,
    now: datetime,
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
        window_open = offer.available_until is None or offer.available_until > now
        status = OfferStatus.PUBLISHED if window_open else OfferStatus.EXPIRED
    moves = {
        "remaining_quantity": F("remaining_quantity") + quantity,
        "collected_quantity": F("collected_quantity") + collected,
    }
    moves[source] = F(source) - (quantity + collected)
    Offer.objects.filter(pk=offer_id).update(**moves, status=status, updated_at=timezone.now())
    if status != offer.status:
        name = "offer.reopened" if status == OfferStatus.PUBLISHED else "offer.expired"
        _event(name, offer, actor=actor, organisation_id=offer.organisation_id)


def _close_if_done(*, offer_id: int, actor: Actor, now: datetime) -> None:
    """An exhausted offer closes once nothing remains and no claim on it is open, unless it is a loan
    with items out: their return makes them lendable again (claims/loans.py)."""
    offer = Offer.objects.select_for_update().get(pk=offer_id)
    if offer.status != OfferStatus.EXHAUSTED or offer.remaining_quantity != 0:
        return
    if offer.mode == OfferMode.LOAN and offer.collected_quantity > 0:
        return
    if Claim.objects.filter(offer_id=offer_id, status__in=OPEN_CLAIM_STATUSES).exists():
        return
    Offer.objects.filter(pk=offer_id).update(
        status=OfferStatus.CLOSED, closed_at=now, updated_at=timezone.now()
    )
    _event("offer.closed", offer, actor=actor, organisation_id=offer.organisation_id, reason="all collected")


# Claims --------------------------------------------------------------------------------------------


def _require_recipient(organisation: Organisation) -> None:
    if organisation.kind not in RECIPIENT_KINDS:
        raise PermissionDenied(
            _("Only associations and community projects may claim offers."), code="recipient_kind_required"
        )
    if not organisation.is_verified:
        raise PermissionDenied(
            _("Your organisation must be verified before it can claim offers."),
            code="organisation_not_verified",
        )


def _lock_claimant(organisation_id: int) -> None:
    list(Organisation.objects.select_for_update().filter(pk=organisation_id).values_list("pk", flat=True))


def _check_caps(*, organisation: Organisation, offer: Offer, quantity: Decimal) -> None:
    """Anti-hoarding caps. The claimant's row is locked first, so two requests of the same organisation
    count one after the other and cannot both slip under a cap."""
    _lock_claimant(organisation.pk)
    open_claims = list(
        Claim.objects.filter(organisation=organisation, status__in=OPEN_CLAIM_STATUSES).select_related(
            "offer", "offer__category"
        )
    )
    max_claims = settings.BOUCLE_MAX_OPEN_CLAIMS_PER_ORG
    if len(open_claims) >= max_claims:
        raise LimitExceeded(
            _("Your organisation already has %(count)d open claims, the most allowed.")
            % {"count": max_claims},
            code="open_claims_limit",
            extra={"limit": max_claims},
        )
    # Lots whose mass is unknown count for nothing here: the cap is on what can be estimated.
    open_kg = sum((_estimated_kg(claim.offer, claim.quantity) for claim in open_claims), Decimal("0"))
    requested_kg = _estimated_kg(offer, quantity)
    max_kg = Decimal(settings.BOUCLE_MAX_OPEN_CLAIM_KG)
    if open_kg + requested_kg > max_kg:
        raise LimitExceeded(
            _("Open claims of your organisation would exceed %(limit)s kg.") % {"limit": max_kg},
            code="open_claim_mass_limit",
            extra={
                "limit_kg": _quantity_text(max_kg),
                "open_kg": _quantity_text(open_kg),
                "requested_kg": _quantity_text(requested_kg),
            },
        )


def _estimated_kg(offer: Offer, quantity: Decimal) -> Decimal:
    known = mass_of(offer, quantity)
    return known[0] if known else Decimal("0")


@transaction.atomic
def claim_request(
    *,
    actor: Actor,
    offer_id: int,
    quantity: Decimal,
    message: str = "",
    organisation_id: int | None = None,
    now: datetime | None = None,
) -> Claim:
    """A verified association or project asks for `quantity` of a published offer. Accepted at once when
    the offer auto-accepts and the claimant is in good standing (and then refused as a whole if the
    quantity is no longer there); otherwise left requested for the donor, with the reason."""
    now = _clock(actor, now)
    actor.require_write()
    organisation = actor.acting_organisation(organisation_id)
    _require_recipient(organisation)
    offer = Offer.objects.select_related("category").filter(pk=offer_id).first()
    if offer is None or (offer.status not in PUBLIC_STATUSES and offer.organisation_id != organisation.pk):
        raise NotFound(_("No such offer."))
    if offer.organisation_id == organisation.pk:
        raise PermissionDenied(_("You cannot claim your own organisation's offer."), code="own_offer")
    quantity = quantity_check(quantity, unit=offer.unit)
    if offer.status != OfferStatus.PUBLISHED or quantity > offer.remaining_quantity:
        raise _unavailable(offer, now)
    if offer.available_until is not None and offer.available_until <= now:
        raise _unavailable(offer, now)
    _check_caps(organisation=organisation, offer=offer, quantity=quantity)
    withheld = ""
    if offer.auto_accept_claims:  # read under the claimant's lock taken by _check_caps
        withheld = recipient_standing(organisation_id=organisation.pk, now=now).withheld

    claim = Claim.objects.create(
        offer=offer,
        organisation=organisation,
        created_by=actor.user,
        quantity=quantity,
        message=message,
        status=ClaimStatus.REQUESTED,
        auto_accept_withheld=withheld,
    )
    if actor.system:  # backdated seeding: the request happened at `now`
        Claim.objects.filter(pk=claim.pk).update(created_at=now)
        claim.created_at = now
    _event(
        "claim.requested",
        claim,
        actor=actor,
        organisation_id=organisation.pk,
        offer_id=offer.pk,
        quantity=quantity,
        auto_accept_withheld=withheld,
        at=now,
    )
    if offer.auto_accept_claims and not withheld:
        _accept(claim=claim, actor=actor, now=now, pickup_deadline=None, automatic=True)
    return claim_get(actor=actor, claim_id=claim.pk)


def _accept(
    *,
    claim: Claim,
    actor: Actor,
    now: datetime,
    pickup_deadline: datetime | None,
    automatic: bool,
    loan_due_at: datetime | None = None,
) -> None:
    from .loans import loan_due_at_for  # claims/loans.py builds on this module

    available_from = claim.offer.available_from
    # Counted from when the lot can be collected: a lot available next month is not a no-show next week.
    pickup_deadline = pickup_deadline or max(now, available_from) + timedelta(
        days=settings.BOUCLE_PICKUP_DAYS
    )
    loan_due_at = loan_due_at_for(
        offer=claim.offer, pickup_deadline=pickup_deadline, loan_due_at=loan_due_at, now=now
    )
    _take(offer_id=claim.offer_id, quantity=claim.quantity, actor=actor, now=now)
    claim.status = ClaimStatus.ACCEPTED
    claim.accepted_at = now
    claim.auto_accepted = automatic
    claim.location_revealed_at = location_revealed_at(
        accepted_at=now, available_from=available_from, automatic=automatic
    )
    claim.pickup_deadline = pickup_deadline
    claim.loan_due_at = loan_due_at
    claim.save(
        update_fields=[
            "status",
            "accepted_at",
            "auto_accepted",
            "location_revealed_at",
            "pickup_deadline",
            "loan_due_at",
            "updated_at",
        ]
    )
    _event(
        "claim.accepted",
        claim,
        actor=actor,
        organisation_id=claim.offer.organisation_id,
        automatic=automatic,
        pickup_deadline=claim.pickup_deadline,
        location_revealed_at=claim.location_revealed_at,
        loan_due_at=claim.loan_due_at,
        at=now,
    )


def _require_donor(actor: Actor, claim: Claim) -> None:
    if not (actor.system or actor.is_member(claim.offer.organisation_id)):
        raise PermissionDenied(_("Only the donor may do this."), code="donor_only")


@transaction.atomic
def claim_accept(
    *,
    actor: Actor,
    claim_id: int,
    pickup_deadline: datetime | None = None,
    loan_due_at: datetime | None = None,
    now: datetime | None = None,
) -> Claim:
    """The donor accepts a requested claim: the quantity leaves the offer, and the recipient may now see
    the exact pickup place and the donor's contact. On a loan, `loan_due_at` is when the equipment is due
    back (claims/loans.py)."""
    now = _clock(actor, now)
    actor.require_write()
    claim = claim_get(actor=actor, claim_id=claim_id)
    _require_donor(actor, claim)
    if pickup_deadline is not None and not now < pickup_deadline <= now + timedelta(days=MAX_PICKUP_DAYS):
        message = _("The pickup deadline must be in the future, within %(days)d days.") % {
            "days": MAX_PICKUP_DAYS
        }
        raise InvalidInput(message, field_errors={"pickup_deadline": [message]})
    claim = _locked_claim(claim)
    if claim.status != ClaimStatus.REQUESTED:
        raise Conflict(
            _("Only a requested claim can be accepted."),
            code="claim_not_requested",
            extra={"status": claim.status},
        )
    _accept(
        claim=claim,
        actor=actor,
        now=now,
        pickup_deadline=pickup_deadline,
        automatic=False,
        loan_due_at=loan_due_at,
    )
    return claim_get(actor=actor, claim_id=claim.pk)


def _close(claim: Claim, *, status: str, party: str, reason: str, now: datetime) -> None:
    claim.status = status
    claim.closed_at = now
    claim.closed_by_party = party
    claim.close_reason = reason[:200]
    claim.save(update_fields=["status", "closed_at", "closed_by_party", "close_reason", "updated_at"])


@transaction.atomic
def claim_decline(*, actor: Actor, claim_id: int, reason: str = "", now: datetime | None = None) -> Claim:
    now = _clock(actor, now)
    actor.require_write()
    claim = claim_get(actor=actor, claim_id=claim_id)
    _require_donor(actor, claim)
    claim = _locked_claim(claim)
    if claim.status != ClaimStatus.REQUESTED:
        raise Conflict(
            _("Only a requested claim can be declined; cancel an accepted one."),
            code="claim_not_requested",
            extra={"status": claim.status},
        )
    party = Party.DONOR if actor.is_member(claim.offer.organisation_id) else Party.SYSTEM
    _close(claim, status=ClaimStatus.DECLINED, party=party, reason=reason, now=now)
    _event(
        "claim.declined",
        claim,
        actor=actor,
        organisation_id=claim.offer.organisation_id,
        by=party,
        reason=reason,
    )
    _close_if_done(offer_id=claim.offer_id, actor=actor, now=now)
    return claim_get(actor=actor, claim_id=claim.pk)


# Offers that can no longer be claimed: their requested claims are declined by the system.
DEAD_OFFER_STATUSES = (OfferStatus.WITHDRAWN, OfferStatus.CLOSED, OfferStatus.EXPIRED)


def claims_requested_on_dead_offers(*, offer_id: int | None = None, limit: int = 1000) -> list[int]:
    qs = Claim.objects.filter(status=ClaimStatus.REQUESTED, offer__status__in=DEAD_OFFER_STATUSES)
    if offer_id is not None:
        qs = qs.filter(offer_id=offer_id)
    return list(qs.order_by("id").values_list("id", flat=True)[:limit])


def claims_decline_on_dead_offers(*, offer_id: int | None = None) -> int:
    """Declines (as the system, not counted against the donor) the requested claims on offers that were
    withdrawn, closed or expired. Each claim in its own transaction; safe to run twice."""
    actor = Actor.for_system()
    declined = 0
    for claim_id in claims_requested_on_dead_offers(offer_id=offer_id):
        try:
            claim_decline(actor=actor, claim_id=claim_id, reason="offer no longer available")
        except Conflict:  # answered meanwhile
            continue
        declined += 1
    return declined


@transaction.atomic
def claim_cancel(*, actor: Actor, claim_id: int, reason: str = "", now: datetime | None = None) -> Claim:
    """Either side (or the operator) calls a claim off before pickup; an accepted claim gives its
    quantity back to the offer."""
    now = _clock(actor, now)
    actor.require_write()
    claim = claim_get(actor=actor, claim_id=claim_id)
    party = claim_party_of(actor=actor, claim=claim) or (
        Party.SYSTEM if actor.system else Party.OPERATOR if actor.is_operator else None
    )
    if party is None:  # pragma: no cover - claim_get already scoped the claim to parties and operators
        raise NotFound(_("No such claim."))
    _lock_claimant(claim.organisation_id)
    claim = _locked_claim(claim)
    if claim.status not in OPEN_CLAIM_STATUSES:
        raise Conflict(
            _("Only a requested or accepted claim can be cancelled."),
            code="claim_not_open",
            extra={"status": claim.status},
        )
    was_accepted = claim.status == ClaimStatus.ACCEPTED
    _close(claim, status=ClaimStatus.CANCELLED, party=party, reason=reason, now=now)
    if was_accepted:
        _give_back(offer_id=claim.offer_id, quantity=claim.quantity, actor=actor, now=now)
    organisation_id = claim.offer.organisation_id if party == Party.DONOR else claim.organisation_id
    _event(
        "claim.cancelled",
        claim,
        actor=actor,
        organisation_id=organisation_id,
        by=party,
        reason=reason,
        quantity_returned=claim.quantity if was_accepted else Decimal("0"),
    )
    _count_strike(claim=claim, actor=actor, now=now)
    _close_if_done(offer_id=claim.offer_id, actor=actor, now=now)
    return claim_get(actor=actor, claim_id=claim.pk)


@transaction.atomic
def claim_expire(*, claim_id: int, now: datetime | None = None) -> bool:
    """An accepted claim whose pickup deadline passed without a handover: a no-show of the recipient.
    Returns False when there is nothing to do (already collected, cancelled, not yet due): safe to run
    twice or concurrently."""
    actor = Actor.for_system()
    now = _clock(actor, now)
    claimant_id = Claim.objects.filter(pk=claim_id).values_list("organisation_id", flat=True).first()
    if claimant_id is None:
        return False
    _lock_claimant(claimant_id)
    claim = Claim.objects.select_for_update(of=("self",)).select_related("offer").get(pk=claim_id)
    if claim.status != ClaimStatus.ACCEPTED or claim.pickup_deadline >= now:
        return False
    _close(claim, status=ClaimStatus.EXPIRED, party=Party.SYSTEM, reason="no-show", now=now)
    _give_back(offer_id=claim.offer_id, quantity=claim.quantity, actor=actor, now=now)
    _event(
        "claim.expired",
        claim,
        actor=actor,
        organisation_id=claim.organisation_id,
        no_show=True,
        pickup_deadline=claim.pickup_deadline,
        quantity_returned=claim.quantity,
    )
    _count_strike(claim=claim, actor=actor, now=now)
    return True


def _count_strike(*, claim: Claim, actor: Actor, now: datetime) -> None:
    """A claim its recipient broke after its place was revealed is a strike. The strike that brings the
    recipient to BOUCLE_AUTO_ACCEPT_STRIKES suspends automatic acceptance for it (claims/selectors.py)
    and tells the operator. The caller holds the recipient's row lock: concurrent strikes are counted
    one after the other, so the suspension is recorded once."""
    if not Claim.objects.filter(broken_after_reveal(), pk=claim.pk).exists():
        return
    organisation_id = claim.organisation_id
    strikes = Claim.objects.filter(
        broken_after_reveal(), organisation_id=organisation_id, closed_at__gte=strikes_since(now)
    ).count()
    if strikes != settings.BOUCLE_AUTO_ACCEPT_STRIKES:
        return
    _event(
        "organisation.auto_accept_suspended",
        Organisation.objects.get(pk=organisation_id),
        actor=actor,
        organisation_id=organisation_id,
        strikes=strikes,
        days=settings.BOUCLE_AUTO_ACCEPT_STRIKE_DAYS,
        claim_id=claim.pk,
        resumes_at=auto_accept_resumes_at(organisation_id=organisation_id, now=now),
    )


def claims_overdue(*, now: datetime | None = None, limit: int = 1000) -> list[int]:
    now = now or timezone.now()
    return list(
        Claim.objects.filter(status=ClaimStatus.ACCEPTED, pickup_deadline__lt=now)
        .order_by("pickup_deadline", "id")
        .values_list("id", flat=True)[:limit]
    )


# The ledger ---------------------------------------------------------------------------------------


def _collection_checks(*, claim: Claim, quantity: Decimal, collected_at: datetime, now: datetime) -> None:
    if quantity > claim.quantity:
        message = _("At most the claimed quantity (%(q)s) can be collected.") % {
            "q": _quantity_text(claim.quantity)
        }
        raise InvalidInput(message, field_errors={"quantity": [message]})
    if collected_at > timezone.now() + CLOCK_SKEW:
        message = _("The collection time cannot be in the future.")
        raise InvalidInput(message, field_errors={"collected_at": [message]})
    if collected_at < claim.created_at:
        message = _("The collection time cannot be before the claim was made.")
        raise InvalidInput(message, field_errors={"collected_at": [message]})


def _weighed_mass(mass_kg: Decimal | None) -> Decimal | None:
    if mass_kg is not None and mass_kg <= 0:
        message = _("A weighed mass must be greater than zero.")
        raise InvalidInput(message, field_errors={"mass_kg": [message]})
    return mass_kg


def _write_row(
    *,
    claim: Claim,
    quantity: Decimal,
    figures: LedgerFigures,
    collected_at: datetime,
    actor: Actor,
    recorder_org_id: int | None,
    note: str,
    now: datetime,
    corrects: Handover | None = None,
) -> Handover:
    """Append a positive ledger row of `claim`: its first handover, or a correction of a reversed row."""
    offer = claim.offer
    donor = Organisation.objects.only("kind").get(pk=offer.organisation_id)
    recipient = Organisation.objects.only("kind").get(pk=claim.organisation_id)
    return Handover.objects.create(
        claim=claim,
        corrects=corrects,
        offer=offer,
        donor=donor,
        donor_kind=donor.kind,
        recipient=recipient,
        recipient_kind=recipient.kind,
        category_id=offer.category_id,
        territory_id=offer.site.territory_id,
        quantity=quantity,
        unit=offer.unit,
        mass_kg=figures.mass_kg,
        mass_method=figures.mass_method,
        expected_mass_kg=figures.expected_mass_kg,
        mass_confirmed=figures.mass_confirmed,
        outlier=figures.outlier,
        mode=figures.mode,
        factor_version=figures.factor_version,
        factor_basis=figures.factor_basis,
        factor_kgco2e=figures.factor_kgco2e,
        factor_source=figures.factor_source,
        factor_status=figures.factor_status,
        factor_items=figures.factor_items,
        co2e_avoided_kg=figures.co2e_avoided_kg,
        collected_at=collected_at,
        recorded_at=now,
        recorded_by=actor.label,
        recorded_by_organisation_id=recorder_org_id,
        note=note,
    )


def _recorded_event(handover: Handover, *, actor: Actor, organisation_id: int | None) -> None:
    _event(
        "handover.corrected" if handover.corrects_id else "handover.recorded",
        handover,
        actor=actor,
        organisation_id=organisation_id,
        claim_id=handover.claim_id,
        corrects_id=handover.corrects_id,
        quantity=handover.quantity,
        mass_kg=handover.mass_kg,
        mass_method=handover.mass_method,
        outlier=handover.outlier,
        co2e_avoided_kg=handover.co2e_avoided_kg,
        collected_at=handover.collected_at,
    )


def _correctable_row(claim: Claim) -> Handover | None:
    """The claim's latest positive row when it has been reversed and not yet corrected: what a new
    handover of a collected claim corrects. None when the claim's ledger holds a live row."""
    latest = (
        Handover.objects.filter(claim_id=claim.pk, reverses__isnull=True)
        .select_related("reversed_by")
        .order_by("-id")
        .first()
    )
    if latest is None or not Handover.objects.filter(reverses_id=latest.pk).exists():
        return None
    return latest


def _recollect(*, offer_id: int, before: Decimal, after: Decimal, actor: Actor, now: datetime) -> None:
    """A correction changes what was collected from `before` to `after`: the difference moves between
    the collected and the remaining parts of the offer (taking more needs that much remaining)."""
    if after < before:
        _give_back(
            offer_id=offer_id, quantity=before - after, actor=actor, now=now, source="collected_quantity"
        )
    elif after > before:
        more = after - before
        taken = Offer.objects.filter(pk=offer_id, remaining_quantity__gte=more).update(
            remaining_quantity=F("remaining_quantity") - more,
            collected_quantity=F("collected_quantity") + more,
            status=Case(
                When(
                    status=OfferStatus.PUBLISHED, remaining_quantity=more, then=Value(OfferStatus.EXHAUSTED)
                ),
                default=F("status"),
            ),
            updated_at=timezone.now(),
        )
        if not taken:
            raise _insufficient(Offer.objects.get(pk=offer_id))


def correction_write(
    *,
    actor: Actor,
    claim: Claim,
    corrects: Handover,
    quantity: Decimal,
    mass_kg: Decimal | None,
    mass_confirmed: bool,
    collected_at: datetime,
    recorder_org_id: int | None,
    note: str,
    now: datetime,
) -> Handover:
    """A corrected row for a claim whose row `corrects` was reversed; the caller holds the claim's lock.
    One correction per row (the database's unique `corrects` is the last guard)."""
    offer = claim.offer
    quantity = quantity_check(quantity, offer.unit)
    _collection_checks(claim=claim, quantity=quantity, collected_at=collected_at, now=now)
    if claim.returned_at is not None and quantity != corrects.quantity:
        message = _("This loan has come back: only its mass can be corrected, not its quantity.")
        raise InvalidInput(message, field_errors={"quantity": [message]})
    figures = ledger_figures(
        offer=offer, quantity=quantity, weighed_mass_kg=_weighed_mass(mass_kg), mass_confirmed=mass_confirmed
    )
    _recollect(offer_id=offer.pk, before=corrects.quantity, after=quantity, actor=actor, now=now)
    handover = _write_row(
        claim=claim,
        quantity=quantity,
        figures=figures,
        collected_at=collected_at,
        actor=actor,
        recorder_org_id=recorder_org_id,
        note=note,
        now=now,
        corrects=corrects,
    )
    _recorded_event(handover, actor=actor, organisation_id=recorder_org_id)
    return handover


@transaction.atomic
def handover_record(
    *,
    actor: Actor,
    claim_id: int,
    quantity: Decimal | None = None,
    mass_kg: Decimal | None = None,
    mass_confirmed: bool = False,
    collected_at: datetime | None = None,
    note: str = "",
    now: datetime | None = None,
) -> Handover:
    """Either party records the pickup of an accepted claim: one ledger row, stamped with everything its
    figures need. What was claimed but not collected goes back to the offer. On a collected claim whose
    row was reversed, the same call records the corrected handover (`corrects` the reversed row)."""
    now = _clock(actor, now)
    actor.require_write()
    claim = claim_get(actor=actor, claim_id=claim_id)
    party = claim_party_of(actor=actor, claim=claim)
    if party is None and not actor.system:
        raise PermissionDenied(_("Only the two parties record a handover."), code="party_only")
    recorder_org_id = {Party.RECIPIENT: claim.organisation_id, Party.DONOR: claim.offer.organisation_id}.get(
        party
    )
    claim = _locked_claim(claim)
    collected_at = collected_at or now
    if claim.status == ClaimStatus.COLLECTED:
        corrects = _correctable_row(claim)
        if corrects is None:
            raise Conflict(
                _("This claim has been handed over; reverse its handover first to correct it."),
                code="already_collected",
                extra={"status": claim.status},
            )
        return correction_write(
            actor=actor,
            claim=claim,
            corrects=corrects,
            quantity=quantity if quantity is not None else corrects.quantity,
            mass_kg=mass_kg,
            mass_confirmed=mass_confirmed,
            collected_at=collected_at,
            recorder_org_id=recorder_org_id,
            note=note,
            now=now,
        )
    if claim.status != ClaimStatus.ACCEPTED:
        raise Conflict(
            _("Only an accepted claim can be handed over."),
            code="claim_not_accepted",
            extra={"status": claim.status},
        )

    offer = claim.offer
    quantity = quantity_check(quantity if quantity is not None else claim.quantity, offer.unit)
    _collection_checks(claim=claim, quantity=quantity, collected_at=collected_at, now=now)
    figures = ledger_figures(
        offer=offer, quantity=quantity, weighed_mass_kg=_weighed_mass(mass_kg), mass_confirmed=mass_confirmed
    )
    handover = _write_row(
        claim=claim,
        quantity=quantity,
        figures=figures,
        collected_at=collected_at,
        actor=actor,
        recorder_org_id=recorder_org_id,
        note=note,
        now=now,
    )
    _close(claim, status=ClaimStatus.COLLECTED, party=party or Party.SYSTEM, reason="", now=now)
    _give_back(
        offer_id=offer.pk, quantity=claim.quantity - quantity, collected=quantity, actor=actor, now=now
    )
    _close_if_done(offer_id=offer.pk, actor=actor, now=now)
    _event("claim.collected", claim, actor=actor, organisation_id=recorder_org_id, handover_id=handover.pk)
    _recorded_event(handover, actor=actor, organisation_id=recorder_org_id)
    return handover


def _answering_organisation(actor: Actor, handover: Handover) -> int:
    """The party that may confirm or dispute: the one that did not record the row (either, when the
    operator or the system recorded it)."""
    parties = [handover.recipient_id, handover.donor_id]
    eligible = [org_id for org_id in parties if org_id != handover.recorded_by_organisation_id]
    for org_id in eligible:
        if actor.is_member(org_id) or actor.system:
            return org_id
    raise PermissionDenied(
        _("Only the other party may confirm or dispute this handover."), code="other_party_only"
    )


def handover_lock(handover: Handover) -> None:
    """Serialises what is done to one ledger row: answers, reversal, settlement. A lock is not an UPDATE:
    the append-only trigger lets it be."""
    Handover.objects.select_for_update(no_key=True).filter(pk=handover.pk).values_list("pk", flat=True).get()


def handover_lock_unreversed(handover: Handover) -> None:
    """Lock the row, or 409 `handover_reversed` when it has been reversed."""
    handover_lock(handover)
    if Handover.objects.filter(reverses_id=handover.pk).exists():
        raise Conflict(_("This handover has been reversed."), code="handover_reversed")


def _answer(*, actor: Actor, handover: Handover, state: str, reason: str, now: datetime, tacit: bool) -> None:
    if handover.reverses_id is not None:
        raise Conflict(_("A reversal is not confirmed or disputed."), code="reversal_not_answerable")
    organisation_id = None if tacit else _answering_organisation(actor, handover)
    handover_lock_unreversed(handover)
    if HandoverConfirmation.objects.filter(handover_id=handover.pk).exists():
        raise Conflict(_("This handover has already been answered."), code="already_answered")
    due = handover.recorded_at + timedelta(days=settings.BOUCLE_HANDOVER_CONFIRM_DAYS)
    if not tacit and now > due:
        raise Conflict(
            _("The window to confirm or dispute this handover has closed."),
            code="confirmation_window_closed",
            extra={"due_at": due.isoformat()},
        )
    HandoverConfirmation.objects.create(
        handover=handover,
        state=state,
        reason=reason,
        tacit=tacit,
        organisation_id=organisation_id,
        recorded_by=actor.label,
        recorded_at=now,
    )
    name = "handover.confirmed" if state == ConfirmationState.CONFIRMED else "handover.disputed"
    _event(name, handover, actor=actor, organisation_id=organisation_id, tacit=tacit, reason=reason)


@transaction.atomic
def handover_confirm(*, actor: Actor, handover_id: int, now: datetime | None = None) -> Handover:
    now = _clock(actor, now)
    actor.require_write()
    handover = handover_get(actor=actor, handover_id=handover_id)
    _answer(
        actor=actor, handover=handover, state=ConfirmationState.CONFIRMED, reason="", now=now, tacit=False
    )
    return handover_get(actor=actor, handover_id=handover_id)


@transaction.atomic
def handover_dispute(*, actor: Actor, handover_id: int, reason: str, now: datetime | None = None) -> Handover:
    now = _clock(actor, now)
    actor.require_write()
    handover = handover_get(actor=actor, handover_id=handover_id)
    if not reason.strip():
        message = _("Say why you dispute this handover.")
        raise InvalidInput(message, field_errors={"reason": [message]})
    _answer(
        actor=actor, handover=handover, state=ConfirmationState.DISPUTED, reason=reason, now=now, tacit=False
    )
    return handover_get(actor=actor, handover_id=handover_id)


def _outlier_awaiting_recipient() -> Q:
    """An outlier the donor recorded: only the recipient's explicit answer settles it, never silence."""
    return Q(outlier=True, recorded_by_organisation_id=F("donor_id"))


def handovers_awaiting_tacit_confirmation(*, now: datetime | None = None, limit: int = 1000) -> list[int]:
    now = now or timezone.now()
    return list(
        Handover.objects.filter(
            reverses__isnull=True,
            confirmation__isnull=True,
            reversed_by__isnull=True,
            recorded_at__lt=now - timedelta(days=settings.BOUCLE_HANDOVER_CONFIRM_DAYS),
        )
        .exclude(_outlier_awaiting_recipient())
        .order_by("id")
        .values_list("id", flat=True)[:limit]
    )


@transaction.atomic
def handover_confirm_tacitly(*, handover_id: int) -> bool:
    """No answer within the window: the system appends a tacit confirmation. False when there is nothing
    to do any more (answered, reversed, not yet due)."""
    actor = Actor.for_system()
    now = timezone.now()
    handover = (
        Handover.objects.filter(pk=handover_id, reverses__isnull=True)
        .exclude(_outlier_awaiting_recipient())
        .first()
    )
    if handover is None or now <= handover.recorded_at + timedelta(
        days=settings.BOUCLE_HANDOVER_CONFIRM_DAYS
    ):
        return False
    try:
        _answer(
            actor=actor, handover=handover, state=ConfirmationState.CONFIRMED, reason="", now=now, tacit=True
        )
    except Conflict:
        return False
    return True


def reversal_write(
    *, original: Handover, actor: Actor, reason: str, now: datetime, party_org_id: int | None
) -> Handover:
    """Append the reversal of `original` (negated quantity, mass and CO2e, every other stamp copied, the
    same collection time), or 409 `already_reversed`. Locks the row first: reversals and answers of one
    row happen one after the other."""
    handover_lock(original)
    if Handover.objects.filter(reverses_id=original.pk).exists():
        raise Conflict(_("This handover has already been reversed."), code="already_reversed")
    reversal = Handover.objects.create(
        claim_id=original.claim_id,
        reverses=original,
        offer_id=original.offer_id,
        donor_id=original.donor_id,
        donor_kind=original.donor_kind,
        recipient_id=original.recipient_id,
        recipient_kind=original.recipient_kind,
        category_id=original.category_id,
        territory_id=original.territory_id,
        quantity=-original.quantity,
        unit=original.unit,
        mass_kg=-original.mass_kg,
        mass_method=original.mass_method,
        expected_mass_kg=original.expected_mass_kg,
        mass_confirmed=original.mass_confirmed,
        outlier=original.outlier,
        mode=original.mode,
        factor_version=original.factor_version,
        factor_basis=original.factor_basis,
        factor_kgco2e=original.factor_kgco2e,
        factor_source=original.factor_source,
        factor_status=original.factor_status,
        factor_items=-original.factor_items if original.factor_items is not None else None,
        co2e_avoided_kg=-original.co2e_avoided_kg,
        collected_at=original.collected_at,
        recorded_at=now,
        recorded_by=actor.label,
        recorded_by_organisation_id=party_org_id,
        note=reason,
    )
    _event(
        "handover.reversed",
        original,
        actor=actor,
        organisation_id=party_org_id,
        reversal_id=reversal.pk,
        reason=reason,
    )
    return reversal


@transaction.atomic
def handover_reverse(*, actor: Actor, handover_id: int, reason: str, now: datetime | None = None) -> Handover:
    """A correction: a new row with negated quantity, mass and CO2e pointing at the row it corrects (one
    reversal per row). The operator may reverse at any time, a party within the reverse window. The
    reversal keeps the original collection time, so every period's sums stay net of corrections."""
    now = _clock(actor, now)
    actor.require_write()
    original = handover_get(actor=actor, handover_id=handover_id)
    if not reason.strip():
        message = _("Say why this handover is reversed.")
        raise InvalidInput(message, field_errors={"reason": [message]})
    if original.reverses_id is not None:
        raise Conflict(_("A reversal cannot itself be reversed."), code="reversal_not_reversible")
    party_org_id = next(
        (org_id for org_id in (original.recipient_id, original.donor_id) if actor.is_member(org_id)), None
    )
    if not actor.is_operator:
        due = original.recorded_at + timedelta(days=settings.BOUCLE_HANDOVER_REVERSE_DAYS)
        if now > due:
            raise PermissionDenied(
                _("The window to reverse this handover has closed; ask the operator."),
                code="reverse_window_closed",
            )
    reversal = reversal_write(
        original=original, actor=actor, reason=reason, now=now, party_org_id=party_org_id
    )
    return handover_get(actor=actor, handover_id=reversal.pk)

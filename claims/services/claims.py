"""Claims: a recipient asks for part of an offer, the donor accepts or declines, either side cancels,
the system expires no-shows and declines claims on offers that ended; strikes against automatic
acceptance are counted here."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import Conflict, InvalidInput, LimitExceeded, NotFound, PermissionDenied
from exchange.lifecycle import stock_give_back, stock_take, unavailable
from exchange.models import Offer, OfferStatus
from exchange.rules import PUBLIC_STATUSES, quantity_text
from inventory.plausibility import quantity_check
from organisations.actors import Actor
from organisations.models import RECIPIENT_KINDS, Organisation

from ..ledger import mass_of
from ..models import (
    OPEN_CLAIM_STATUSES,
    Claim,
    ClaimStatus,
    Party,
)
from ..selectors import (
    auto_accept_resumes_at,
    broken_after_reveal,
    claim_get,
    claim_party_of,
    location_revealed_at,
    recipient_standing,
    strikes_since,
)
from ._common import MAX_PICKUP_DAYS, _clock, _close, _close_if_done, _event, _locked_claim


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
                "limit_kg": quantity_text(max_kg),
                "open_kg": quantity_text(open_kg),
                "requested_kg": quantity_text(requested_kg),
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
        raise unavailable(offer, now)
    if offer.available_until is not None and offer.available_until <= now:
        raise unavailable(offer, now)
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
    from ..loans import loan_due_at_for  # claims/loans.py builds on this package

    available_from = claim.offer.available_from
    # Counted from when the lot can be collected: a lot available next month is not a no-show next week.
    pickup_deadline = pickup_deadline or max(now, available_from) + timedelta(
        days=settings.BOUCLE_PICKUP_DAYS
    )
    loan_due_at = loan_due_at_for(
        offer=claim.offer, pickup_deadline=pickup_deadline, loan_due_at=loan_due_at, now=now
    )
    stock_take(offer_id=claim.offer_id, quantity=claim.quantity, actor_label=actor.label, now=now)
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
        stock_give_back(offer_id=claim.offer_id, quantity=claim.quantity, actor_label=actor.label, now=now)
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
    # An accepted claim always has its pickup deadline.
    if claim.status != ClaimStatus.ACCEPTED or claim.pickup_deadline is None or claim.pickup_deadline >= now:
        return False
    _close(claim, status=ClaimStatus.EXPIRED, party=Party.SYSTEM, reason="no-show", now=now)
    stock_give_back(offer_id=claim.offer_id, quantity=claim.quantity, actor_label=actor.label, now=now)
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
    recipient to BOUCLE_AUTO_ACCEPT_STRIKES suspends automatic acceptance for it (claims/selectors/reveal.py)
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

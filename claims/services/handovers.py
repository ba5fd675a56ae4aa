"""The ledger's positive rows: a handover recorded by either party, stamped with everything its figures
need, and the correction of a reversed row. What was claimed but not collected goes back to the offer."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import Conflict, InvalidInput, PermissionDenied
from exchange.lifecycle import stock_give_back, stock_recollect
from exchange.rules import quantity_text
from inventory.plausibility import quantity_check
from organisations.actors import Actor
from organisations.models import Organisation

from ..ledger import LedgerFigures, ledger_figures
from ..models import (
    Claim,
    ClaimStatus,
    Handover,
    Party,
)
from ..selectors import (
    claim_get,
    claim_party_of,
)
from ._common import CLOCK_SKEW, _clock, _close, _close_if_done, _event, _locked_claim


def _collection_checks(*, claim: Claim, quantity: Decimal, collected_at: datetime, now: datetime) -> None:
    if quantity > claim.quantity:
        message = _("At most the claimed quantity (%(q)s) can be collected.") % {
            "q": quantity_text(claim.quantity)
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
    """Append a positive ledger row of `claim`: its first handover, or a correction of a reversed row.
    The valuation is the gift's: the offer's when the lot is handed over, and a correction keeps the
    valuation of the row it corrects (the same gift), whatever the offer says since."""
    offer = claim.offer
    valued = corrects if corrects is not None else offer
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
        unit_value_eur=valued.unit_value_eur,
        valuation_basis=valued.valuation_basis,
        near_use_by=valued.near_use_by,
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
    stock_recollect(
        offer_id=offer.pk, before=corrects.quantity, after=quantity, actor_label=actor.label, now=now
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
    recorder_org_id = {
        Party.RECIPIENT.value: claim.organisation_id,
        Party.DONOR.value: claim.offer.organisation_id,
    }.get(party or "")
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
    stock_give_back(
        offer_id=offer.pk,
        quantity=claim.quantity - quantity,
        collected=quantity,
        actor_label=actor.label,
        now=now,
    )
    _close_if_done(offer_id=offer.pk, actor=actor, now=now)
    _event("claim.collected", claim, actor=actor, organisation_id=recorder_org_id, handover_id=handover.pk)
    _recorded_event(handover, actor=actor, organisation_id=recorder_org_id)
    return handover

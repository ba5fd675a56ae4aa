"""Settling a disputed ledger row (the ledger itself stays append-only).

A party proposes a corrected figure for a disputed row (quantity and mass). The other party agrees by
proposing the same figure, or counters with another one; each step is a row of HandoverProposal and a
domain event. On agreement, in one transaction: the disputed row is reversed, a correction row is
appended (`corrects` the disputed row, mass weighed: the agreed figure stands for a weighing, checked for
plausibility like any weighed mass), and the correction is recorded as confirmed by the agreeing party.
The operator settles alone (in the admin): the same rows, the proposal without an organisation.

Locks, in the order of claims.services: claim → offer → ledger row.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import Conflict, InvalidInput, PermissionDenied
from inventory.plausibility import quantity_check
from organisations.actors import Actor

from .ledger import ledger_figures
from .models import ConfirmationState, Handover, HandoverConfirmation, HandoverProposal
from .selectors import handover_get
from .services import correction_write, handover_lock_unreversed, reversal_write
from .services._common import _event, _locked_claim


def _require_reason(reason: str) -> str:
    if not reason.strip():
        message = _("Say why the figure should change.")
        raise InvalidInput(message, field_errors={"reason": [message]})
    return reason


def _open_row(handover: Handover, *, disputed: bool) -> None:
    if handover.reverses_id is not None:
        raise Conflict(_("A reversal is not confirmed or disputed."), code="reversal_not_answerable")
    handover_lock_unreversed(handover)
    if (
        disputed
        and not HandoverConfirmation.objects.filter(
            handover_id=handover.pk, state=ConfirmationState.DISPUTED
        ).exists()
    ):
        raise Conflict(
            _("Only a disputed handover is settled this way; reverse it to correct it."), code="not_disputed"
        )


def _settle(
    *,
    actor: Actor,
    handover: Handover,
    quantity: Decimal,
    mass_kg: Decimal,
    mass_confirmed: bool,
    reason: str,
    organisation_id: int | None,
    now: datetime,
) -> Handover:
    claim = _locked_claim(handover.claim)
    reversal_write(original=handover, actor=actor, reason=reason, now=now, party_org_id=organisation_id)
    correction = correction_write(
        actor=actor,
        claim=claim,
        corrects=handover,
        quantity=quantity,
        mass_kg=mass_kg,
        mass_confirmed=mass_confirmed,
        collected_at=handover.collected_at,
        recorder_org_id=organisation_id,
        note=reason,
        now=now,
    )
    HandoverConfirmation.objects.create(
        handover=correction,
        state=ConfirmationState.CONFIRMED,
        organisation_id=organisation_id,
        recorded_by=actor.label,
        recorded_at=now,
    )
    return correction


def _validated_figure(handover: Handover, quantity: Decimal | None, mass_kg: Decimal, mass_confirmed: bool):
    offer = handover.claim.offer
    quantity = quantity_check(quantity if quantity is not None else handover.quantity, offer.unit)
    if quantity > handover.claim.quantity:
        message = _("At most the claimed quantity (%(q)s) can be collected.") % {"q": handover.claim.quantity}
        raise InvalidInput(message, field_errors={"quantity": [message]})
    if mass_kg <= 0:
        message = _("A weighed mass must be greater than zero.")
        raise InvalidInput(message, field_errors={"mass_kg": [message]})
    # Refuses an implausible mass now, before anyone agrees to it.
    ledger_figures(offer=offer, quantity=quantity, weighed_mass_kg=mass_kg, mass_confirmed=mass_confirmed)
    return quantity, mass_kg.quantize(Decimal("0.001"))


def _prepared(
    handover: Handover, quantity: Decimal | None, mass_kg: Decimal, mass_confirmed: bool, *, disputed: bool
) -> tuple[Handover, Decimal, Decimal]:
    """The row with its claim and offer, the validated figure, and the locks (claim, then row)."""
    handover = Handover.objects.select_related("claim", "claim__offer", "claim__offer__category").get(
        pk=handover.pk
    )
    quantity, mass_kg = _validated_figure(handover, quantity, mass_kg, mass_confirmed)
    _locked_claim(handover.claim)
    _open_row(handover, disputed=disputed)
    return handover, quantity, mass_kg


def _step(
    name: str,
    *,
    actor: Actor,
    handover: Handover,
    organisation_id: int | None,
    quantity: Decimal,
    mass_kg: Decimal,
    reason: str,
    correction: Handover | None,
    now: datetime,
) -> HandoverProposal:
    """Append the proposal row of a step and its domain event."""
    proposal = HandoverProposal.objects.create(
        handover=handover,
        organisation_id=organisation_id,
        quantity=quantity,
        mass_kg=mass_kg,
        reason=reason,
        correction=correction,
        recorded_by=actor.label,
        recorded_at=now,
    )
    _event(
        name,
        handover,
        actor=actor,
        organisation_id=organisation_id,
        proposal_id=proposal.pk,
        quantity=quantity,
        mass_kg=mass_kg,
        correction_id=correction.pk if correction else None,
        reason=reason,
    )
    return proposal


@transaction.atomic
def handover_propose(
    *,
    actor: Actor,
    handover_id: int,
    mass_kg: Decimal,
    reason: str,
    quantity: Decimal | None = None,
    mass_confirmed: bool = False,
) -> HandoverProposal:
    """A party's proposed figure for a disputed row; the same figure as the other party's latest proposal
    settles it (module docstring)."""
    now = timezone.now()
    actor.require_write()
    handover = handover_get(actor=actor, handover_id=handover_id)
    organisation_id = next(
        (org_id for org_id in (handover.recipient_id, handover.donor_id) if actor.is_member(org_id)), None
    )
    if organisation_id is None:
        raise PermissionDenied(
            _("Only the two parties propose a corrected figure; the operator settles in the admin."),
            code="party_only",
        )
    _require_reason(reason)
    handover, quantity, mass_kg = _prepared(handover, quantity, mass_kg, mass_confirmed, disputed=True)
    latest = HandoverProposal.objects.filter(handover_id=handover.pk).order_by("-id").first()
    agrees = (
        latest is not None
        and latest.organisation_id not in (None, organisation_id)
        and (latest.quantity, latest.mass_kg) == (quantity, mass_kg)
    )
    correction = None
    if agrees:
        correction = _settle(
            actor=actor,
            handover=handover,
            quantity=quantity,
            mass_kg=mass_kg,
            mass_confirmed=mass_confirmed,
            reason=reason,
            organisation_id=organisation_id,
            now=now,
        )
    return _step(
        "handover.correction_agreed" if agrees else "handover.correction_proposed",
        actor=actor,
        handover=handover,
        organisation_id=organisation_id,
        quantity=quantity,
        mass_kg=mass_kg,
        reason=reason,
        correction=correction,
        now=now,
    )


@transaction.atomic
def handover_settle(
    *,
    actor: Actor,
    handover_id: int,
    mass_kg: Decimal,
    reason: str,
    quantity: Decimal | None = None,
    mass_confirmed: bool = False,
) -> HandoverProposal:
    """The operator settles a row (disputed or not) with a figure of its own: reversal, correction and the
    proposal that records the decision."""
    now = timezone.now()
    actor.require_write()
    if not actor.is_operator:
        raise PermissionDenied(_("Only the operator settles a handover."), code="operator_only")
    _require_reason(reason)
    handover, quantity, mass_kg = _prepared(
        handover_get(actor=actor, handover_id=handover_id), quantity, mass_kg, mass_confirmed, disputed=False
    )
    correction = _settle(
        actor=actor,
        handover=handover,
        quantity=quantity,
        mass_kg=mass_kg,
        mass_confirmed=mass_confirmed,
        reason=reason,
        organisation_id=None,
        now=now,
    )
    return _step(
        "handover.settled",
        actor=actor,
        handover=handover,
        organisation_id=None,
        quantity=quantity,
        mass_kg=mass_kg,
        reason=reason,
        correction=correction,
        now=now,
    )

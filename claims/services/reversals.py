"""Reversals: a ledger row corrected by a new row with negated quantity, mass and CO2e (one reversal per
row), keeping the original collection time so that every period's sums stay net of corrections."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _

from core.errors import Conflict, InvalidInput, PermissionDenied
from organisations.actors import Actor

from ..models import (
    Handover,
)
from ..selectors import (
    handover_get,
)
from ._common import _clock, _event, handover_lock


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
        unit_value_eur=original.unit_value_eur,
        valuation_basis=original.valuation_basis,
        near_use_by=original.near_use_by,
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

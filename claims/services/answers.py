"""The other party's answer to a ledger row: confirmed, disputed, or confirmed tacitly once the window
has passed (never for an outlier the donor recorded)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import Conflict, InvalidInput, PermissionDenied
from organisations.actors import Actor

from ..models import (
    ConfirmationState,
    Handover,
    HandoverConfirmation,
)
from ..selectors import (
    handover_get,
)
from ._common import _clock, _event, handover_lock_unreversed


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

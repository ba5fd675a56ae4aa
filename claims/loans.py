"""Loans: offers in mode `loan` lend equipment that comes back (the seed's lending of vacant resources).

- Due date. Accepting a claim on a loan offer fixes when the equipment is due back (`loan_due_at`): the
  donor may give it, after the pickup deadline and within BOUCLE_LOAN_MAX_DAYS days of now; by default
  BOUCLE_LOAN_DAYS days after the pickup deadline. A due date on a claim that is not a loan is refused.
- Out on loan. The handover moves what was collected to the offer's collected part, as for any offer;
  for a loan that part is what is out on loan now, and the offer does not close while it holds some
  (exchange/lifecycle.py `offer_close_if_done`).
- Return. The lender (a member or key of the donor) or the operator records the return: its condition,
  when (not in the future, not before the pickup) and a note. What went out (the claim's handover
  quantity) moves back from collected to remaining, so the items can be lent again; an exhausted offer
  is published again while its window is open. On time: returned by the due date.
- Overdue: collected, not returned, due date past (claims/selectors/lists.py `loans_overdue`). The beat task
  (claims/tasks.py `remind_overdue_loans`, hourly) e-mails the borrower organisation's active members,
  at most once per BOUCLE_LOAN_REMINDER_HOURS hours per loan.

Loans never add tonnage diverted nor CO2e avoided (claims/ledger.py, impact/diverted.py).
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import Conflict, InvalidInput, PermissionDenied
from exchange.lifecycle import stock_give_back
from exchange.models import Offer, OfferMode
from exchange.rules import quantity_text
from organisations.actors import Actor
from organisations.emails import send_email
from organisations.models import User

from .models import Claim, ClaimStatus, Handover, ReturnCondition
from .selectors import claim_get, loans_overdue
from .services._common import CLOCK_SKEW, _clock, _event, _locked_claim


def is_loan(offer: Offer) -> bool:
    return offer.mode == OfferMode.LOAN


def loan_due_default(pickup_deadline: datetime) -> datetime:
    return pickup_deadline + timedelta(days=settings.BOUCLE_LOAN_DAYS)


def loan_due_at_for(
    *, offer: Offer, pickup_deadline: datetime, loan_due_at: datetime | None, now: datetime
) -> datetime | None:
    """The due date a claim on `offer` gets when accepted with `pickup_deadline` (None: not a loan), or
    400 on `loan_due_at`: given for an offer that is not a loan, not after the pickup deadline, or more
    than BOUCLE_LOAN_MAX_DAYS days from now."""
    if not is_loan(offer):
        if loan_due_at is not None:
            message = _("Only a loan has a due date; this offer is not lent.")
            raise InvalidInput(message, field_errors={"loan_due_at": [message]})
        return None
    if loan_due_at is None:
        return loan_due_default(pickup_deadline)
    max_days = settings.BOUCLE_LOAN_MAX_DAYS
    if not pickup_deadline < loan_due_at <= now + timedelta(days=max_days):
        message = _("The loan's due date must be after the pickup deadline, within %(days)d days.") % {
            "days": max_days
        }
        raise InvalidInput(message, field_errors={"loan_due_at": [message]})
    return loan_due_at


def _pickup(claim: Claim) -> Handover | None:
    """The claim's live handover: its latest row that is not a reversal (the first handover, or the
    latest correction). Its quantity is what the offer's collected part holds for the claim."""
    return Handover.objects.filter(claim_id=claim.pk, reverses__isnull=True).order_by("-id").first()


def _days_late(*, returned_at: datetime, due_at: datetime) -> int:
    """Whole days started after the due date (0 when on time)."""
    late = (returned_at - due_at).total_seconds()
    return math.ceil(late / 86400) if late > 0 else 0


@transaction.atomic
def claim_return(
    *,
    actor: Actor,
    claim_id: int,
    condition: str,
    returned_at: datetime | None = None,
    note: str = "",
    now: datetime | None = None,
) -> Claim:
    """The lender records that lent equipment came back: 403 `donor_only` for anyone but the donor's
    members and keys and the operator, 409 `not_a_loan`, 409 `loan_not_out` (not collected yet, or
    already returned)."""
    now = _clock(actor, now)
    actor.require_write()
    claim = claim_get(actor=actor, claim_id=claim_id)
    if not (actor.is_operator or actor.is_member(claim.offer.organisation_id)):
        raise PermissionDenied(_("Only the lender records a return."), code="donor_only")
    claim = _locked_claim(claim)
    if not is_loan(claim.offer):
        raise Conflict(_("This claim is not a loan."), code="not_a_loan")
    pickup = _pickup(claim) if claim.status == ClaimStatus.COLLECTED else None
    if pickup is None or claim.returned_at is not None:
        raise Conflict(
            _("This loan is not out: it has not been collected yet, or it has already come back."),
            code="loan_not_out",
            extra={
                "claim_status": claim.status,
                "returned_at": claim.returned_at.isoformat() if claim.returned_at else None,
            },
        )
    if condition not in ReturnCondition.values:
        message = _("Say in which condition the equipment came back.")
        raise InvalidInput(message, field_errors={"condition": [message]})
    returned_at = returned_at or now
    if returned_at > timezone.now() + CLOCK_SKEW:
        message = _("The return time cannot be in the future.")
        raise InvalidInput(message, field_errors={"returned_at": [message]})
    if returned_at < pickup.collected_at:
        message = _("The return time cannot be before the equipment was collected.")
        raise InvalidInput(message, field_errors={"returned_at": [message]})

    due_at = claim.loan_due_at
    if due_at is None:  # none recorded: the default, counted from the pickup deadline
        assert claim.pickup_deadline is not None  # an accepted claim has one (claim_accepted_has_deadline)
        due_at = loan_due_default(claim.pickup_deadline)
    claim.loan_due_at = due_at
    claim.returned_at = returned_at
    claim.return_condition = condition
    claim.return_note = note
    claim.save(update_fields=["loan_due_at", "returned_at", "return_condition", "return_note", "updated_at"])
    quantity = pickup.quantity
    stock_give_back(
        offer_id=claim.offer_id,
        quantity=quantity,
        actor_label=actor.label,
        now=now,
        source="collected_quantity",
    )
    days_late = _days_late(returned_at=returned_at, due_at=due_at)
    _event(
        "loan.returned",
        claim,
        actor=actor,
        organisation_id=claim.offer.organisation_id,
        offer_id=claim.offer_id,
        quantity=quantity,
        condition=condition,
        due_at=due_at,
        returned_at=returned_at,
        on_time=days_late == 0,
        days_late=days_late,
    )
    return claim_get(actor=actor, claim_id=claim.pk)


# Overdue reminders ----------------------------------------------------------------------------------


def loans_to_remind(*, now: datetime | None = None, limit: int = 1000) -> list[int]:
    """Overdue loans not reminded within the last BOUCLE_LOAN_REMINDER_HOURS hours."""
    now = now or timezone.now()
    return list(
        Claim.objects.filter(loans_overdue(now=now), _reminder_due(now))
        .order_by("loan_due_at", "id")
        .values_list("id", flat=True)[:limit]
    )


def _reminder_due(now: datetime) -> Q:
    since = now - timedelta(hours=settings.BOUCLE_LOAN_REMINDER_HOURS)
    return Q(loan_reminded_at__isnull=True) | Q(loan_reminded_at__lte=since)


def _borrower_readers(claim: Claim) -> list[tuple[str, str]]:
    """(e-mail, language) of the borrower organisation's active members; its contact address when it has
    none."""
    readers = list(
        User.objects.filter(memberships__organisation_id=claim.organisation_id, is_active=True)
        .order_by("id")
        .values_list("email", "preferred_language")
    )
    if readers:
        return readers
    return [(claim.organisation.email, "fr")] if claim.organisation.email else []


@transaction.atomic
def loan_remind(*, claim_id: int, now: datetime | None = None) -> bool:
    """E-mails the borrower of an overdue loan and records the reminder, once per window: the conditional
    UPDATE of `loan_reminded_at` decides, so two runs (or two workers) never remind one loan twice; a
    failed send rolls it back for the next run. False when there is nothing to do."""
    now = now or timezone.now()
    won = Claim.objects.filter(loans_overdue(now=now), _reminder_due(now), pk=claim_id).update(
        loan_reminded_at=now
    )
    if not won:
        return False
    claim = Claim.objects.select_related("offer", "offer__organisation", "organisation").get(pk=claim_id)
    assert claim.loan_due_at is not None  # the UPDATE above found the loan overdue, past its due date
    days_late = _days_late(returned_at=now, due_at=claim.loan_due_at)
    readers = _borrower_readers(claim)
    pickup = _pickup(claim)
    context = {
        "claim": claim,
        "offer": claim.offer,
        "lender": claim.offer.organisation,
        "borrower": claim.organisation,
        "quantity": quantity_text(pickup.quantity if pickup else claim.quantity),
        "due_at": claim.loan_due_at,
        "days_late": days_late,
    }
    for email, language in readers:
        send_email("loan_overdue", to=email, language=language, context=context)
    _event(
        "loan.overdue_reminded",
        claim,
        actor=Actor.for_system(),
        organisation_id=claim.organisation_id,
        due_at=claim.loan_due_at,
        days_late=days_late,
        recipients=len(readers),
        at=now,
    )
    return True

"""Reads of claims and the ledger, scoped to the actor: out of scope reads as absent (NotFound). Loans
out, overdue or back are filters of the claims list."""

from __future__ import annotations

import contextlib
from datetime import date, datetime, timedelta

from django.core.exceptions import ObjectDoesNotExist
from django.db.models import (
    BooleanField,
    Case,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Greatest
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import NotFound
from inventory.models import Category
from inventory.selectors import category_subtree_q
from organisations.actors import Actor

from ..models import (
    OPEN_CLAIM_STATUSES,
    Claim,
    ClaimStatus,
    Handover,
    HandoverProposal,
    Party,
)
from .reveal import claims_revealing_location, local_day_start

# Loans ------------------------------------------------------------------------------------------------

# Filters of the claims list (`loan`): lent and not back yet, overdue among those, back.
LOAN_FILTERS = ("out", "overdue", "returned")


def loans_out() -> Q:
    """On Claim: a loan collected and not yet returned (only loans get a due date, claims/loans.py)."""
    return Q(status=ClaimStatus.COLLECTED, loan_due_at__isnull=False, returned_at__isnull=True)


def loans_overdue(*, now: datetime | None = None) -> Q:
    """The rule, on Claim: a loan is overdue when it is out (collected, not returned) past its due date.
    Used by the claims list, the output (`loan.overdue`) and the reminders (claims/tasks.py)."""
    return loans_out() & Q(loan_due_at__lt=now or timezone.now())


def _loan_filter(loan: str, now: datetime | None = None) -> Q:
    return {
        "out": loans_out(),
        "overdue": loans_overdue(now=now),
        "returned": Q(returned_at__isnull=False),
    }[loan]


# Claims ----------------------------------------------------------------------------------------------


def claims_open_on(offer_id: int) -> bool:
    """Whether a claim on the offer is still open (requested or accepted): the offer cannot close yet."""
    return Claim.objects.filter(offer_id=offer_id, status__in=OPEN_CLAIM_STATUSES).exists()


def claims_visible_to(*, actor: Actor) -> QuerySet[Claim]:
    """Claims where one of the actor's organisations is the claimant (recipient) or the donor; all of
    them for the operator. `location_shown`: whether the claim reveals the exact place now."""
    handover = Handover.objects.filter(claim_id=OuterRef("pk"), reverses__isnull=True).values("pk")[:1]
    qs = Claim.objects.select_related("offer", "offer__organisation", "offer__site", "organisation").annotate(
        handover_id=Subquery(handover),
        location_shown=Case(
            When(claims_revealing_location(), then=Value(True)),
            default=Value(False),
            output_field=BooleanField(),
        ),
        loan_overdue=Case(
            When(loans_overdue(), then=Value(True)), default=Value(False), output_field=BooleanField()
        ),
    )
    if actor.is_operator:
        return qs
    ids = actor.organisation_ids
    return qs.filter(Q(organisation_id__in=ids) | Q(offer__organisation_id__in=ids))


def claims_list(
    *,
    actor: Actor,
    status: str | None = None,
    role: str | None = None,
    offer_id: int | None = None,
    loan: str | None = None,
    updated_since: datetime | None = None,
) -> QuerySet[Claim]:
    """`role`: recipient (claims the actor's organisations made) or donor (claims on their offers).
    `loan`: one of LOAN_FILTERS. `updated_since` is strict, as for offers: a client that stores the last
    `updated_at` it saw does not receive that claim again."""
    qs = claims_visible_to(actor=actor)
    if updated_since is not None:
        qs = qs.filter(updated_at__gt=updated_since)
    if loan:
        qs = qs.filter(_loan_filter(loan))
    if status:
        qs = qs.filter(status=status)
    if role == Party.RECIPIENT:
        qs = qs.filter(organisation_id__in=actor.organisation_ids)
    elif role == Party.DONOR:
        qs = qs.filter(offer__organisation_id__in=actor.organisation_ids)
    if offer_id is not None:
        qs = qs.filter(offer_id=offer_id)
    return qs


def claim_get(*, actor: Actor, claim_id: int) -> Claim:
    claim = claims_visible_to(actor=actor).filter(pk=claim_id).first()
    if claim is None:
        raise NotFound(_("No such claim."))
    return claim


def claim_party_of(*, actor: Actor, claim: Claim) -> str | None:
    """The side the actor stands on for this claim (recipient first), or None."""
    if actor.is_member(claim.organisation_id):
        return Party.RECIPIENT
    if actor.is_member(claim.offer.organisation_id):
        return Party.DONOR
    return None


# The ledger -----------------------------------------------------------------------------------------


def handovers_visible_to(*, actor: Actor) -> QuerySet[Handover]:
    """Ledger rows where one of the actor's organisations is donor or recipient; all for the operator."""
    qs = Handover.objects.select_related(
        "donor", "recipient", "category", "territory", "confirmation", "reversed_by", "corrected_by"
    ).prefetch_related("proposals")
    if actor.is_operator:
        return qs
    ids = actor.organisation_ids
    return qs.filter(Q(donor_id__in=ids) | Q(recipient_id__in=ids))


def handover_updated_at_expression() -> Greatest:
    """When a ledger row's representation last changed, in the database: the row itself never changes
    (append-only), but what is recorded beside it shows in it. The latest of its `recorded_at`, its
    confirmation's or dispute's, its reversal's, its corrected row's and its dispute proposals'
    (PostgreSQL's GREATEST ignores the NULLs of what does not exist). `handover_updated_at` is the same
    rule in Python."""
    latest_proposal = (
        HandoverProposal.objects.filter(handover_id=OuterRef("pk"))
        .order_by()
        .values("handover_id")
        .annotate(latest=Max("recorded_at"))
        .values("latest")
    )
    return Greatest(
        "recorded_at",
        "confirmation__recorded_at",
        "reversed_by__recorded_at",
        "corrected_by__recorded_at",
        Subquery(latest_proposal),
    )


def handover_updated_at(handover: Handover) -> datetime:
    """`handover_updated_at_expression` for one row in memory (the annotation when the row has it)."""
    annotated = handover.__dict__.get("updated_at")
    if annotated is not None:
        return annotated
    moments = [handover.recorded_at]
    for name in ("confirmation", "reversed_by", "corrected_by"):
        with contextlib.suppress(ObjectDoesNotExist):  # nothing recorded beside the row yet
            moments.append(getattr(handover, name).recorded_at)
    moments.extend(proposal.recorded_at for proposal in handover.proposals.all())
    return max(moments)


def handovers_list(
    *,
    actor: Actor,
    date_from: date | None = None,
    date_to: date | None = None,
    category_id: int | None = None,
    updated_since: datetime | None = None,
) -> QuerySet[Handover]:
    """Rows collected from `date_from` to `date_to`, both included, as days in Europe/Paris; `category`
    includes its descendants. Reversals carry the collection date of the row they correct, so a period's
    sums are always net of corrections. Each row carries `updated_at` (handover_updated_at_expression);
    `updated_since` keeps the rows whose `updated_at` is strictly after it."""
    qs = handovers_visible_to(actor=actor).annotate(updated_at=handover_updated_at_expression())
    if updated_since is not None:
        qs = qs.filter(updated_at__gt=updated_since)
    if date_from is not None:
        qs = qs.filter(collected_at__gte=local_day_start(date_from))
    if date_to is not None:
        qs = qs.filter(collected_at__lt=local_day_start(date_to + timedelta(days=1)))
    if category_id is not None:
        category = Category.objects.filter(pk=category_id).first()
        if category is None:
            return qs.none()
        qs = qs.filter(category_subtree_q([category.path], prefix="category__"))
    return qs


def handover_get(*, actor: Actor, handover_id: int) -> Handover:
    handover = handovers_visible_to(actor=actor).filter(pk=handover_id).first()
    if handover is None:
        raise NotFound(_("No such handover."))
    return handover

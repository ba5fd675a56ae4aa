"""Reads of claims and the ledger, scoped to the actor. Out of scope reads as absent (NotFound).

Also the one home of the rule that decides when the exact pickup place (the site's point and address,
the pickup instructions) and the two parties' contacts are revealed, used by the claims, the offers,
search and every serializer that shows them:

- A claim a person accepted (the donor; the system when seeding) reveals at once: someone chose this
  recipient.
- An offer that accepts claims automatically (a firm's stock system) does so only for a recipient in
  good standing: at least BOUCLE_AUTO_ACCEPT_MIN_HANDOVERS handovers vouched for by a donor, and fewer
  than BOUCLE_AUTO_ACCEPT_STRIKES automatically accepted claims not yet collected plus *strikes* (claims
  it broke after their place was revealed: cancelled by itself, or never collected) in the last
  BOUCLE_AUTO_ACCEPT_STRIKE_DAYS days. Otherwise the claim stays requested for the donor to answer, and
  says why (`Claim.auto_accept_withheld`).
- An automatically accepted claim reveals from midnight, Paris time, BOUCLE_REVEAL_LEAD_DAYS days
  before the day the lot becomes available; at once when that is past.
- A collected claim keeps showing the place; a declined, cancelled or expired one no longer does.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.db.models import (
    BooleanField,
    Case,
    Count,
    Expression,
    F,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Greatest
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from core.errors import NotFound
from exchange.models import Offer
from exchange.selectors import offer_owned_by, offers_owned_q
from inventory.models import Category
from inventory.selectors import category_subtree_q
from organisations.actors import Actor

from .models import (
    AutoAcceptWithheld,
    Claim,
    ClaimStatus,
    ConfirmationState,
    Handover,
    HandoverProposal,
    Party,
    RevealReason,
)

# Where the exact place is revealed ------------------------------------------------------------------


def claims_revealing_location(*, now: datetime | None = None) -> Q:
    """The rule, on Claim: the claim's two parties see the exact place and each other's contact now."""
    now = now or timezone.now()
    return Q(status=ClaimStatus.COLLECTED) | Q(status=ClaimStatus.ACCEPTED, location_revealed_at__lte=now)


def reveal_opens_at(available_from: datetime) -> datetime:
    """When an automatically accepted claim on a lot available from `available_from` reveals its place:
    midnight in the platform's time zone (Europe/Paris, the donors' own), BOUCLE_REVEAL_LEAD_DAYS days
    before the local day the lot becomes available. A day, not a number of hours: recipients plan their
    rounds by the day, and "from the day before" is what the app can say."""
    local_day = available_from.astimezone(ZoneInfo(settings.TIME_ZONE)).date()
    return local_day_start(local_day - timedelta(days=settings.BOUCLE_REVEAL_LEAD_DAYS))


def location_revealed_at(*, accepted_at: datetime, available_from: datetime, automatic: bool) -> datetime:
    """Fixed when the claim is accepted (claims/services.py)."""
    if not automatic or available_from <= accepted_at:  # the window opened before the lot's first day
        return accepted_at
    return max(accepted_at, reveal_opens_at(available_from))


def offer_ids_with_exact_location_for(*, actor: Actor, now: datetime | None = None) -> QuerySet[int]:
    """Offers whose exact place, address and contact the actor may see because one of its organisations
    holds a claim on them that reveals it: the claims half of `offer_exact_location_q`."""
    return (
        Claim.objects.filter(claims_revealing_location(now=now), organisation_id__in=actor.organisation_ids)
        .values_list("offer_id", flat=True)
        .distinct()
    )


def offer_exact_location_q(*, actor: Actor, now: datetime | None = None) -> Q:
    """The rule, on Offer, and its one definition: the actor sees the offer's exact place, address,
    contact and pickup instructions when the offer is its own organisations' or one of them holds a
    claim on it that reveals the place. Everyone else, the operator included, sees the site's stable
    approximate point. `offers_shown_exactly` (Python) and `offer_exact_location_visible` (SQL) derive
    from it."""
    return offers_owned_q(actor=actor) | Q(pk__in=offer_ids_with_exact_location_for(actor=actor, now=now))


def offers_shown_exactly(*, actor: Actor, offers: Iterable[Offer]) -> set[int]:
    """`offer_exact_location_q` for offers already loaded: which of `offers` the actor sees exactly.
    One query, none when every offer is the actor's own."""
    offers = list(offers)
    own = {o.pk for o in offers if offer_owned_by(actor=actor, offer=o)}
    foreign = [o.pk for o in offers if o.pk not in own]
    if not foreign or not actor.organisation_ids:
        return own
    granted = Offer.objects.filter(offer_exact_location_q(actor=actor), pk__in=foreign).values_list(
        "pk", flat=True
    )
    return own | set(granted)


def offer_exact_location_visible(*, actor: Actor) -> Expression:
    """`offer_exact_location_q` as a boolean SQL expression on Offer, for queries that pick the
    location in the database (search)."""
    if not actor.organisation_ids:
        return Value(False)
    return Case(
        When(offer_exact_location_q(actor=actor), then=Value(True)),
        default=Value(False),
        output_field=BooleanField(),
    )


def claim_pickup_shown(*, actor: Actor, claim: Claim) -> bool:
    """The rule, for one claim read through `claims_visible_to` (whose `location_shown` annotation is
    `claims_revealing_location`): its two parties see the pickup place and contacts while it reveals."""
    party = actor.is_member(claim.organisation_id) or actor.is_member(claim.offer.organisation_id)
    return bool(party and claim.location_shown)


def broken_after_reveal() -> Q:
    """On Claim: a *strike*, a claim its recipient broke after its place was revealed: cancelled by the
    recipient, or never collected (expired). Counted in reliability as a no-show."""
    revealed = Q(location_revealed_at__lte=F("closed_at"))
    cancelled = Q(status=ClaimStatus.CANCELLED, closed_by_party=Party.RECIPIENT)
    return revealed & (Q(status=ClaimStatus.EXPIRED) | cancelled)


@dataclass(frozen=True)
class Standing:
    """What decides whether an offer accepts a recipient's claim automatically."""

    vouched_handovers: int
    strikes: int
    open_automatic: int

    @property
    def withheld(self) -> str:
        """Why automatic acceptance does not apply (an AutoAcceptWithheld), or "" when it does."""
        cap = settings.BOUCLE_AUTO_ACCEPT_STRIKES
        if self.strikes >= cap:
            return AutoAcceptWithheld.SUSPENDED
        if self.vouched_handovers < settings.BOUCLE_AUTO_ACCEPT_MIN_HANDOVERS:
            return AutoAcceptWithheld.NO_HISTORY
        # Claims in flight count as strikes to come, or a recipient could open many at once (up to the
        # open-claims cap) and see every place before its first cancellation counts.
        if self.strikes + self.open_automatic >= cap:
            return AutoAcceptWithheld.LIMIT
        return ""


def strikes_since(now: datetime) -> datetime:
    return now - timedelta(days=settings.BOUCLE_AUTO_ACCEPT_STRIKE_DAYS)


def recipient_standing(*, organisation_id: int, now: datetime | None = None) -> Standing:
    """Two queries. Read under the organisation's row lock (claims/services.py), so that claims and
    strikes of one recipient are counted one after the other."""
    now = now or timezone.now()
    counts = Claim.objects.filter(organisation_id=organisation_id).aggregate(
        strikes=Count("id", filter=broken_after_reveal() & Q(closed_at__gte=strikes_since(now))),
        open_automatic=Count("id", filter=Q(status=ClaimStatus.ACCEPTED, auto_accepted=True)),
    )
    # Vouched for by the donor: recorded by the donor, the operator or the system, or confirmed
    # (explicitly or tacitly) when the recipient recorded it itself; never a reversed row.
    vouched = Handover.objects.filter(
        Q(recorded_by_organisation__isnull=True)
        | Q(recorded_by_organisation_id=F("donor_id"))
        | Q(confirmation__state=ConfirmationState.CONFIRMED),
        recipient_id=organisation_id,
        reverses__isnull=True,
        reversed_by__isnull=True,
    ).count()
    return Standing(vouched_handovers=vouched, **counts)


def auto_accept_resumes_at(*, organisation_id: int, now: datetime | None = None) -> datetime | None:
    """When a suspended recipient's strikes fall back under the cap, or None when it is not suspended."""
    now = now or timezone.now()
    closed = list(
        Claim.objects.filter(
            broken_after_reveal(), organisation_id=organisation_id, closed_at__gte=strikes_since(now)
        )
        .order_by("closed_at")
        .values_list("closed_at", flat=True)
    )
    excess = len(closed) - settings.BOUCLE_AUTO_ACCEPT_STRIKES
    if excess < 0:
        return None
    return closed[excess] + timedelta(days=settings.BOUCLE_AUTO_ACCEPT_STRIKE_DAYS)


_WITHHELD_REASONS = {
    AutoAcceptWithheld.NO_HISTORY: RevealReason.AWAITING_DONOR_NO_HISTORY,
    AutoAcceptWithheld.SUSPENDED: RevealReason.AWAITING_DONOR_AUTO_ACCEPT_SUSPENDED,
    AutoAcceptWithheld.LIMIT: RevealReason.AWAITING_DONOR_AUTO_ACCEPT_LIMIT,
}


def claim_reveal_reason(claim: Claim) -> str:
    """For a claim read through `claims_visible_to` (whose `location_shown` applies the rule)."""
    if claim.location_shown:
        if claim.status == ClaimStatus.COLLECTED:
            return RevealReason.COLLECTED
        return RevealReason.PICKUP_WINDOW_OPEN if claim.auto_accepted else RevealReason.ACCEPTED_BY_DONOR
    if claim.status == ClaimStatus.ACCEPTED:
        return RevealReason.BEFORE_PICKUP_WINDOW
    if claim.status == ClaimStatus.REQUESTED:
        return _WITHHELD_REASONS.get(claim.auto_accept_withheld, RevealReason.AWAITING_DONOR)
    return RevealReason.CLAIM_CLOSED


def claim_location_revealed_at(claim: Claim) -> datetime | None:
    """When the place is (or was) shown; None for a claim that is not, or no longer, going to show it."""
    if claim.status in (ClaimStatus.ACCEPTED, ClaimStatus.COLLECTED):
        return claim.location_revealed_at
    return None


def claim_reveal_detail(claim: Claim) -> str:
    """`claim_reveal_reason` in a sentence of the active language, for the parties of the claim."""
    reason = claim_reveal_reason(claim)
    if reason == RevealReason.BEFORE_PICKUP_WINDOW:
        local = claim.location_revealed_at.astimezone(ZoneInfo(settings.TIME_ZONE))
        when = formats.date_format(local, "DATETIME_FORMAT")
        return _(
            "Accepted automatically. The exact place and the contacts are shown from %(when)s (Paris time), "
            "ahead of the day the lot becomes available."
        ) % {"when": when}
    return {
        RevealReason.ACCEPTED_BY_DONOR: _("The donor accepted: the exact place and the contacts are shown."),
        RevealReason.PICKUP_WINDOW_OPEN: _(
            "Accepted automatically; the pickup window is open: the exact place and the contacts are shown."
        ),
        RevealReason.COLLECTED: _("Collected: the exact place and the contacts stay shown."),
        RevealReason.AWAITING_DONOR: _(
            "The exact place and the contacts are shown once the donor accepts the claim."
        ),
        RevealReason.AWAITING_DONOR_NO_HISTORY: _(
            "This offer accepts claims automatically from recipients with a handover vouched for by a donor; "
            "the claimant has none yet, so the donor answers this claim. The exact place and the contacts "
            "are shown once the donor accepts."
        ),
        RevealReason.AWAITING_DONOR_AUTO_ACCEPT_SUSPENDED: _(
            "Automatic acceptance is suspended for the claimant: too many claims were cancelled or not "
            "collected after their place was shown, in the last %(days)d days. The donor answers this "
            "claim; the exact place and the contacts are shown once the donor accepts."
        )
        % {"days": settings.BOUCLE_AUTO_ACCEPT_STRIKE_DAYS},
        RevealReason.AWAITING_DONOR_AUTO_ACCEPT_LIMIT: _(
            "The claimant already holds as many automatically accepted claims not yet collected as allowed; "
            "the donor answers this one. The exact place and the contacts are shown once the donor accepts."
        ),
        RevealReason.CLAIM_CLOSED: _("This claim is closed: the exact place and the contacts are not shown."),
    }[reason]


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


def local_day_start(day: date) -> datetime:
    """Midnight of `day` in the platform's time zone (Europe/Paris), as an aware datetime."""
    return datetime.combine(day, time.min, tzinfo=ZoneInfo(settings.TIME_ZONE))


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


# Reliability ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reliability:
    """How an organisation has kept its word, as recipient and as donor. `handovers`: claims collected
    (either side); `no_shows`: claims it broke as recipient after their place was revealed (never
    collected, or cancelled by itself); `cancellations`: other claims it cancelled itself (either side);
    `declines`: claims on its offers it declined."""

    claims_made: int = 0
    claims_received: int = 0
    handovers: int = 0
    no_shows: int = 0
    cancellations: int = 0
    declines: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def reliabilities_of(organisation_ids: list[int] | set[int]) -> dict[int, Reliability]:
    """Reliability of each organisation, in two grouped queries whatever their number."""
    ids = list(organisation_ids)
    if not ids:
        return {}
    as_recipient = {
        row["organisation_id"]: row
        for row in Claim.objects.filter(organisation_id__in=ids)
        .values("organisation_id")
        .annotate(
            made=Count("id"),
            collected=Count("id", filter=Q(status=ClaimStatus.COLLECTED)),
            no_shows=Count("id", filter=broken_after_reveal()),
            cancelled=Count(
                "id",
                filter=Q(status=ClaimStatus.CANCELLED, closed_by_party=Party.RECIPIENT)
                & ~broken_after_reveal(),
            ),
        )
        .order_by()
    }
    as_donor = {
        row["offer__organisation_id"]: row
        for row in Claim.objects.filter(offer__organisation_id__in=ids)
        .values("offer__organisation_id")
        .annotate(
            received=Count("id"),
            collected=Count("id", filter=Q(status=ClaimStatus.COLLECTED)),
            cancelled=Count("id", filter=Q(status=ClaimStatus.CANCELLED, closed_by_party=Party.DONOR)),
            declined=Count("id", filter=Q(status=ClaimStatus.DECLINED, closed_by_party=Party.DONOR)),
        )
        .order_by()
    }
    result = {}
    for org_id in ids:
        r, d = as_recipient.get(org_id, {}), as_donor.get(org_id, {})
        result[org_id] = Reliability(
            claims_made=r.get("made", 0),
            claims_received=d.get("received", 0),
            handovers=r.get("collected", 0) + d.get("collected", 0),
            no_shows=r.get("no_shows", 0),
            cancellations=r.get("cancelled", 0) + d.get("cancelled", 0),
            declines=d.get("declined", 0),
        )
    return result


def reliability_of(organisation_id: int) -> Reliability:
    """Reliability counts of one organisation (see `Reliability`)."""
    return reliabilities_of([organisation_id])[organisation_id]

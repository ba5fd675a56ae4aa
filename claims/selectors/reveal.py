"""The one home of the rule that decides when the exact pickup place (the site's point and address,
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

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import cast
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import (
    BooleanField,
    Case,
    Count,
    Expression,
    F,
    Q,
    QuerySet,
    Value,
    When,
)
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from exchange.models import Offer
from exchange.selectors import offer_owned_by, offers_owned_q
from organisations.actors import Actor

from ..models import (
    AutoAcceptWithheld,
    Claim,
    ClaimStatus,
    ConfirmationState,
    Handover,
    Party,
    RevealReason,
)


def local_day_start(day: date) -> datetime:
    """Midnight of `day` in the platform's time zone (Europe/Paris), as an aware datetime."""
    return datetime.combine(day, time.min, tzinfo=ZoneInfo(settings.TIME_ZONE))


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


def offer_ids_with_exact_location_for(*, actor: Actor, now: datetime | None = None) -> QuerySet[Claim, int]:
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


def offer_exact_location_visible(*, actor: Actor, now: datetime | None = None) -> Expression:
    """`offer_exact_location_q` as a boolean SQL expression on Offer, for queries that pick the
    location in the database (search)."""
    if not actor.organisation_ids:
        return Value(False)
    return Case(
        When(offer_exact_location_q(actor=actor, now=now), then=Value(True)),
        default=Value(False),
        output_field=BooleanField(),
    )


def claim_pickup_shown(*, actor: Actor, claim: Claim) -> bool:
    """The rule, for one claim read through `claims_visible_to` (whose `location_shown` annotation is
    `claims_revealing_location`): its two parties see the pickup place and contacts while it reveals."""
    party = actor.is_member(claim.organisation_id) or actor.is_member(claim.offer.organisation_id)
    return bool(party and claim.location_shown)  # type: ignore[attr-defined]  # claims_visible_to's annotation


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
    return cast(datetime, closed[excess]) + timedelta(days=settings.BOUCLE_AUTO_ACCEPT_STRIKE_DAYS)


_WITHHELD_REASONS: dict[str, str] = {
    AutoAcceptWithheld.NO_HISTORY: RevealReason.AWAITING_DONOR_NO_HISTORY,
    AutoAcceptWithheld.SUSPENDED: RevealReason.AWAITING_DONOR_AUTO_ACCEPT_SUSPENDED,
    AutoAcceptWithheld.LIMIT: RevealReason.AWAITING_DONOR_AUTO_ACCEPT_LIMIT,
}


def claim_reveal_reason(claim: Claim) -> str:
    """For a claim read through `claims_visible_to` (whose `location_shown` applies the rule)."""
    if claim.location_shown:  # type: ignore[attr-defined]  # claims_visible_to's annotation
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
        revealed = claim.location_revealed_at
        assert revealed is not None, "an accepted claim has its reveal time"
        local = revealed.astimezone(ZoneInfo(settings.TIME_ZONE))
        when = formats.date_format(local, "DATETIME_FORMAT")
        return _(
            "Accepted automatically. The exact place and the contacts are shown from %(when)s (Paris time), "
            "ahead of the day the lot becomes available."
        ) % {"when": when}
    details: dict[str, str] = {
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
    }
    return details[reason]

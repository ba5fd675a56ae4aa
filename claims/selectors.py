"""Reads of claims and the ledger, scoped to the actor. Out of scope reads as absent (NotFound)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Count, OuterRef, Q, QuerySet, Subquery
from django.utils.translation import gettext as _

from core.errors import NotFound
from inventory.models import Category
from organisations.actors import Actor

from .models import Claim, ClaimStatus, Handover, Party


def offer_ids_with_exact_location_for(*, actor: Actor) -> QuerySet[int]:
    """Offers whose exact site location, address and contact the actor may see because one of its
    organisations holds an accepted claim on them (or collected it). Owners are handled by the caller."""
    return (
        Claim.objects.filter(
            organisation_id__in=actor.organisation_ids,
            status__in=(ClaimStatus.ACCEPTED, ClaimStatus.COLLECTED),
        )
        .values_list("offer_id", flat=True)
        .distinct()
    )


# Claims ----------------------------------------------------------------------------------------------


def claims_visible_to(*, actor: Actor) -> QuerySet[Claim]:
    """Claims where one of the actor's organisations is the claimant (recipient) or the donor; all of
    them for the operator."""
    handover = Handover.objects.filter(claim_id=OuterRef("pk"), reverses__isnull=True).values("pk")[:1]
    qs = Claim.objects.select_related("offer", "offer__organisation", "offer__site", "organisation").annotate(
        handover_id=Subquery(handover)
    )
    if actor.is_operator:
        return qs
    ids = actor.organisation_ids
    return qs.filter(Q(organisation_id__in=ids) | Q(offer__organisation_id__in=ids))


def claims_list(
    *, actor: Actor, status: str | None = None, role: str | None = None, offer_id: int | None = None
) -> QuerySet[Claim]:
    """`role`: recipient (claims the actor's organisations made) or donor (claims on their offers)."""
    qs = claims_visible_to(actor=actor)
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
        "donor", "recipient", "category", "territory", "confirmation", "reversed_by"
    )
    if actor.is_operator:
        return qs
    ids = actor.organisation_ids
    return qs.filter(Q(donor_id__in=ids) | Q(recipient_id__in=ids))


def local_day_start(day: date) -> datetime:
    """Midnight of `day` in the platform's time zone (Europe/Paris), as an aware datetime."""
    return datetime.combine(day, time.min, tzinfo=ZoneInfo(settings.TIME_ZONE))


def handovers_list(
    *,
    actor: Actor,
    date_from: date | None = None,
    date_to: date | None = None,
    category_id: int | None = None,
) -> QuerySet[Handover]:
    """Rows collected from `date_from` to `date_to`, both included, as days in Europe/Paris; `category`
    includes its descendants. Reversals carry the collection date of the row they correct, so a period's
    sums are always net of corrections."""
    qs = handovers_visible_to(actor=actor)
    if date_from is not None:
        qs = qs.filter(collected_at__gte=local_day_start(date_from))
    if date_to is not None:
        qs = qs.filter(collected_at__lt=local_day_start(date_to + timedelta(days=1)))
    if category_id is not None:
        category = Category.objects.filter(pk=category_id).first()
        if category is None:
            return qs.none()
        qs = qs.filter(Q(category__path=category.path) | Q(category__path__startswith=f"{category.path}/"))
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
    (either side); `no_shows`: accepted claims it never collected (as recipient); `cancellations`:
    claims it cancelled itself (either side); `declines`: claims on its offers it declined."""

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
            no_shows=Count("id", filter=Q(status=ClaimStatus.EXPIRED)),
            cancelled=Count("id", filter=Q(status=ClaimStatus.CANCELLED, closed_by_party=Party.RECIPIENT)),
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

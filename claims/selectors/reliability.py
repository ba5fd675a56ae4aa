"""How reliable an organisation has been as a party to claims: what the organisation pages show."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from django.db.models import (
    Count,
    Q,
)

from ..models import (
    Claim,
    ClaimStatus,
    Party,
)
from .reveal import broken_after_reveal

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
    none: dict[str, int] = {}
    for org_id in ids:
        r, d = as_recipient.get(org_id, none), as_donor.get(org_id, none)
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

"""Which ledger rows a receipt may hold: the association's live rows from the donor (recipient = the
association, donor = the donor), mode `donation`, collected in the period (local dates, Europe/Paris).
Live: a positive row (a first handover or a correction: `reverses` empty) that no reversal points at
(`reversed_by` empty); a corrected row counts as its correction, which is live in its place."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from django.db.models import Exists, OuterRef, QuerySet
from django.utils.translation import override

from claims.models import Handover
from claims.selectors import local_day_start
from exchange.models import OfferMode
from inventory.models import Unit

from .models import ReceiptCancellation, ReceiptLine


def gifts_of_year(year: int) -> dict[str, datetime]:
    """The lookups of the lines whose gift (the collection) falls in `year`, local time."""
    return {
        "collected_at__gte": local_day_start(date(year, 1, 1)),
        "collected_at__lt": local_day_start(date(year + 1, 1, 1)),
    }


def receiptable_rows(*, association_id: int, donor_id: int, period_start: date, period_end: date) -> QuerySet:
    """The live donation rows from the donor to the association collected in the period, oldest first."""
    return (
        Handover.objects.filter(
            recipient_id=association_id,
            donor_id=donor_id,
            mode=OfferMode.DONATION,
            reverses__isnull=True,
            reversed_by__isnull=True,
            collected_at__gte=local_day_start(period_start),
            collected_at__lt=local_day_start(period_end + timedelta(days=1)),
        )
        .select_related("category", "offer")
        .order_by("collected_at", "id")
    )


def rows_on_live_receipts(handover_ids: list[int]) -> list[int]:
    """Those of the rows already on a receipt that is not cancelled."""
    cancelled = ReceiptCancellation.objects.filter(receipt_id=OuterRef("receipt_id"))
    return sorted(
        set(
            ReceiptLine.objects.filter(handover_id__in=handover_ids)
            .exclude(Exists(cancelled))
            .values_list("handover_id", flat=True)
        )
    )


def line_description(row: Handover) -> str:
    """The nature of what was given: the category's French name and the offer's title."""
    return f"{row.category.name_fr} — {row.offer.title}"


def unit_label_fr(unit: str) -> str:
    """A unit as the French receipt writes it."""
    with override("fr"):
        return str(Unit(unit).label) if unit in Unit.values else unit

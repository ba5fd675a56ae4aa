"""The demo claims and the year of handovers (demo/claims.py): every claim state, a ledger spread over
twelve months and nine MEL communes with all three mass methods, and the same rows when run again."""

import io
from datetime import timedelta

import pytest
from django.db.models import Count
from django.db.models.functions import TruncMonth
from django.utils import timezone

from claims.models import Claim, Handover, HandoverConfirmation
from demo import claims as demo_claims
from demo import offers as demo_offers
from demo import scenario

pytestmark = pytest.mark.django_db


def _counts() -> tuple:
    return (
        Claim.objects.count(),
        Handover.objects.count(),
        HandoverConfirmation.objects.count(),
        sorted(Claim.objects.values_list("status", flat=True)),
    )


def test_demo_claims_and_a_year_of_handovers(catalogue, mel_territories):
    scenario.seed()
    demo_offers.seed()
    out = io.StringIO()
    demo_claims.seed(stdout=out)

    statuses = set(Claim.objects.values_list("status", flat=True))
    assert statuses == {"requested", "accepted", "collected", "declined", "cancelled", "expired"}
    ledger = Handover.objects.filter(reverses__isnull=True)
    assert ledger.count() == 12 * 8 + 1
    assert set(ledger.values_list("mass_method", flat=True)) == {"weighed", "declared", "estimated"}
    communes = set(ledger.values_list("territory__code", flat=True))
    assert communes == {"59512", "59350", "59009", "59646", "59378", "59279", "59163", "59560", "59017"}
    months = ledger.annotate(m=TruncMonth("collected_at")).values("m").annotate(n=Count("id"))
    assert len(months) >= 12
    oldest = ledger.order_by("collected_at").first().collected_at
    assert timezone.now() - timedelta(days=366) < oldest < timezone.now() - timedelta(days=300)
    assert Handover.objects.filter(reverses__isnull=False).exists()
    assert HandoverConfirmation.objects.filter(state="disputed").exists()
    assert ledger.filter(confirmation__isnull=True).exists()  # today's handover awaits the donor
    assert len(set(ledger.values_list("category_id", flat=True))) >= 12
    assert out.getvalue().startswith("Demo claims: 8 created today, 96 historic lots handed over;")

    before = _counts()
    again = io.StringIO()
    demo_claims.seed(stdout=again)
    assert _counts() == before
    assert again.getvalue().startswith("Demo claims: 0 created today, 0 historic lots handed over;")

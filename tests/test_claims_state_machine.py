"""A Hypothesis state machine over publish / claim / accept / decline / cancel / expire / handover /
reverse, calling the services, that checks the invariants of offers, claims and the ledger after every
step. For each offer:

    remaining = quantity − Σ quantity of its accepted claims − Σ collected quantity of its collected claims

(requested, declined, cancelled and expired claims hold nothing; a reversal corrects the ledger, not the
stock), 0 ≤ remaining ≤ quantity, and the offer's status agrees. For the ledger: at most one
non-reversal row per claim, at most one reversal per row, net sums equal the rows that were not
reversed, and no row ever changes once written."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db.models import Sum
from django.test import override_settings
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from claims import services
from claims.models import OPEN_CLAIM_STATUSES, Claim, ClaimStatus, Handover
from core.errors import Conflict
from exchange.models import Offer, OfferStatus
from exchange.services import offer_create
from inventory.models import Category
from organisations.actors import Actor
from organisations.models import OrganisationKind

from .conftest import make_ledger_row, make_org, make_site

SYSTEM = Actor.for_system()
LATER = timedelta(days=365)


class ClaimsMachine(RuleBasedStateMachine):
    offers = Bundle("offers")
    claims = Bundle("claims")
    handovers = Bundle("handovers")

    @initialize()
    def setup(self):
        self.firm = make_org(OrganisationKind.COMPANY)
        self.site = make_site(self.firm)
        self.recipients = [make_org(OrganisationKind.ASSOCIATION) for _ in range(3)]
        self.category, _ = Category.objects.get_or_create(
            key="sm-lot",
            defaults={
                "name_fr": "Lot",
                "name_en": "Lot",
                "default_unit": "piece",
                "typical_mass_kg": Decimal("2"),
            },
        )
        # Two recipients in good standing, whose claims auto-accepting offers accept at once; the third
        # has no vouched handover, so its claims on them wait for an answer (claims/selectors.py).
        for recipient in self.recipients[:2]:
            make_ledger_row(make_org(), recipient, self.category, mass_kg=1, collected_at=timezone.now())
        self.offer_ids: list[int] = []
        self.snapshots: dict[int, dict] = {}

    # ---- rules ----------------------------------------------------------------------------------

    @rule(target=offers, quantity=st.integers(1, 12), auto=st.booleans())
    def publish(self, quantity, auto):
        offer = offer_create(
            actor=SYSTEM,
            organisation_id=self.firm.pk,
            site=self.site.pk,
            category=self.category.pk,
            title="Lot",
            quantity=Decimal(quantity),
            unit="piece",
            condition="good",
            auto_accept_claims=auto,
            publish=True,
        )
        self.offer_ids.append(offer.pk)
        return offer.pk

    @rule(target=claims, offer_id=offers, who=st.integers(0, 2), quantity=st.integers(1, 6))
    def claim(self, offer_id, who, quantity):
        try:
            claim = services.claim_request(
                actor=SYSTEM,
                offer_id=offer_id,
                quantity=Decimal(quantity),
                organisation_id=self.recipients[who].pk,
            )
        except Conflict:
            return None
        return claim.pk

    def _try(self, action, **kwargs):
        if kwargs.get("claim_id", 0) is None or kwargs.get("handover_id", 0) is None:
            return None
        try:
            return action(**kwargs)
        except Conflict:
            return None

    @rule(claim_id=claims)
    def accept(self, claim_id):
        self._try(services.claim_accept, actor=SYSTEM, claim_id=claim_id)

    @rule(claim_id=claims)
    def decline(self, claim_id):
        self._try(services.claim_decline, actor=SYSTEM, claim_id=claim_id)

    @rule(claim_id=claims)
    def cancel(self, claim_id):
        self._try(services.claim_cancel, actor=SYSTEM, claim_id=claim_id)

    @rule(claim_id=claims)
    def expire(self, claim_id):
        if claim_id is not None:
            services.claim_expire(claim_id=claim_id, now=timezone.now() + LATER)

    @rule(target=handovers, claim_id=claims, part=st.integers(1, 6), weighed=st.booleans())
    def handover(self, claim_id, part, weighed):
        if claim_id is None:
            return None
        claimed = Claim.objects.get(pk=claim_id).quantity
        handover = self._try(
            services.handover_record,
            actor=SYSTEM,
            claim_id=claim_id,
            quantity=min(Decimal(part), claimed),
            mass_kg=Decimal("3.5") if weighed else None,
        )
        return handover.pk if handover else None

    @rule(handover_id=handovers)
    def reverse(self, handover_id):
        self._try(services.handover_reverse, actor=SYSTEM, handover_id=handover_id, reason="correction")

    # ---- invariants -----------------------------------------------------------------------------

    @invariant()
    def remaining_is_exact(self):
        for offer in Offer.objects.filter(pk__in=getattr(self, "offer_ids", [])):
            claims = Claim.objects.filter(offer=offer)
            accepted = claims.filter(status=ClaimStatus.ACCEPTED).aggregate(s=Sum("quantity"))["s"] or 0
            collected = (
                Handover.objects.filter(
                    claim__offer=offer, claim__status=ClaimStatus.COLLECTED, reverses__isnull=True
                ).aggregate(s=Sum("quantity"))["s"]
                or 0
            )
            assert offer.remaining_quantity == offer.quantity - accepted - collected
            assert 0 <= offer.remaining_quantity <= offer.quantity
            if offer.status == OfferStatus.PUBLISHED:
                assert offer.remaining_quantity > 0
            if offer.status == OfferStatus.EXHAUSTED:
                assert offer.remaining_quantity == 0
            if offer.status == OfferStatus.CLOSED:
                assert offer.remaining_quantity == 0
                assert not claims.filter(status__in=OPEN_CLAIM_STATUSES).exists()
            assert (
                claims.filter(status=ClaimStatus.COLLECTED).count()
                == Handover.objects.filter(claim__offer=offer, reverses__isnull=True).count()
            )

    @invariant()
    def only_recipients_in_good_standing_are_accepted_automatically(self):
        if hasattr(self, "recipients"):
            assert not Claim.objects.filter(organisation=self.recipients[2], auto_accepted=True).exists()
            assert not Claim.objects.filter(
                status=ClaimStatus.ACCEPTED, location_revealed_at__isnull=True
            ).exists()

    @invariant()
    def ledger_is_append_only_and_sums_net(self):
        rows = Handover.objects.filter(offer_id__in=getattr(self, "offer_ids", []))
        originals = rows.filter(reverses__isnull=True)
        claim_ids = list(originals.values_list("claim_id", flat=True))
        assert len(claim_ids) == len(set(claim_ids))
        reversed_ids = list(rows.filter(reverses__isnull=False).values_list("reverses_id", flat=True))
        assert len(reversed_ids) == len(set(reversed_ids))
        kept = originals.exclude(pk__in=reversed_ids)
        for field in ("quantity", "mass_kg", "co2e_avoided_kg"):
            net = rows.aggregate(s=Sum(field))["s"] or Decimal("0")
            assert net == (kept.aggregate(s=Sum(field))["s"] or Decimal("0")), field
        for row in rows.values():
            first_seen = self.snapshots.setdefault(row["id"], row)
            assert row == first_seen


@pytest.mark.django_db
@override_settings(
    BOUCLE_MAX_OPEN_CLAIMS_PER_ORG=1000, BOUCLE_MAX_OPEN_CLAIM_KG=10**9, BOUCLE_AUTO_ACCEPT_STRIKES=1000
)
def test_claims_state_machine():
    from core.models import DomainEvent

    run_state_machine_as_test(
        ClaimsMachine,
        settings=settings(
            max_examples=25,
            stateful_step_count=30,
            deadline=None,
            derandomize=True,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
    # The run is deterministic (derandomize): make sure it went through every kind of step.
    seen = set(DomainEvent.objects.values_list("name", flat=True))
    assert seen >= {
        "claim.accepted",
        "claim.declined",
        "claim.cancelled",
        "claim.expired",
        "claim.collected",
        "handover.recorded",
        "handover.reversed",
        "offer.exhausted",
    }

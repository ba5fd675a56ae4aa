"""How a claim reads to its two parties: the offer, the other party and its reliability, the pickup place
once revealed (claims/selectors/reveal.py), the loan, the handover."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from claims import loans, selectors
from claims.models import Claim, ClaimStatus, Party, ReturnCondition, RevealReason
from exchange.models import OfferStatus
from inventory.models import Unit
from organisations.models import Organisation, OrganisationKind

from ...actors import actor_of
from ...fields import QUANTITY, GeoJSONPointField


class ClaimPartyOut(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    kind = serializers.ChoiceField(choices=OrganisationKind.choices)


class ClaimOfferOut(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    unit = serializers.ChoiceField(choices=Unit.choices)
    status = serializers.ChoiceField(choices=OfferStatus.choices)


class ReliabilityOut(serializers.Serializer):
    """How an organisation has kept its word on claims."""

    claims_made = serializers.IntegerField(help_text="Claims it made, as recipient.")
    claims_received = serializers.IntegerField(help_text="Claims on its offers, as donor.")
    handovers = serializers.IntegerField(help_text="Claims collected, either side.")
    no_shows = serializers.IntegerField(
        help_text="Claims it broke as recipient after their place was revealed: never collected "
        "(expired), or cancelled by itself."
    )
    cancellations = serializers.IntegerField(help_text="Other claims it cancelled itself, either side.")
    declines = serializers.IntegerField(help_text="Claims on its offers it declined.")


class PickupSiteOut(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    address = serializers.CharField()
    location = GeoJSONPointField(help_text="The exact place.")
    opening_notes = serializers.CharField()


class PickupContactOut(serializers.Serializer):
    name = serializers.CharField()
    email = serializers.CharField()
    phone = serializers.CharField()


class ClaimPickupOut(serializers.Serializer):
    site = PickupSiteOut()
    instructions = serializers.CharField()
    donor_contact = PickupContactOut()
    recipient_contact = PickupContactOut()


class ClaimLoanOut(serializers.Serializer):
    due_at = serializers.DateTimeField(
        source="loan_due_at", allow_null=True, help_text="When the equipment is due back; set on acceptance."
    )
    returned_at = serializers.DateTimeField(allow_null=True)
    return_condition = serializers.ChoiceField(choices=ReturnCondition.choices, allow_null=True)
    return_note = serializers.CharField()
    overdue = serializers.BooleanField(help_text="Collected, not returned, and past its due date.")
    returned_on_time = serializers.BooleanField(
        allow_null=True, help_text="Returned by its due date; null until returned."
    )


def _contact(organisation: Organisation) -> dict:
    return {"name": organisation.name, "email": organisation.email, "phone": organisation.phone}


class ClaimOut(serializers.Serializer):
    """A claim. `pickup` (exact place, instructions, both contacts) is given to the two parties from
    `location_revealed_at`: at once when the donor accepted, from the day before the lot is available when
    the offer accepted by itself; it is null before, after the claim closed uncollected, and for anyone
    else. `reveal_reason` and `reveal_detail` say why."""

    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=ClaimStatus.choices)
    offer = ClaimOfferOut()
    donor = ClaimPartyOut(source="offer.organisation")
    recipient = ClaimPartyOut(source="organisation")
    recipient_reliability = serializers.SerializerMethodField()
    quantity = serializers.DecimalField(**QUANTITY)
    message = serializers.CharField()
    accepted_at = serializers.DateTimeField(allow_null=True)
    pickup_deadline = serializers.DateTimeField(allow_null=True)
    closed_at = serializers.DateTimeField(allow_null=True)
    closed_by = serializers.SerializerMethodField()
    close_reason = serializers.CharField()
    handover = serializers.IntegerField(source="handover_id", allow_null=True, help_text="The ledger row.")
    pickup = serializers.SerializerMethodField()
    location_revealed_at = serializers.SerializerMethodField(
        help_text="When `pickup` is (or was) given to the parties: the acceptance when the donor "
        "accepted; when the offer accepted by itself, midnight (Paris time) BOUCLE_REVEAL_LEAD_DAYS (1) "
        "day before the day the lot is available, or the acceptance if later. Null unless accepted or "
        "collected."
    )
    reveal_reason = serializers.SerializerMethodField(
        help_text="Why `pickup` is shown or not: accepted_by_donor, pickup_window_open, collected "
        "(shown); before_pickup_window (shown from `location_revealed_at`); awaiting_donor, and on an "
        "offer that accepts automatically awaiting_donor_no_history (no handover vouched for by a donor "
        "yet), awaiting_donor_auto_accept_suspended (too many claims broken after the reveal), "
        "awaiting_donor_auto_accept_limit (too many automatic claims not yet collected); claim_closed."
    )
    reveal_detail = serializers.SerializerMethodField(
        help_text="`reveal_reason` as a sentence, in the request's language."
    )
    loan = serializers.SerializerMethodField(
        help_text="On an offer in mode `loan`: when it is due back, and its return once recorded (POST "
        "claims/{id}/return/). Null for other claims."
    )
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    @extend_schema_field(ReliabilityOut)
    def get_recipient_reliability(self, claim: Claim) -> dict:
        return self.context["reliabilities"][claim.organisation_id].as_dict()

    @extend_schema_field(serializers.ChoiceField(choices=Party.choices, allow_null=True))
    def get_closed_by(self, claim: Claim) -> str | None:
        return claim.closed_by_party or None

    @extend_schema_field(ClaimPickupOut(allow_null=True))
    def get_pickup(self, claim: Claim) -> dict | None:
        if not selectors.claim_pickup_shown(actor=self.context["actor"], claim=claim):
            return None
        site = claim.offer.site
        return ClaimPickupOut(
            {
                "site": site,
                "instructions": claim.offer.pickup_instructions,
                "donor_contact": _contact(claim.offer.organisation),
                "recipient_contact": _contact(claim.organisation),
            }
        ).data

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_location_revealed_at(self, claim: Claim) -> str | None:
        revealed_at = selectors.claim_location_revealed_at(claim)
        return None if revealed_at is None else serializers.DateTimeField().to_representation(revealed_at)

    @extend_schema_field(serializers.ChoiceField(choices=RevealReason.choices))
    def get_reveal_reason(self, claim: Claim) -> str:
        return selectors.claim_reveal_reason(claim)

    @extend_schema_field(serializers.CharField())
    def get_reveal_detail(self, claim: Claim) -> str:
        return selectors.claim_reveal_detail(claim)

    @extend_schema_field(ClaimLoanOut(allow_null=True))
    def get_loan(self, claim: Claim) -> dict | None:
        if not loans.is_loan(claim.offer):
            return None
        returned, due = claim.returned_at, claim.loan_due_at
        return ClaimLoanOut(
            {
                "loan_due_at": claim.loan_due_at,
                "returned_at": claim.returned_at,
                "return_condition": claim.return_condition or None,
                "return_note": claim.return_note,
                "overdue": claim.loan_overdue,  # type: ignore[attr-defined]  # annotated: claims/selectors/lists.py
                "returned_on_time": returned <= due if returned is not None and due is not None else None,
            }
        ).data


def claim_out(request, claims: Claim | list[Claim]) -> dict | list:
    many = isinstance(claims, list)
    items = claims if isinstance(claims, list) else [claims]
    context = {
        "request": request,
        "actor": actor_of(request),
        "reliabilities": selectors.reliabilities_of({claim.organisation_id for claim in items}),
    }
    return ClaimOut(claims, many=many, context=context).data

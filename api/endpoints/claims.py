"""Claims: a verified association or project reserves part or all of a published offer; the donor
accepts or declines (or the offer accepts by itself); either side cancels before pickup; a party records
the handover. Only the two parties (and the operator) see a claim; others read it as absent (404)."""

from __future__ import annotations

from decimal import Decimal

from django.urls import path
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from claims import loans, selectors, services
from claims.models import Claim, ClaimStatus, Party, ReturnCondition, RevealReason
from exchange.models import OfferStatus
from inventory.models import Unit
from organisations.models import Organisation, OrganisationKind

from ..actors import actor_of
from ..created import created
from ..fields import QUANTITY, BoundedDateTimeField, GeoJSONPointField
from ..idempotency import idempotent
from ..inputs import validated, validated_query
from ..pagination import SyncCursorPage
from .handovers import HandoverOut

# ---- output -------------------------------------------------------------------------------------


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
        returned = claim.returned_at is not None
        return ClaimLoanOut(
            {
                "loan_due_at": claim.loan_due_at,
                "returned_at": claim.returned_at,
                "return_condition": claim.return_condition or None,
                "return_note": claim.return_note,
                "overdue": claim.loan_overdue,  # the rule: claims/selectors.py
                "returned_on_time": claim.returned_at <= claim.loan_due_at if returned else None,
            }
        ).data


def claim_out(request, claims: Claim | list[Claim]) -> dict | list:
    many = isinstance(claims, list)
    items = claims if many else [claims]
    context = {
        "request": request,
        "actor": actor_of(request),
        "reliabilities": selectors.reliabilities_of({claim.organisation_id for claim in items}),
    }
    return ClaimOut(claims, many=many, context=context).data


# ---- input --------------------------------------------------------------------------------------


class ClaimCreateIn(serializers.Serializer):
    offer = serializers.IntegerField(min_value=1)
    quantity = serializers.DecimalField(
        **QUANTITY,
        min_value=Decimal("0.001"),
        help_text="In the offer's unit; whole numbers for piece and pallet.",
    )
    message = serializers.CharField(max_length=2000, required=False, default="", allow_blank=True)
    organisation = serializers.IntegerField(
        min_value=1,
        required=False,
        help_text="The claiming organisation; optional when you belong to only one.",
    )


class ClaimListQuery(serializers.Serializer):
    status = serializers.ChoiceField(choices=ClaimStatus.choices, required=False)
    role = serializers.ChoiceField(
        choices=[Party.RECIPIENT, Party.DONOR],
        required=False,
        help_text="recipient: claims your organisations made; donor: claims on your organisations' offers.",
    )
    offer = serializers.IntegerField(min_value=1, required=False)
    loan = serializers.ChoiceField(
        choices=selectors.LOAN_FILTERS,
        required=False,
        help_text="Loans only: out (collected, not returned), overdue (out past their due date), returned.",
    )
    updated_since = BoundedDateTimeField(
        required=False, help_text="Only claims changed strictly after this instant."
    )


class ClaimAcceptIn(serializers.Serializer):
    pickup_deadline = BoundedDateTimeField(
        required=False,
        help_text="Until when the recipient may collect: in the future, within 90 days. Default: "
        "BOUCLE_PICKUP_DAYS (7) days after now, or after the lot's `available_from` if later.",
    )
    loan_due_at = BoundedDateTimeField(
        required=False,
        help_text="Loans only (400 otherwise): when the equipment is due back, after the pickup deadline and "
        "within BOUCLE_LOAN_MAX_DAYS (365) days of now. Default: BOUCLE_LOAN_DAYS (14) days after the "
        "pickup deadline.",
    )


class ClaimReturnIn(serializers.Serializer):
    condition = serializers.ChoiceField(
        choices=ReturnCondition.choices, help_text="The state the equipment came back in."
    )
    returned_at = BoundedDateTimeField(
        required=False, help_text="Default: now. Not in the future, not before the equipment was collected."
    )
    note = serializers.CharField(max_length=2000, required=False, default="", allow_blank=True)


class ClaimCloseIn(serializers.Serializer):
    reason = serializers.CharField(max_length=200, required=False, default="", allow_blank=True)


class HandoverCreateIn(serializers.Serializer):
    quantity = serializers.DecimalField(
        **QUANTITY,
        min_value=Decimal("0.001"),
        required=False,
        help_text=(
            "Quantity collected, in the offer's unit (whole numbers for piece and pallet), at most the "
            "claimed one (default); the rest goes back to the offer."
        ),
    )
    mass_kg = serializers.DecimalField(
        **QUANTITY,
        min_value=Decimal("0.001"),
        required=False,
        help_text="Weighed mass. Without it the mass is declared (offer) or estimated (category).",
    )
    mass_confirmed = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Keep a weighed mass outside the plausible bounds (under half or over twice what was "
        "declared or estimated); the row is then flagged outlier.",
    )
    collected_at = BoundedDateTimeField(
        required=False, help_text="Default: now. Not in the future, not before the claim was made."
    )
    note = serializers.CharField(max_length=2000, required=False, default="", allow_blank=True)


# ---- views --------------------------------------------------------------------------------------


class ClaimListView(ListAPIView):
    serializer_class = ClaimOut
    pagination_class = SyncCursorPage
    filter_backends: list = []

    def get_queryset(self):
        query = validated_query(ClaimListQuery, self.request)
        return selectors.claims_list(
            actor=actor_of(self.request),
            status=query.get("status"),
            role=query.get("role"),
            offer_id=query.get("offer"),
            loan=query.get("loan"),
            updated_since=query.get("updated_since"),
        )

    @extend_schema(
        operation_id="claims_list",
        summary="Claims your organisations made or received",
        description=(
            "Claims where one of your organisations is the recipient or the donor (every claim, for the "
            "operator), oldest change first: store the last `updated_at` and pass it as `updated_since`, "
            "or follow `next`, to sync. A claim changes when it is requested, accepted, declined, "
            "cancelled, expires, is collected or its loan returned."
        ),
        parameters=[ClaimListQuery],
    )
    def get(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(claim_out(request, list(page)))

    @extend_schema(
        operation_id="claims_create",
        summary="Claim part or all of an offer",
        description=(
            "Verified associations and community projects only (403 `recipient_kind_required`, "
            "`organisation_not_verified`), never on their own offer (403 `own_offer`). An offer you may "
            "not see is 404. More than what remains: 409 `insufficient_quantity` with "
            "`remaining_quantity`; an offer no longer published: 409 `offer_not_claimable`. Too many open "
            "claims: 429 `open_claims_limit` (BOUCLE_MAX_OPEN_CLAIMS_PER_ORG) or "
            "`open_claim_mass_limit` (BOUCLE_MAX_OPEN_CLAIM_KG, estimated kg). When the offer accepts "
            "claims automatically and your organisation is in good standing (a handover vouched for by a "
            "donor; fewer than BOUCLE_AUTO_ACCEPT_STRIKES automatic claims not yet collected plus claims "
            "broken after their place was revealed in the last BOUCLE_AUTO_ACCEPT_STRIKE_DAYS days), the "
            "claim comes back accepted, its pickup block shown from `location_revealed_at`; otherwise it "
            "awaits the donor, and `reveal_reason` says why."
        ),
        request=ClaimCreateIn,
        responses={201: ClaimOut},
    )
    @idempotent
    def post(self, request):
        data = validated(ClaimCreateIn, request)
        claim = services.claim_request(
            actor=actor_of(request),
            offer_id=data["offer"],
            quantity=data["quantity"],
            message=data["message"],
            organisation_id=data.get("organisation"),
        )
        return created(request, claim_out(request, claim), "claim-detail", claim_id=claim.pk)


class ClaimDetailView(APIView):
    @extend_schema(operation_id="claims_retrieve", summary="A claim", responses={200: ClaimOut})
    def get(self, request, claim_id: int):
        return Response(claim_out(request, selectors.claim_get(actor=actor_of(request), claim_id=claim_id)))


class ClaimAcceptView(APIView):
    @extend_schema(
        operation_id="claims_accept",
        summary="Accept a claim (donor)",
        description=(
            "The quantity leaves the offer, atomically: 409 `insufficient_quantity` (with "
            "`remaining_quantity`) when it is no longer there, `claim_not_requested` when the claim is "
            "not awaiting an answer. The recipient now sees the exact pickup place and your contact. 403 "
            "`donor_only` for the recipient. On a loan, `loan_due_at` sets when the equipment is due back "
            "(after the pickup deadline, within BOUCLE_LOAN_MAX_DAYS days; default BOUCLE_LOAN_DAYS days "
            "after the pickup deadline); given on a claim that is not a loan: 400."
        ),
        request=ClaimAcceptIn,
        responses={200: ClaimOut},
    )
    @idempotent
    def post(self, request, claim_id: int):
        data = validated(ClaimAcceptIn, request)
        claim = services.claim_accept(actor=actor_of(request), claim_id=claim_id, **data)
        return Response(claim_out(request, claim))


class ClaimDeclineView(APIView):
    @extend_schema(
        operation_id="claims_decline",
        summary="Decline a requested claim (donor)",
        description="409 `claim_not_requested` for a claim already answered (cancel an accepted one).",
        request=ClaimCloseIn,
        responses={200: ClaimOut},
    )
    @idempotent
    def post(self, request, claim_id: int):
        data = validated(ClaimCloseIn, request)
        claim = services.claim_decline(actor=actor_of(request), claim_id=claim_id, **data)
        return Response(claim_out(request, claim))


class ClaimCancelView(APIView):
    @extend_schema(
        operation_id="claims_cancel",
        summary="Cancel a claim before pickup (either party)",
        description=(
            "A requested or accepted claim (409 `claim_not_open` otherwise); an accepted one gives its "
            "quantity back to the offer. Counted in the reliability of the side that cancels: by the "
            "recipient after the place was revealed, as a no-show, and a strike against automatic "
            "acceptance (BOUCLE_AUTO_ACCEPT_STRIKES in BOUCLE_AUTO_ACCEPT_STRIKE_DAYS days suspend it)."
        ),
        request=ClaimCloseIn,
        responses={200: ClaimOut},
    )
    @idempotent
    def post(self, request, claim_id: int):
        data = validated(ClaimCloseIn, request)
        claim = services.claim_cancel(actor=actor_of(request), claim_id=claim_id, **data)
        return Response(claim_out(request, claim))


class ClaimHandoverView(APIView):
    @extend_schema(
        operation_id="claims_handover",
        summary="Record the pickup (either party)",
        description=(
            "Appends the claim's ledger row: quantity collected (default: the claimed one; the rest goes "
            "back to the offer), mass with its method (weighed when `mass_kg` is given, else declared on "
            "the offer, else estimated from the category's typical mass; 400 `mass_required` when none "
            "is known), the CO2e factor used and the CO2e avoided (none for a loan), the site's "
            "territory. A weighed mass under half or over twice what was declared or estimated for the "
            "quantity (or, with nothing declared, outside the category's plausible mass per unit) is "
            "refused with 400 `mass_implausible` naming the bounds, unless `mass_confirmed` is true: the "
            "row is then flagged `outlier`. The claim becomes collected; the other party may then "
            "confirm or dispute. On a collected claim whose row was reversed, the same call records the "
            "corrected handover (`corrects` the reversed row). 403 `party_only` for the operator; 409 "
            "`already_collected` (reverse the row first), `claim_not_accepted`, `insufficient_quantity` "
            "(a correction collecting more than the offer has left)."
        ),
        request=HandoverCreateIn,
        responses={201: HandoverOut},
    )
    @idempotent
    def post(self, request, claim_id: int):
        data = validated(HandoverCreateIn, request)
        handover = services.handover_record(actor=actor_of(request), claim_id=claim_id, **data)
        handover = selectors.handover_get(actor=actor_of(request), handover_id=handover.pk)
        return created(request, HandoverOut(handover).data, "handover-detail", handover_id=handover.pk)


class ClaimReturnView(APIView):
    @extend_schema(
        operation_id="claims_return",
        summary="Record the return of a loan (lender)",
        description=(
            "A loan (a claim on an offer in mode `loan`) came back: its `condition`, when (`returned_at`, "
            "default now; not in the future, not before the equipment was collected: 400) and a note. "
            "What was out on loan goes back to the offer's remaining quantity, to be lent again (an "
            "exhausted offer is published again while its window is open). The donor's members and keys, "
            "or the operator: 403 `donor_only` for the borrower. 409 `not_a_loan`, `loan_not_out` (not "
            "collected yet, or already returned; with `claim_status` and `returned_at`)."
        ),
        request=ClaimReturnIn,
        responses={200: ClaimOut},
    )
    @idempotent
    def post(self, request, claim_id: int):
        data = validated(ClaimReturnIn, request)
        claim = loans.claim_return(actor=actor_of(request), claim_id=claim_id, **data)
        return Response(claim_out(request, claim))


urlpatterns = [
    path("claims/", ClaimListView.as_view(), name="claims"),
    path("claims/<int:claim_id>/", ClaimDetailView.as_view(), name="claim-detail"),
    path("claims/<int:claim_id>/accept/", ClaimAcceptView.as_view(), name="claim-accept"),
    path("claims/<int:claim_id>/decline/", ClaimDeclineView.as_view(), name="claim-decline"),
    path("claims/<int:claim_id>/cancel/", ClaimCancelView.as_view(), name="claim-cancel"),
    path("claims/<int:claim_id>/handover/", ClaimHandoverView.as_view(), name="claim-handover"),
    path("claims/<int:claim_id>/return/", ClaimReturnView.as_view(), name="claim-return"),
]

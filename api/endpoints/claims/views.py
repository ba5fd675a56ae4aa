"""The claim routes: list and request, detail, accept, decline, cancel, handover and return."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from claims import loans, selectors, services

from ...actors import actor_of
from ...created import created
from ...idempotency import idempotent
from ...inputs import validated, validated_query
from ...pagination import SyncCursorPage
from ..handovers import HandoverOut
from .inputs import (
    ClaimAcceptIn,
    ClaimCloseIn,
    ClaimCreateIn,
    ClaimListQuery,
    ClaimReturnIn,
    HandoverCreateIn,
)
from .output import (
    ClaimOut,
    claim_out,
)


class ClaimListView(ListAPIView):
    serializer_class = ClaimOut
    pagination_class = SyncCursorPage

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

"""The ledger's views: the list (paginated JSON or streamed CSV), a row, and its confirmation, dispute,
reversal and dispute proposals."""

from __future__ import annotations

from decimal import Decimal

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.generics import ListAPIView
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from claims import corrections, selectors, services
from core.errors import NotFound
from inventory.models import Category

from ...actors import actor_of
from ...created import created
from ...exports import (
    CSV_MEDIA_TYPE,
    ExportQueryIn,
    TableRenderer,
    filename,
    labels_requested,
    streamed,
    table_requested,
    table_response,
)
from ...fields import QUANTITY, BoundedDateField, BoundedDateTimeField
from ...idempotency import idempotent
from ...inputs import validated, validated_query
from ...pagination import SyncCursorPage
from .export import CSV_DESCRIPTION, HANDOVER_COLUMNS, handover_record
from .output import HandoverOut, HandoverProposalOut

# ---- input --------------------------------------------------------------------------------------


class HandoverListQuery(ExportQueryIn):
    """`from` and `to` are Python keywords, hence get_fields; `labels` comes from ExportQueryIn."""

    def get_fields(self):
        return {
            "from": BoundedDateField(
                required=False, help_text="First day collected, included (ISO date, Europe/Paris)."
            ),
            "to": BoundedDateField(
                required=False, help_text="Last day collected, included (ISO date, Europe/Paris)."
            ),
            "category": serializers.IntegerField(
                min_value=1,
                required=False,
                help_text="A category id, its descendants included; 404 when none has it.",
            ),
            "updated_since": BoundedDateTimeField(
                required=False,
                help_text="Only rows whose `updated_at` is strictly after this instant.",
            ),
            "format": serializers.ChoiceField(
                choices=["json", "csv"],
                required=False,
                help_text="csv: the whole selection as CSV (same as `Accept: text/csv`), not paginated.",
            ),
            **super().get_fields(),
        }

    def validate_category(self, value: int) -> int:
        if not Category.objects.filter(pk=value).exists():
            # What the list is asked for names nothing: 404, as everywhere a read names something absent.
            raise NotFound(str(_("No such category.")))
        return value

    def validate(self, attrs):
        if attrs.get("from") and attrs.get("to") and attrs["from"] > attrs["to"]:
            raise serializers.ValidationError({"to": [_("The period ends before it starts.")]})
        return attrs


class HandoverDisputeIn(serializers.Serializer):
    reason = serializers.CharField(max_length=2000, help_text="What is wrong with this handover.")


class HandoverReverseIn(serializers.Serializer):
    reason = serializers.CharField(max_length=2000, help_text="Why this row is corrected.")


class HandoverProposalIn(serializers.Serializer):
    quantity = serializers.DecimalField(
        **QUANTITY,
        min_value=Decimal("0.001"),
        required=False,
        help_text="The true quantity, in the offer's unit (whole numbers for piece and pallet), at most the "
        "claimed one. Default: the row's.",
    )
    mass_kg = serializers.DecimalField(
        **QUANTITY, min_value=Decimal("0.001"), help_text="The true mass, standing for a weighing."
    )
    mass_confirmed = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Keep a mass outside the plausible bounds (the corrected row is then flagged outlier).",
    )
    reason = serializers.CharField(max_length=2000, help_text="Why the figure should change.")


# ---- views --------------------------------------------------------------------------------------


class HandoverListView(ListAPIView):
    serializer_class = HandoverOut
    pagination_class = SyncCursorPage
    renderer_classes = [JSONRenderer, TableRenderer]

    def get_queryset(self):
        query = validated_query(HandoverListQuery, self.request)
        return selectors.handovers_list(
            actor=actor_of(self.request),
            date_from=query.get("from"),
            date_to=query.get("to"),
            category_id=query.get("category"),
            updated_since=query.get("updated_since"),
        )

    @extend_schema(
        operation_id="handovers_list",
        summary="The handover ledger",
        description=(
            "Ledger rows where one of your organisations is donor or recipient (every row, for the "
            "operator), filtered by collection period and category. Reversals carry the collection time "
            "of the row they correct, so sums over a period are net of corrections. JSON is paginated, "
            "oldest change first: a row is append-only, but its `updated_at` moves when its confirmation "
            "or dispute, its reversal, its corrected row or a dispute proposal is recorded; store the last "
            "`updated_at` and pass it as `updated_since`, or follow `next`, to sync. "
        )
        + CSV_DESCRIPTION,
        parameters=[HandoverListQuery],
        responses={
            (200, "application/json"): OpenApiResponse(HandoverOut, description="A page of ledger rows."),
            (200, CSV_MEDIA_TYPE): table_response("The ledger rows as CSV", HANDOVER_COLUMNS),
        },
    )
    def get(self, request):
        queryset = self.get_queryset()
        if table_requested(request):
            self.paginator.check_query(queryset, request)
            rows = queryset.order_by("collected_at", "id").iterator(chunk_size=1000)
            return streamed(
                HANDOVER_COLUMNS,
                (handover_record(handover) for handover in rows),
                filename=filename("handovers"),
                labels=labels_requested(request),
            )
        return self.list(request)


class HandoverDetailView(APIView):
    @extend_schema(operation_id="handovers_retrieve", summary="A ledger row", responses={200: HandoverOut})
    def get(self, request, handover_id: int):
        handover = selectors.handover_get(actor=actor_of(request), handover_id=handover_id)
        return Response(HandoverOut(handover).data)


class HandoverConfirmView(APIView):
    @extend_schema(
        operation_id="handovers_confirm",
        summary="Confirm a handover (the other party)",
        description=(
            "The party that did not record the handover confirms it, within "
            "BOUCLE_HANDOVER_CONFIRM_DAYS (14) of its recording. 403 `other_party_only`; 409 "
            "`already_answered`, `confirmation_window_closed`, `handover_reversed`, "
            "`reversal_not_answerable`. Unanswered handovers are confirmed tacitly when the window ends."
        ),
        request=None,
        responses={200: HandoverOut},
    )
    @idempotent
    def post(self, request, handover_id: int):
        handover = services.handover_confirm(actor=actor_of(request), handover_id=handover_id)
        return Response(HandoverOut(handover).data)


class HandoverDisputeView(APIView):
    @extend_schema(
        operation_id="handovers_dispute",
        summary="Dispute a handover (the other party)",
        description=(
            "As confirm, with a reason. The row itself never changes: the dispute is recorded beside it, "
            "and the operator (or a party, within BOUCLE_HANDOVER_REVERSE_DAYS) may reverse it."
        ),
        request=HandoverDisputeIn,
        responses={200: HandoverOut},
    )
    @idempotent
    def post(self, request, handover_id: int):
        data = validated(HandoverDisputeIn, request)
        handover = services.handover_dispute(actor=actor_of(request), handover_id=handover_id, **data)
        return Response(HandoverOut(handover).data)


class HandoverReverseView(APIView):
    @extend_schema(
        operation_id="handovers_reverse",
        summary="Reverse a handover (correction)",
        description=(
            "Appends a row with negated quantity, mass and CO2e that points at this one (`reverses`), with "
            "the same collection time; the offer and the claim do not change. The operator may reverse "
            "any row; a party within BOUCLE_HANDOVER_REVERSE_DAYS (30) of its recording (403 "
            "`reverse_window_closed` after). 409 `already_reversed`, `reversal_not_reversible`."
        ),
        request=HandoverReverseIn,
        responses={201: HandoverOut},
    )
    @idempotent
    def post(self, request, handover_id: int):
        data = validated(HandoverReverseIn, request)
        reversal = services.handover_reverse(actor=actor_of(request), handover_id=handover_id, **data)
        return created(request, HandoverOut(reversal).data, "handover-detail", handover_id=reversal.pk)


class HandoverProposalView(APIView):
    @extend_schema(
        operation_id="handovers_propose",
        summary="Propose the true figure of a disputed handover (either party)",
        description=(
            "Settles a dispute without the operator. One party proposes the true quantity and mass; the "
            "other agrees by proposing the same figure (or counters with another). On agreement the "
            "disputed row is reversed and a corrected row (`corrects` it, mass weighed, confirmed by the "
            "agreeing party) is appended, in one step; the proposal then names it in `correction`. A mass "
            "outside the plausible bounds needs `mass_confirmed` (400 `mass_implausible`). 403 "
            "`party_only` (the operator settles in the admin); 409 `not_disputed`, `handover_reversed`, "
            "`reversal_not_answerable`, `insufficient_quantity` (a larger quantity needs that much "
            "remaining on the offer)."
        ),
        request=HandoverProposalIn,
        responses={201: HandoverProposalOut},
    )
    @idempotent
    def post(self, request, handover_id: int):
        data = validated(HandoverProposalIn, request)
        proposal = corrections.handover_propose(actor=actor_of(request), handover_id=handover_id, **data)
        return created(request, HandoverProposalOut(proposal).data)  # shown in its handover's proposals

"""The handover ledger: rows visible to the caller (its organisations as donor or recipient; every row
for the operator), as paginated JSON or streamed CSV; confirm, dispute and reverse a row.

Rows are append-only: a correction is a new reversing row (negative quantity, mass and CO2e) that
points at the row it reverses (`reverses`), dated with the same collection time, then, when the true
figure is known, a corrected row that points at the reversed one (`corrects`). A disputed row is settled
by the parties' proposals (`proposals/`) or by the operator (admin)."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.http import StreamingHttpResponse
from django.urls import path
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.generics import ListAPIView
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from claims import corrections, selectors, services
from claims.models import ConfirmationState, Handover, MassMethod
from core.errors import NotFound
from exchange.models import OfferMode
from inventory.models import Category, FactorBasis
from organisations.models import OrganisationKind

from ..actors import actor_of
from ..created import created
from ..fields import LEDGER_DECIMAL, QUANTITY, BoundedDateField, BoundedDateTimeField
from ..idempotency import idempotent
from ..inputs import validated, validated_query
from ..pagination import SyncCursorPage

CSV_MEDIA_TYPE = "text/csv"


class CSVRenderer(BaseRenderer):
    """`Accept: text/csv` or `?format=csv`. Views stream their CSV themselves (StreamingHttpResponse);
    this renderer only makes the format negotiable. Errors stay problem+json (api.errors)."""

    media_type = CSV_MEDIA_TYPE
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        return data if isinstance(data, bytes) else str(data or "").encode(self.charset)


def _related(obj, name: str):
    """A reverse one-to-one fetched with select_related, or None when there is none."""
    try:
        return getattr(obj, name)
    except ObjectDoesNotExist:
        return None


# ---- output -------------------------------------------------------------------------------------


class HandoverPartyOut(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    kind = serializers.ChoiceField(choices=OrganisationKind.choices, help_text="Stamped when recorded.")


class HandoverCategoryOut(serializers.Serializer):
    id = serializers.IntegerField()
    key = serializers.CharField()
    path = serializers.CharField()
    name = serializers.CharField()


class HandoverTerritoryOut(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    code = serializers.CharField()
    name = serializers.CharField()


class HandoverFactorOut(serializers.Serializer):
    version = serializers.CharField(source="factor_version", help_text="Factor version code, e.g. 2026.1.")
    basis = serializers.ChoiceField(source="factor_basis", choices=FactorBasis.choices)
    kgco2e = serializers.DecimalField(
        source="factor_kgco2e", max_digits=12, decimal_places=4, help_text="kg CO2e per kg or per item."
    )
    source = serializers.CharField(source="factor_source")
    status = serializers.CharField(
        source="factor_status",
        help_text="sourced, sourced-secondary, indicative (not yet checked against the official dataset), "
        "or missing (no factor applied: CO2e 0).",
    )
    items = serializers.DecimalField(
        source="factor_items",
        max_digits=14,
        decimal_places=3,
        allow_null=True,
        help_text="per_item basis: the number of items the factor was applied to (the pieces handed over, "
        "else the mass divided by one item's typical mass); null for per_kg. The tonnage is the mass.",
    )


class HandoverConfirmationOut(serializers.Serializer):
    state = serializers.ChoiceField(choices=ConfirmationState.choices)
    due_at = serializers.DateTimeField(help_text="Until when the other party may confirm or dispute.")
    answered_at = serializers.DateTimeField(allow_null=True)
    answered_by = serializers.IntegerField(allow_null=True, help_text="Organisation that answered.")
    tacit = serializers.BooleanField(help_text="Confirmed because nobody answered within the window.")
    reason = serializers.CharField(help_text="Why it was disputed.")


class HandoverProposalOut(serializers.Serializer):
    id = serializers.IntegerField()
    handover = serializers.IntegerField(source="handover_id", help_text="The disputed row.")
    organisation = serializers.IntegerField(
        source="organisation_id",
        allow_null=True,
        help_text="The proposing party; null: the operator settled.",
    )
    quantity = serializers.DecimalField(max_digits=14, decimal_places=3)
    mass_kg = serializers.DecimalField(max_digits=14, decimal_places=3)
    reason = serializers.CharField()
    correction = serializers.IntegerField(
        source="correction_id",
        allow_null=True,
        help_text="The corrected row this step wrote (agreement or settlement); null while awaiting the "
        "other party.",
    )
    recorded_at = serializers.DateTimeField()


class HandoverOut(serializers.Serializer):
    """One ledger row, fixed forever. Reversals have negative quantity, mass and CO2e."""

    id = serializers.IntegerField()
    claim = serializers.IntegerField(source="claim_id")
    offer = serializers.IntegerField(source="offer_id")
    reverses = serializers.IntegerField(source="reverses_id", allow_null=True, help_text="The row corrected.")
    reversed_by = serializers.SerializerMethodField(help_text="The row that reverses this one, if any.")
    corrects = serializers.IntegerField(
        source="corrects_id", allow_null=True, help_text="The reversed row this corrected handover replaces."
    )
    corrected_by = serializers.SerializerMethodField(help_text="The corrected row that replaces this one.")
    donor = serializers.SerializerMethodField()
    recipient = serializers.SerializerMethodField()
    category = HandoverCategoryOut()
    territory = HandoverTerritoryOut(allow_null=True, help_text="Where the site is (commune).")
    quantity = serializers.DecimalField(max_digits=14, decimal_places=3)
    unit = serializers.CharField()
    mass_kg = serializers.DecimalField(max_digits=14, decimal_places=3)
    mass_method = serializers.ChoiceField(choices=MassMethod.choices)
    expected_mass_kg = serializers.DecimalField(
        max_digits=14,
        decimal_places=3,
        allow_null=True,
        help_text="What was declared or estimated for the quantity handed over; null when unknown.",
    )
    mass_confirmed = serializers.BooleanField(help_text="The recording party confirmed the mass explicitly.")
    outlier = serializers.BooleanField(
        help_text="The mass is outside the plausible bounds and was kept because it was confirmed."
    )
    mode = serializers.ChoiceField(
        choices=OfferMode.choices, help_text="loan: lent and returned, never counted as waste diverted."
    )
    factor = HandoverFactorOut(source="*")
    co2e_avoided_kg = serializers.DecimalField(**LEDGER_DECIMAL)
    collected_at = serializers.DateTimeField()
    recorded_at = serializers.DateTimeField()
    recorded_by = serializers.CharField(help_text="user:<id>, api-key:<prefix> or system.")
    updated_at = serializers.SerializerMethodField(
        help_text="When this row's representation last changed: the latest of `recorded_at` and the "
        "recording of its confirmation or dispute (`confirmation.answered_at`), of the row reversing it, "
        "of the corrected row replacing it, and of its dispute proposals. The row itself never changes."
    )
    note = serializers.CharField()
    confirmation = serializers.SerializerMethodField(help_text="Null for reversal rows.")
    proposals = HandoverProposalOut(
        many=True, help_text="Steps settling a dispute of this row, oldest first (empty for most rows)."
    )

    @extend_schema_field(serializers.DateTimeField())
    def get_updated_at(self, handover: Handover) -> str:
        return serializers.DateTimeField().to_representation(selectors.handover_updated_at(handover))

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_reversed_by(self, handover: Handover) -> int | None:
        reversal = _related(handover, "reversed_by")
        return reversal.pk if reversal else None

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_corrected_by(self, handover: Handover) -> int | None:
        correction = _related(handover, "corrected_by")
        return correction.pk if correction else None

    @extend_schema_field(HandoverPartyOut)
    def get_donor(self, handover: Handover) -> dict:
        return {"id": handover.donor_id, "name": handover.donor.name, "kind": handover.donor_kind}

    @extend_schema_field(HandoverPartyOut)
    def get_recipient(self, handover: Handover) -> dict:
        return {"id": handover.recipient_id, "name": handover.recipient.name, "kind": handover.recipient_kind}

    @extend_schema_field(HandoverConfirmationOut(allow_null=True))
    def get_confirmation(self, handover: Handover) -> dict | None:
        if handover.reverses_id is not None:
            return None
        answer = _related(handover, "confirmation")
        due = handover.recorded_at + timedelta(days=settings.BOUCLE_HANDOVER_CONFIRM_DAYS)
        return HandoverConfirmationOut(
            {
                "state": answer.state if answer else ConfirmationState.PENDING,
                "due_at": due,
                "answered_at": answer.recorded_at if answer else None,
                "answered_by": answer.organisation_id if answer else None,
                "tacit": answer.tacit if answer else False,
                "reason": answer.reason if answer else "",
            }
        ).data


# ---- CSV ----------------------------------------------------------------------------------------

CSV_COLUMNS = (
    "id",
    "claim_id",
    "reverses_id",
    "corrects_id",
    "collected_at",
    "recorded_at",
    "donor_id",
    "donor_name",
    "donor_kind",
    "recipient_id",
    "recipient_name",
    "recipient_kind",
    "category_key",
    "category_name",
    "territory_code",
    "territory_name",
    "quantity",
    "unit",
    "mass_kg",
    "mass_method",
    "expected_mass_kg",
    "mass_confirmed",
    "outlier",
    "mode",
    "factor_version",
    "factor_basis",
    "factor_kgco2e",
    "factor_items",
    "factor_status",
    "factor_source",
    "co2e_avoided_kg",
    "confirmation",
)


class _Echo:
    def write(self, value: str) -> str:
        return value


def _csv_row(handover: Handover, zone: ZoneInfo) -> list:
    answer = _related(handover, "confirmation")
    if handover.reverses_id is not None:
        confirmation = ""
    else:
        confirmation = answer.state if answer else ConfirmationState.PENDING
    territory = handover.territory
    return [
        handover.pk,
        handover.claim_id,
        handover.reverses_id or "",
        handover.corrects_id or "",
        handover.collected_at.astimezone(zone).isoformat(),
        handover.recorded_at.astimezone(zone).isoformat(),
        handover.donor_id,
        handover.donor.name,
        handover.donor_kind,
        handover.recipient_id,
        handover.recipient.name,
        handover.recipient_kind,
        handover.category.key,
        handover.category.name,
        territory.code if territory else "",
        territory.name if territory else "",
        handover.quantity,
        handover.unit,
        handover.mass_kg,
        handover.mass_method,
        "" if handover.expected_mass_kg is None else handover.expected_mass_kg,
        "true" if handover.mass_confirmed else "false",
        "true" if handover.outlier else "false",
        handover.mode,
        handover.factor_version,
        handover.factor_basis,
        handover.factor_kgco2e,
        "" if handover.factor_items is None else handover.factor_items,
        handover.factor_status,
        handover.factor_source,
        handover.co2e_avoided_kg,
        confirmation,
    ]


def _csv_lines(rows) -> Iterator[str]:
    """Header, then one line per row, fetched in chunks (the export is never held in memory)."""
    writer = csv.writer(_Echo())
    zone = ZoneInfo(settings.TIME_ZONE)
    yield writer.writerow(CSV_COLUMNS)
    for handover in rows.iterator(chunk_size=1000):
        yield writer.writerow(_csv_row(handover, zone))


# ---- input --------------------------------------------------------------------------------------


class HandoverListQuery(serializers.Serializer):
    """`from` and `to` are Python keywords, hence get_fields."""

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
        }

    def validate_category(self, value: int) -> int:
        if not Category.objects.filter(pk=value).exists():
            # What the list is asked for names nothing: 404, as everywhere a read names something absent.
            raise NotFound(_("No such category."))
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

CSV_DESCRIPTION = (
    "CSV (`?format=csv` or `Accept: text/csv`): the whole selection, streamed, oldest collection first; "
    "UTF-8, comma-separated, a header row, decimal point, times in Europe/Paris. Columns: "
    + ", ".join(CSV_COLUMNS)
    + "."
)


class HandoverListView(ListAPIView):
    serializer_class = HandoverOut
    pagination_class = SyncCursorPage
    renderer_classes = [JSONRenderer, CSVRenderer]
    filter_backends: list = []

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
            (200, CSV_MEDIA_TYPE): OpenApiResponse(OpenApiTypes.STR, description="The ledger rows as CSV."),
        },
    )
    def get(self, request):
        queryset = self.get_queryset()
        if request.accepted_renderer.format == "csv":
            self.paginator.check_query(queryset, request)
            response = StreamingHttpResponse(
                _csv_lines(queryset.order_by("collected_at", "id")),
                content_type=f"{CSV_MEDIA_TYPE}; charset=utf-8",
            )
            response["Content-Disposition"] = 'attachment; filename="boucle-handovers.csv"'
            return response
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


urlpatterns = [
    path("handovers/", HandoverListView.as_view(), name="handovers"),
    path("handovers/<int:handover_id>/", HandoverDetailView.as_view(), name="handover-detail"),
    path("handovers/<int:handover_id>/confirm/", HandoverConfirmView.as_view(), name="handover-confirm"),
    path("handovers/<int:handover_id>/dispute/", HandoverDisputeView.as_view(), name="handover-dispute"),
    path("handovers/<int:handover_id>/reverse/", HandoverReverseView.as_view(), name="handover-reverse"),
    path("handovers/<int:handover_id>/proposals/", HandoverProposalView.as_view(), name="handover-proposals"),
]

"""The receipt routes: list and issue, a receipt, its PDF, its cancellation, the yearly totals."""

from __future__ import annotations

from django.http import HttpResponse
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.generics import ListAPIView
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import InvalidInput
from organisations.models import Organisation
from receipts import selectors, services
from receipts.pdf import receipt_pdf
from receipts.selectors import ASSOCIATION_TOTAL_COLUMNS, DONOR_TOTAL_COLUMNS, AssociationYearTotals

from ...actors import actor_of
from ...conditional import conditional
from ...created import created
from ...exports import (
    CSV_MEDIA_TYPE,
    Table,
    TableRenderer,
    attachment,
    filename,
    machine_keys,
    table_requested,
    table_response,
)
from ...idempotency import idempotent
from ...inputs import validated, validated_query
from ...pagination import CursorPage
from .inputs import ReceiptCancelIn, ReceiptIssueIn, ReceiptListQuery, ReceiptTotalsQuery
from .output import ReceiptOut, ReceiptSummaryOut, ReceiptTotalsOut

ISSUE_ERRORS = (
    "Refusals, with their codes: 404 when the association is not one of yours; 403 "
    "`not_an_association`; 403 `tax_receipts_not_verified` (with `tax_receipt_status`) until the operator "
    "has verified the association's right to issue receipts (POST organisations/{id}/tax-receipts/"
    "verify/); 400 `donor_not_eligible` when the donor is not a company with a SIRET; 400 on "
    "`period_end` when the period ends before it starts; 400 `nothing_to_receipt` when no donation of "
    "the donor collected in the period is left to receipt; 400 `handovers_not_eligible` (with "
    "`handover_ids`) for named handovers that are not live donations of this donor to this association "
    "in the period; 409 `already_receipted` (with `handover_ids`) for named handovers already on a "
    "receipt that is not cancelled; 400 `valuation_missing` (with `handover_ids`) when a gift carries no "
    "valuation (the donor's stock value or cost price, on its offer before the collection); with "
    "`replaces`: 404 for a receipt you do not see or another association's, 409 `replaces_other_donor`, "
    "409 `replaces_not_cancelled` (cancel it first), 409 `already_replaced`."
)


def _organisation(organisation_id: int, field: str) -> Organisation:
    organisation = Organisation.objects.filter(pk=organisation_id).first()
    if organisation is None:
        message = _("No such organisation.")
        raise InvalidInput(message, field_errors={field: [message]})
    return organisation


class ReceiptListView(ListAPIView):
    serializer_class = ReceiptSummaryOut
    pagination_class = CursorPage

    def get_queryset(self):
        query = validated_query(ReceiptListQuery, self.request)
        return selectors.receipts_list(
            actor=actor_of(self.request),
            year=query.get("year"),
            association_id=query.get("association"),
            donor_id=query.get("donor"),
        )

    @extend_schema(
        operation_id="receipts_list",
        summary="The tax receipts you see",
        description=(
            "Newest first: the receipts your associations issued (their people; not API keys), those "
            "your organisation received as a donor (its people and keys), every receipt for the "
            "operator. Without their lines (read a receipt for them)."
        ),
        parameters=[ReceiptListQuery],
    )
    def get(self, request):
        return self.list(request)

    @extend_schema(
        operation_id="receipts_create",
        summary="Issue a tax receipt for gifts in kind (association)",
        description=(
            "A person of a verified association (or the operator) issues a receipt (CERFA n° 16216*01) "
            "to a donor for its donations collected in the period: all those on no live receipt yet, or "
            "the `handover_ids` named. Each line's value is the ledger's quantity × the valuation "
            "stamped at the gift (stock value or cost price, never a price). The number is the next of "
            "the association's counter for the year of issue, never reused. Once issued a receipt never "
            "changes: cancel it and issue another with `replaces`. " + ISSUE_ERRORS
        ),
        request=ReceiptIssueIn,
        responses={201: ReceiptOut},
    )
    @idempotent
    def post(self, request):
        actor = actor_of(request)
        data = validated(ReceiptIssueIn, request)
        replaces = data.get("replaces")
        receipt = services.receipt_issue(
            actor=actor,
            association=actor.acting_organisation(data.get("association")),
            donor=_organisation(data["donor"], "donor"),
            period_start=data["period_start"],
            period_end=data["period_end"],
            handover_ids=data.get("handover_ids"),
            replaces=None if replaces is None else selectors.receipt_get(actor=actor, receipt_id=replaces),
        )
        receipt = selectors.receipt_get(actor=actor, receipt_id=receipt.pk)
        body = ReceiptOut(receipt, context={"request": request}).data
        return created(request, body, "receipt-detail", receipt_id=receipt.pk)


class ReceiptDetailView(APIView):
    @extend_schema(
        operation_id="receipts_retrieve",
        summary="A tax receipt",
        description=(
            "Everything printed on it (the parties as they were at issue, the lines, the total in figures "
            "and in French words), its cancellation and what replaces it. For the association's people, "
            "the donor's people and keys, and the operator; 404 for anyone else."
        ),
        responses=ReceiptOut,
    )
    def get(self, request, receipt_id: int):
        receipt = selectors.receipt_get(actor=actor_of(request), receipt_id=receipt_id)
        return Response(ReceiptOut(receipt, context={"request": request}).data)


class ReceiptPdfView(APIView):
    def perform_content_negotiation(self, request, force=False):
        # The bytes go out whatever the client accepts (a browser's link asks for anything).
        return super().perform_content_negotiation(request, force=True)

    @extend_schema(
        operation_id="receipts_pdf",
        summary="A tax receipt as a PDF",
        description=(
            "The printable receipt (A4), an attachment named `recu-<reference>.pdf`; a cancelled receipt "
            "says so. Who may: as GET receipts/{id}/."
        ),
        responses={
            (200, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY, description="The PDF's bytes.")
        },
    )
    def get(self, request, receipt_id: int):
        receipt = selectors.receipt_get(actor=actor_of(request), receipt_id=receipt_id)
        response = HttpResponse(receipt_pdf(receipt), content_type="application/pdf")
        response["Content-Disposition"] = attachment(f"recu-{receipt.reference}.pdf")
        response["Cache-Control"] = "private, no-store"
        return response


class ReceiptCancelView(APIView):
    @extend_schema(
        operation_id="receipts_cancel",
        summary="Cancel a tax receipt (association)",
        description=(
            "The issuing association's people, or the operator, cancel a receipt for a reason; it stays as "
            "issued, with its `cancellation` (200 with the receipt), and may then be re-issued (POST "
            "receipts/ with `replaces`). 403 `issuer_only` for the donor; 409 `already_cancelled`; 400 on "
            "`reason` when it is blank; 404 for anyone who does not see the receipt."
        ),
        request=ReceiptCancelIn,
        responses={200: ReceiptOut},
    )
    @idempotent
    def post(self, request, receipt_id: int):
        actor = actor_of(request)
        receipt = selectors.receipt_get(actor=actor, receipt_id=receipt_id)
        data = validated(ReceiptCancelIn, request)
        services.receipt_cancel(actor=actor, receipt=receipt, reason=data["reason"])
        receipt = selectors.receipt_get(actor=actor, receipt_id=receipt_id)
        return Response(ReceiptOut(receipt, context={"request": request}).data)


class ReceiptTotalsView(APIView):
    renderer_classes = [JSONRenderer, TableRenderer]

    @extend_schema(
        operation_id="receipts_totals",
        summary="A year's receipt totals: a donor's, or an association's declaration",
        description=(
            "Cancelled receipts left out. For an association (`side` association): the number and total "
            "of the receipts it issued in the year, and how many it cancelled, for its yearly declaration; "
            "its people and the operator. For any other organisation (`side` donor): its gifts of the year "
            "(collected in the year, local time, whenever the receipt was issued) on its receipts, the "
            "receipts and their total, with the 238 bis arithmetic as information, not advice "
            "(60 %, 40 % above €2 M, within a ceiling of 0.5 % of `turnover_eur` or €20,000, the excess "
            "carried over five years); its people and keys and the operator. 404 for anyone else."
            " CSV columns (machine keys, the first row), for a donor: "
            + machine_keys(DONOR_TOTAL_COLUMNS)
            + "; for an association: "
            + machine_keys(ASSOCIATION_TOTAL_COLUMNS)
            + ". `?labels=true` adds the labels row."
        ),
        parameters=[ReceiptTotalsQuery],
        responses={
            (200, "application/json"): ReceiptTotalsOut,
            (200, CSV_MEDIA_TYPE): table_response("one row: the year's totals", DONOR_TOTAL_COLUMNS),
        },
    )
    def get(self, request):
        query = validated_query(ReceiptTotalsQuery, request)
        totals = selectors.receipt_year_totals(
            actor=actor_of(request),
            organisation_id=query["organisation"],
            year=query["year"],
            turnover_eur=query.get("turnover_eur"),
        )
        if table_requested(request):
            association = isinstance(totals, AssociationYearTotals)
            columns = ASSOCIATION_TOTAL_COLUMNS if association else DONOR_TOTAL_COLUMNS
            name = filename("receipt-totals", query["organisation"], query["year"])
            return conditional(
                request, body=Table(columns, [selectors.totals_row(totals)], name), last_modified=None
            )
        return conditional(request, body=ReceiptTotalsOut(_totals(totals)).data, last_modified=None)


def _totals(totals) -> dict:
    if isinstance(totals, AssociationYearTotals):
        return {
            "side": "association",
            "organisation": totals.association_id,
            "year": totals.year,
            "receipt_count": totals.receipt_count,
            "total_value_eur": totals.total_value_eur,
            "cancelled_count": totals.cancelled_count,
            "reduction": None,
        }
    return {
        "side": "donor",
        "organisation": totals.donor_id,
        "year": totals.year,
        "receipt_count": totals.receipt_count,
        "total_value_eur": totals.total_value_eur,
        "cancelled_count": None,
        "reduction": totals.reduction,
    }

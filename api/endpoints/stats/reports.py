"""`stats/reports/`: the monthly reports of the territories in the caller's scope (built by
impact.reports), listed, and downloaded as CSV or printable HTML."""

from __future__ import annotations

from django.http import FileResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.generics import GenericAPIView, ListAPIView
from rest_framework.negotiation import BaseContentNegotiation

from impact import selectors
from impact.reports import CSV_COLUMNS, report_filename

from ...actors import actor_of
from ...exports import CSV_MEDIA_TYPE, table_response
from .common import StatsTerritoryRefOut


class MonthlyReportOut(serializers.Serializer):
    id = serializers.IntegerField()
    territory = StatsTerritoryRefOut(allow_null=True, help_text="null: every territory together")
    month = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    csv_url = serializers.SerializerMethodField()
    html_url = serializers.SerializerMethodField()

    @extend_schema_field({"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}$", "example": "2025-02"})
    def get_month(self, report) -> str:
        return f"{report.month:%Y-%m}"

    def _url(self, report, name: str) -> str:
        return self.context["request"].build_absolute_uri(reverse(f"api:{name}", args=[report.pk]))

    def get_csv_url(self, report) -> str:
        return self._url(report, "stats-report-csv")

    def get_html_url(self, report) -> str:
        return self._url(report, "stats-report-html")


class StatsReportListView(ListAPIView):
    serializer_class = MonthlyReportOut

    def get_queryset(self):
        return selectors.reports_visible_to(actor=actor_of(self.request))

    @extend_schema(
        operation_id="stats_reports_list",
        summary="Monthly reports of the territories in your scope",
        description="Built on the 1st of each month for last month: CSV and printable HTML.",
    )
    def get(self, request):
        return self.list(request)


class _AnyAccept(BaseContentNegotiation):
    """A download is what it is, whatever the client accepts; errors are problem+json anyway."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class StatsReportFileView(GenericAPIView):
    content_negotiation_class = _AnyAccept
    file_field = "csv_file"
    content_type = CSV_MEDIA_TYPE
    extension = "csv"

    def get(self, request, report_id: int):
        report = selectors.report_get(actor=actor_of(request), report_id=report_id)
        stored = getattr(report, self.file_field)
        response = FileResponse(
            stored.open("rb"),
            content_type=f"{self.content_type}; charset=utf-8",
            filename=report_filename(report, self.extension),
            as_attachment=self.file_field == "csv_file",
        )
        return response


class StatsReportCSVView(StatsReportFileView):
    @extend_schema(
        operation_id="stats_reports_csv",
        summary="A monthly report as CSV",
        responses={
            (200, CSV_MEDIA_TYPE): table_response(
                "the report's table, its French labels on the second row, then one row per category and "
                "the total",
                CSV_COLUMNS,
            )
        },
    )
    def get(self, request, report_id: int):
        return super().get(request, report_id)


class StatsReportHTMLView(StatsReportFileView):
    file_field = "html_file"
    content_type = "text/html"
    extension = "html"

    @extend_schema(
        operation_id="stats_reports_html",
        summary="A monthly report as printable HTML",
        responses={(200, "text/html"): OpenApiResponse(OpenApiTypes.STR, description="a printable page")},
    )
    def get(self, request, report_id: int):
        return super().get(request, report_id)

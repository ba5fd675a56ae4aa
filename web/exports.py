"""The dashboard's CSV downloads: the API's own statistics views (same tables, headers, scoping and
validators), authenticated by the dashboard's session instead of a bearer token, so a person who is
logged in can simply click them. Left out of the OpenAPI document: the API's paths are the contract."""

from __future__ import annotations

from django.urls import path
from rest_framework.authentication import SessionAuthentication

from api.endpoints.stats import StatsLedgerView, StatsSummaryView, StatsTerritoriesView, StatsTimeseriesView

from .language import with_language_switch


class _FromDashboardSession:
    authentication_classes = [SessionAuthentication]
    schema = None


class DashboardSummaryExport(_FromDashboardSession, StatsSummaryView):
    pass


class DashboardTimeseriesExport(_FromDashboardSession, StatsTimeseriesView):
    pass


class DashboardTerritoriesExport(_FromDashboardSession, StatsTerritoriesView):
    pass


class DashboardLedgerExport(_FromDashboardSession, StatsLedgerView):
    """The anonymised ledger (public authorities and the operator; 403 for others), e.g. filtered on
    the outliers the figures rely on."""


urlpatterns = [
    path("export/summary/", with_language_switch(DashboardSummaryExport.as_view()), name="export-summary"),
    path(
        "export/timeseries/",
        with_language_switch(DashboardTimeseriesExport.as_view()),
        name="export-timeseries",
    ),
    path(
        "export/territories/",
        with_language_switch(DashboardTerritoriesExport.as_view()),
        name="export-territories",
    ),
    path("export/ledger/", with_language_switch(DashboardLedgerExport.as_view()), name="export-ledger"),
]

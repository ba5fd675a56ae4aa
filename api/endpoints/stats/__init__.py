"""Statistics for the city: `stats/summary/`, `stats/timeseries/`, `stats/territories/` (GeoJSON),
`stats/ledger/` (anonymised) and `stats/reports/` (monthly CSV and printable HTML), one module each;
what they share is in `common`.

Every table also comes as CSV (`?format=csv` or `Accept: text/csv`, UTF-8), written by `api.exports`:
the first row is the columns' machine keys (snake_case English, the same in every language);
`?labels=true` adds their labels in the request's language (`Accept-Language`, French by default).
Answers carry an ETag and Last-Modified (`api.conditional`): dashboards poll with If-None-Match /
If-Modified-Since and get 304 while nothing changed. Who sees what is decided once, in
impact.query.stats_scope_for."""

from __future__ import annotations

from django.urls import path

from ...conditional import NOT_MODIFIED, conditional
from ...exports import CSV_MEDIA_TYPE
from .common import (
    FORMAT_PARAMETER,
    PERIOD_LIMIT,
    StatsCategoryRefOut,
    StatsHeaderOut,
    StatsLoansOut,
    StatsQueryIn,
    StatsTerritoryRefOut,
    _number,
    stats_params,
)
from .ledger import LEDGER_COLUMNS, LedgerRowOut, StatsLedgerView
from .reports import MonthlyReportOut, StatsReportCSVView, StatsReportHTMLView, StatsReportListView
from .summary import SUMMARY_FIELDS, StatsSummaryOut, StatsSummaryView
from .territories import TERRITORY_COLUMNS, StatsTerritoriesView
from .timeseries import TIMESERIES_COLUMNS, StatsTimeseriesIn, StatsTimeseriesOut, StatsTimeseriesView

__all__ = [
    "CSV_MEDIA_TYPE",
    "FORMAT_PARAMETER",
    "LEDGER_COLUMNS",
    "NOT_MODIFIED",
    "PERIOD_LIMIT",
    "SUMMARY_FIELDS",
    "TERRITORY_COLUMNS",
    "TIMESERIES_COLUMNS",
    "LedgerRowOut",
    "MonthlyReportOut",
    "StatsCategoryRefOut",
    "StatsHeaderOut",
    "StatsLedgerView",
    "StatsLoansOut",
    "StatsQueryIn",
    "StatsReportCSVView",
    "StatsReportHTMLView",
    "StatsReportListView",
    "StatsSummaryOut",
    "StatsSummaryView",
    "StatsTerritoriesView",
    "StatsTerritoryRefOut",
    "StatsTimeseriesIn",
    "StatsTimeseriesOut",
    "StatsTimeseriesView",
    "_number",
    "conditional",
    "stats_params",
    "urlpatterns",
]

urlpatterns = [
    path("stats/summary/", StatsSummaryView.as_view(), name="stats-summary"),
    path("stats/timeseries/", StatsTimeseriesView.as_view(), name="stats-timeseries"),
    path("stats/territories/", StatsTerritoriesView.as_view(), name="stats-territories"),
    path("stats/ledger/", StatsLedgerView.as_view(), name="stats-ledger"),
    path("stats/reports/", StatsReportListView.as_view(), name="stats-reports"),
    path("stats/reports/<int:report_id>/csv/", StatsReportCSVView.as_view(), name="stats-report-csv"),
    path("stats/reports/<int:report_id>/html/", StatsReportHTMLView.as_view(), name="stats-report-html"),
]

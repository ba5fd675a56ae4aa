"""The city's impact dashboard: `/dashboard/`. Thin: the figures come from impact.selectors with the
caller's actor (the same scoping as the API); web.charts and web.maps only place them on SVG."""

from __future__ import annotations

import math

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from core.errors import InvalidInput, NotFound
from impact.query import DEFAULT_TIME_ZONE, time_zone_get
from impact.selectors import stats_scope_for, stats_summary, stats_territories, stats_timeseries
from organisations.actors import Actor

from . import charts, maps
from .forms import DashboardFilters
from .language import with_language_switch
from .scope import scope_description, territory_choices

TOP_TERRITORIES = 8
WIDE_CHART = charts.Frame(width=1100, height=300)
NARROW_CHART = charts.Frame(width=440, height=230, left=46, max_labels=6)


def _downloads(filters: DashboardFilters, lang: str) -> list[dict]:
    """The API's tables for people: machine keys, then the labels in the dashboard's language."""
    tables = [
        ("summary", "web:export-summary", {}),
        ("timeseries", "web:export-timeseries", {"interval": "month", "group_by": "category"}),
        ("territories", "web:export-territories", {}),
    ]
    return [
        {
            "table": table,
            "url": f"{reverse(name)}?{filters.query(**extra, format='csv', labels='true', lang=lang)}",
        }
        for table, name, extra in tables
    ]


def _outlier_ledger_url(filters: DashboardFilters, lang: str) -> str:
    """The anonymised ledger's rows flagged outlier, as CSV (for authorities and the operator)."""
    query = filters.query(outlier="true", format="csv", labels="true", lang=lang)
    return f"{reverse('web:export-ledger')}?{query}"


@with_language_switch
@login_required
def dashboard(request):
    actor = Actor.for_user(request.user)
    scope = stats_scope_for(actor=actor)
    today = timezone.now().astimezone(time_zone_get(DEFAULT_TIME_ZONE)).date()
    filters = DashboardFilters(request.GET, today=today)
    context = {
        "filters": filters,
        "scope_text": scope_description(actor=actor, scope=scope),
        "territory_choices": territory_choices(scope=scope),
    }
    if not filters.is_valid():
        return render(request, "web/dashboard.html", context, status=400)
    params = filters.stats_params()
    try:
        summary = stats_summary(actor=actor, params=params)
        by_category = stats_timeseries(actor=actor, params=params, interval="month", group_by="category")
        totals = stats_timeseries(actor=actor, params=params, interval="month")
        territories = stats_territories(actor=actor, params=params, with_geometry=False)
    except NotFound:
        return render(request, "web/not_found.html", context, status=404)
    except InvalidInput as error:
        filters.add_domain_errors(error)
        return render(request, "web/dashboard.html", context, status=400)
    selected = summary["territory"]
    context.update(
        summary=summary,
        tonnes_chart=charts.stacked_bars(by_category, WIDE_CHART),
        co2e_chart=charts.monthly_line(
            totals, "co2e_kg", scale_by=-3, unit="t\u00a0CO\u2082e", frame=NARROW_CHART
        ),
        loans_chart=charts.monthly_line(totals, "loans.made", unit=_("loans"), frame=NARROW_CHART, whole=True)
        if summary["loans"]["made"] or summary["loans"]["returned"]
        else None,
        people_chart=charts.monthly_line(
            totals, "outcomes.people_reached", unit=_("people"), frame=NARROW_CHART, whole=True
        )
        if summary["outcomes"]["reported"]
        else None,
        map=maps.commune_map(
            territories=territories["territories"],
            scope=scope,
            selected_id=selected["id"] if selected else None,
        ),
        top_territories=sorted(
            (t for t in territories["territories"] if t["tonnes"] > 0),
            key=lambda t: (-t["tonnes"], t["name"]),
        )[:TOP_TERRITORIES],
        downloads=_downloads(filters, translation.get_language()),
        outlier_ledger_url=_outlier_ledger_url(filters, translation.get_language())
        if scope.is_authority
        else None,
        indicative_factors=[f for f in summary["factors"] if f["status"] == "indicative"],
    )
    return render(request, "web/dashboard.html", context)


login = with_language_switch(
    auth_views.LoginView.as_view(template_name="web/login.html", redirect_authenticated_user=True)
)


def locked_out(request, *, retry_after_s: int):
    """The page the dashboard's and the admin's login answer while a lockout holds (config.login_guard)."""
    context = {"minutes": max(1, math.ceil(retry_after_s / 60)), "login_url": request.path}
    return render(request, "web/locked_out.html", context, status=429)


logout = auth_views.LogoutView.as_view()

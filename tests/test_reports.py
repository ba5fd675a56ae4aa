"""Monthly reports: built once per territory and month by the beat task, listed and downloaded within
the caller's scope."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime

import pytest
from celery.schedules import crontab
from django.conf import settings

from impact.models import MonthlyReport
from impact.reports import monthly_report_build, previous_month
from impact.tasks import build_monthly_reports
from organisations.models import MembershipRole

from .conftest import client_for, make_member, make_org
from .test_stats import build_ledger

pytestmark = pytest.mark.django_db

FEBRUARY = "2025-02-01"


@pytest.fixture
def ledger(mel_territories, catalogue):
    return build_ledger(mel_territories, catalogue)


def _rows(response) -> list[list[str]]:
    content = b"".join(response.streaming_content) if response.streaming else response.content
    return list(csv.reader(io.StringIO(content.decode("utf-8"))))


def test_the_task_builds_each_report_once(ledger):
    assert build_monthly_reports.delay(month=FEBRUARY).get() == 96  # 95 linked communes and all of them
    assert build_monthly_reports.delay(month=FEBRUARY).get() == 0
    assert MonthlyReport.objects.filter(month=date(2025, 2, 1)).count() == 96
    report, created = monthly_report_build(
        territory_id=ledger.territories["59512"].pk, month=date(2025, 2, 14)
    )
    assert created is False and report.month == date(2025, 2, 1)


def test_report_files_hold_the_month_figures(ledger):
    from claims.models import Handover
    from impact.outcomes import OutcomeFigures, outcome_report
    from organisations.actors import Actor

    february = Handover.objects.filter(
        reverses__isnull=True, reversed_by__isnull=True, collected_at__month=2, collected_at__year=2025
    ).order_by("id")
    outcome_report(
        actor=Actor.for_system(),
        handover_id=february[0].pk,
        figures=OutcomeFigures(people_reached=14, young_people=4, seniors=6, use="home_furnishing"),
    )
    build_monthly_reports(month=FEBRUARY)
    roubaix = MonthlyReport.objects.get(territory=ledger.territories["59512"], month=date(2025, 2, 1))
    with roubaix.csv_file.open("rb") as stored:
        rows = list(csv.reader(io.StringIO(stored.read().decode("utf-8"))))
    assert rows == [
        ["group", "label", "handovers", "tonnes", "co2e_kg"],
        ["Catégorie", "Libellé", "Remises (nettes des annulations)", "Tonnes détournées", "CO2e évité (kg)"],
        ["furniture", "Mobilier", "1", "0.060000", "223.200"],
        ["total", "Total", "1", "0.060000", "223.200"],
    ]
    everything = MonthlyReport.objects.get(territory=None, month=date(2025, 2, 1))
    with everything.html_file.open("rb") as stored:
        html = stored.read().decode("utf-8")
    assert "février 2025" in html and "Toutes les communes" in html
    assert "Lille (59350)" in html and "Textiles et habillement" in html
    assert "<style>" in html and "<script" not in html and "http" not in html  # printable, nothing fetched
    # Who benefited, beside the tonnage: the month's reports (every mode), per use.
    outcomes = html.split('id="outcomes"', 1)[1].split("</table>", 1)[0]
    assert "<b>14</b>personnes touchées" in outcomes and "<b>4</b>dont jeunes" in outcomes
    assert f"<b>1 / {february.count()}</b>remises dont" in outcomes
    assert '<td>Équipement d’un logement</td><td class="n">1</td><td class="n">14</td>' in outcomes
    with everything.csv_file.open("rb") as stored:
        total = list(csv.reader(io.StringIO(stored.read().decode("utf-8"))))[-1]
    assert total == ["total", "Total", "2", "0.310500", "1851.450"]


def test_reports_are_listed_and_served_within_the_scope(ledger, operator_user):
    build_monthly_reports(month=FEBRUARY)
    city = client_for(make_member(ledger.roubaix, MembershipRole.MEMBER))
    listed = city.get("/api/v1/stats/reports/").json()["results"]
    assert [(r["territory"]["code"], r["month"]) for r in listed] == [("59512", "2025-02")]
    csv_response = city.get(listed[0]["csv_url"].replace("http://testserver", ""))
    assert csv_response.status_code == 200
    assert csv_response["Content-Type"] == "text/csv; charset=utf-8"
    assert csv_response["Content-Disposition"] == 'attachment; filename="boucle-2025-02-commune-59512.csv"'
    served = _rows(csv_response)
    assert (served[0][0], served[1][0], served[2][0]) == ("group", "Catégorie", "furniture")
    html_response = city.get(listed[0]["html_url"].replace("http://testserver", ""))
    assert (html_response.status_code, html_response["Content-Type"]) == (200, "text/html; charset=utf-8")
    lille = MonthlyReport.objects.get(territory=ledger.territories["59350"])
    whole = MonthlyReport.objects.get(territory=None)
    for report in (lille, whole):
        assert city.get(f"/api/v1/stats/reports/{report.pk}/csv/").status_code == 404
        assert city.get(f"/api/v1/stats/reports/{report.pk}/html/").status_code == 404
    metropole = client_for(make_member(ledger.mel))
    assert len(metropole.get("/api/v1/stats/reports/?limit=500").json()["results"]) == 96
    assert metropole.get(f"/api/v1/stats/reports/{whole.pk}/html/").status_code == 200
    assert len(client_for(operator_user).get("/api/v1/stats/reports/?limit=500").json()["results"]) == 96
    firm = client_for(make_member(ledger.firm_a))
    assert firm.get("/api/v1/stats/reports/").json()["results"] == []
    assert firm.get(f"/api/v1/stats/reports/{lille.pk}/csv/").status_code == 404
    assert client_for(make_member(make_org())).get("/api/v1/stats/reports/999999/html/").status_code == 404


def test_monthly_schedule_and_last_month_in_paris():
    entry = settings.CELERY_BEAT_SCHEDULE["impact-build-monthly-reports"]
    assert entry["task"] == "impact.tasks.build_monthly_reports"
    assert entry["schedule"] == crontab(day_of_month=1, hour=6, minute=0)
    assert settings.CELERY_TIMEZONE == "Europe/Paris"
    assert previous_month(datetime(2025, 3, 1, 5, 0, tzinfo=UTC)) == date(2025, 2, 1)
    assert previous_month(datetime(2025, 2, 28, 23, 30, tzinfo=UTC)) == date(2025, 2, 1)  # 1 March in Paris
    assert previous_month(datetime(2025, 1, 15, tzinfo=UTC)) == date(2024, 12, 1)

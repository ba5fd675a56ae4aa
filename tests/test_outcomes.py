"""What a collected lot became (issue 13, social outcomes): the recipient reports people reached, of whom
young people and seniors, the use and volunteer hours, once per handover; editable for
BOUCLE_OUTCOME_EDIT_DAYS, then fixed by the database; counted once in the statistics beside the tonnage,
with the share of handovers reported."""

from __future__ import annotations

import csv
import io
import threading
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db import connection, connections, transaction
from django.db.utils import DatabaseError
from django.test import override_settings
from django.utils import timezone

from claims.models import Handover
from impact.models import OutcomeReport
from impact.outcomes import OutcomeFigures, outcome_report
from impact.query import StatsParams
from impact.selectors import stats_summary, stats_timeseries
from organisations.actors import Actor
from organisations.models import MembershipRole, OrganisationKind

from .conftest import (
    client_for,
    client_for_key,
    make_api_key,
    make_ledger_row,
    make_member,
    make_org,
    make_reversal,
)

PARIS = ZoneInfo("Europe/Paris")
SYSTEM = Actor.for_system()
URL = "/api/v1/handovers/{}/outcome/"
REPORT = {"people_reached": 12, "young_people": 5, "seniors": 3, "use": "digital_inclusion"}


def _category():
    from inventory.models import Category

    category, _ = Category.objects.get_or_create(
        key="test-outcomes", defaults={"name_fr": "Informatique", "name_en": "IT", "default_unit": "kg"}
    )
    return category


def _row(donor, recipient, *, collected_at=None, **stamp) -> Handover:
    collected_at = collected_at or datetime(2025, 5, 10, 12, tzinfo=PARIS)
    return make_ledger_row(donor, recipient, _category(), mass_kg="20", collected_at=collected_at, **stamp)


def _correction(reversal: Handover, mass_kg: str = "15") -> Handover:
    """The corrected row of a reversed one, through the ORM, as the dispute settlement writes it."""
    row = reversal.reverses
    same = (
        "claim_id", "offer_id", "donor_id", "recipient_id", "donor_kind", "recipient_kind", "category_id",
        "territory_id", "unit", "mass_method", "factor_version", "factor_basis", "factor_kgco2e",
        "factor_source", "factor_status", "collected_at", "mode",
    )  # fmt: skip
    return Handover.objects.create(
        corrects=row,
        quantity=Decimal(mass_kg),
        mass_kg=Decimal(mass_kg),
        co2e_avoided_kg=Decimal(mass_kg),
        recorded_by="system",
        **{name: getattr(row, name) for name in same},
    )


@pytest.fixture
def parties(db):
    firm = make_org(OrganisationKind.COMPANY, name="Informatique du Nord")
    association = make_org(OrganisationKind.ASSOCIATION, name="Connexions Seniors Roubaix")
    return firm, association


# ---- the report over HTTP ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_recipient_reports_reads_and_replaces_what_the_lot_became(parties):
    firm, association = parties
    row = _row(firm, association)
    recipient = client_for(make_member(association, MembershipRole.MEMBER))

    assert recipient.get(URL.format(row.pk)).status_code == 404  # nothing reported yet
    first = recipient.put(URL.format(row.pk), {**REPORT, "volunteer_hours": "6.5"}, format="json")
    assert first.status_code == 201, first.content
    assert first["Location"].endswith(URL.format(row.pk))
    body = first.json()
    assert {k: body[k] for k in ("claim", "people_reached", "young_people", "seniors", "use")} == {
        "claim": row.claim_id,
        **REPORT,
    }
    assert body["volunteer_hours"] == "6.5"
    assert body["use_detail"] == ""
    reported_at = datetime.fromisoformat(body["reported_at"])
    assert datetime.fromisoformat(body["editable_until"]) - reported_at == timedelta(days=30)

    second = recipient.put(
        URL.format(row.pk),
        {"people_reached": 20, "use": "youth_workshop", "use_detail": "Atelier vélo"},
        format="json",
    )
    assert second.status_code == 200, second.content
    again = recipient.get(URL.format(row.pk)).json()
    assert (again["people_reached"], again["young_people"], again["seniors"], again["use"]) == (
        20,
        0,
        0,
        "youth_workshop",
    )
    assert (again["use_detail"], again["volunteer_hours"]) == ("Atelier vélo", None)
    assert again["reported_at"] == body["reported_at"] and again["updated_at"] >= body["updated_at"]
    # The donor reads it too (it sees the handover); one report for the claim.
    donor = client_for(make_member(firm, MembershipRole.MEMBER))
    assert donor.get(URL.format(row.pk)).json()["people_reached"] == 20
    assert OutcomeReport.objects.filter(claim_id=row.claim_id).count() == 1


@pytest.mark.django_db
def test_who_may_report(parties, operator_user):
    firm, association = parties
    row = _row(firm, association)
    donor = client_for(make_member(firm, MembershipRole.ADMIN))
    refused = donor.put(URL.format(row.pk), REPORT, format="json")
    assert (refused.status_code, refused.json()["code"]) == (403, "recipient_only")
    stranger = client_for(make_member(make_org(OrganisationKind.ASSOCIATION), MembershipRole.ADMIN))
    assert stranger.put(URL.format(row.pk), REPORT, format="json").status_code == 404
    assert stranger.get(URL.format(row.pk)).status_code == 404
    _key, read_only = make_api_key(association, scopes=("read",))
    answer = client_for_key(read_only).put(URL.format(row.pk), REPORT, format="json")
    assert answer.status_code == 403
    _key, writer = make_api_key(association)
    assert client_for_key(writer).put(URL.format(row.pk), REPORT, format="json").status_code == 201
    assert client_for(operator_user).put(URL.format(row.pk), REPORT, format="json").status_code == 200
    assert not OutcomeReport.objects.exclude(claim_id=row.claim_id).exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**REPORT, "young_people": 10}, "people_reached"),  # 10 + 3 > 12
        ({**REPORT, "people_reached": -1}, "people_reached"),
        ({**REPORT, "use": "party"}, "use"),
        ({**REPORT, "volunteer_hours": "-1"}, "volunteer_hours"),
        ({**REPORT, "volunteer_hours": "1.25"}, "volunteer_hours"),
        ({"use": "other"}, "people_reached"),
    ],
)
def test_a_report_that_does_not_add_up_is_a_400_naming_the_field(parties, body, field):
    firm, association = parties
    row = _row(firm, association)
    answer = client_for(make_member(association)).put(URL.format(row.pk), body, format="json")
    assert answer.status_code == 400, answer.content
    assert field in {error["field"] for error in answer.json()["errors"]}
    assert not OutcomeReport.objects.exists()


@pytest.mark.django_db
def test_the_report_is_fixed_after_its_edit_period_and_never_deleted(parties):
    firm, association = parties
    row = _row(firm, association)
    long_ago = timezone.now() - timedelta(days=31)
    report, created = outcome_report(
        actor=SYSTEM, handover_id=row.pk, figures=OutcomeFigures(people_reached=4, use="other"), now=long_ago
    )
    assert created and report.editable_until == long_ago + timedelta(days=30)
    answer = client_for(make_member(association)).put(URL.format(row.pk), REPORT, format="json")
    assert (answer.status_code, answer.json()["code"]) == (409, "outcome_fixed")
    # The database holds the rule whoever writes: an update after the deadline, a delete at any time.
    for sql in (
        "UPDATE impact_outcomereport SET people_reached = 99 WHERE id = %s",
        "DELETE FROM impact_outcomereport WHERE id = %s",
    ):
        with pytest.raises(DatabaseError, match="fixed since|never deleted"), transaction.atomic():
            connection.cursor().execute(sql, [report.pk])
    assert OutcomeReport.objects.get().people_reached == 4


@pytest.mark.django_db
def test_within_its_period_the_database_still_keeps_who_and_when_and_the_ages_within_the_people(parties):
    firm, association = parties
    row = _row(firm, association)
    report, _ = outcome_report(
        actor=Actor.for_user(make_member(association)),
        handover_id=row.pk,
        figures=OutcomeFigures(people_reached=4, use="other"),
    )
    for sql in (
        "UPDATE impact_outcomereport SET editable_until = editable_until + interval '1 year' WHERE id = %s",
        "UPDATE impact_outcomereport SET reported_by = 'someone else' WHERE id = %s",
        "UPDATE impact_outcomereport SET young_people = 3, seniors = 2 WHERE id = %s",
    ):
        with pytest.raises(DatabaseError), transaction.atomic():
            connection.cursor().execute(sql, [report.pk])


@pytest.mark.django_db
def test_one_report_per_claim_from_its_correction_and_none_on_a_reversal(parties):
    firm, association = parties
    row = _row(firm, association)
    reversal = make_reversal(row)
    recipient = client_for(make_member(association))
    answer = recipient.put(URL.format(row.pk), REPORT, format="json")
    assert (answer.status_code, answer.json()["code"]) == (409, "handover_reversed")
    answer = recipient.put(URL.format(reversal.pk), REPORT, format="json")
    assert (answer.status_code, answer.json()["code"]) == (409, "reversal_has_no_outcome")
    correction = _correction(reversal)
    assert recipient.put(URL.format(correction.pk), REPORT, format="json").status_code == 201
    # The claim's first row reads the same report; replacing it from there replaces that one.
    assert recipient.get(URL.format(row.pk)).json()["claim"] == row.claim_id
    assert (
        recipient.put(URL.format(row.pk), {**REPORT, "people_reached": 30}, format="json").status_code == 200
    )
    assert OutcomeReport.objects.get().people_reached == 30


# ---- the statistics ---------------------------------------------------------------------------------


def _params(**extra) -> StatsParams:
    return StatsParams(date_from=date(2025, 5, 1), date_to=date(2025, 6, 30), **extra)


def _report(row: Handover, **figures) -> None:
    outcome_report(actor=SYSTEM, handover_id=row.pk, figures=OutcomeFigures(**{"use": "other", **figures}))


@pytest.mark.django_db
def test_the_summary_counts_each_handover_and_its_report_once(parties, operator_user):
    firm, association = parties
    project = make_org(OrganisationKind.PROJECT, name="Jeunes du quartier")
    reported = _row(firm, association)
    _report(
        reported,
        people_reached=12,
        young_people=5,
        seniors=3,
        use="digital_inclusion",
        volunteer_hours=Decimal("6.5"),
    )
    corrected = _row(firm, project, collected_at=datetime(2025, 6, 2, 9, tzinfo=PARIS))
    correction = _correction(make_reversal(corrected))
    _report(correction, people_reached=8, young_people=8, use="youth_workshop")
    _row(firm, association)  # no report
    loan = _row(
        firm,
        project,
        mode="loan",
        co2e_avoided_kg=Decimal("0.000"),
        collected_at=datetime(2025, 6, 5, tzinfo=PARIS),
    )
    _report(loan, people_reached=2, seniors=2, use="digital_inclusion")
    undone = _row(firm, association)
    _report(undone, people_reached=100)
    make_reversal(undone)  # reversed after its report, never corrected: nothing handed over
    _report(_row(firm, association, collected_at=datetime(2025, 7, 1, 12, tzinfo=PARIS)), people_reached=50)

    actor = Actor.for_user(operator_user)
    outcomes = stats_summary(actor=actor, params=_params())["outcomes"]
    assert outcomes == {
        "handovers": 4,  # reported, the correction (once), the unreported one and the loan
        "reported": 3,
        "share_reported": Decimal("0.7500"),
        "people_reached": 22,
        "young_people": 13,
        "seniors": 5,
        "volunteer_hours": Decimal("6.5"),
        "by_use": [
            {
                "use": "digital_inclusion",
                "label": "kits d’inclusion numérique",
                "reports": 2,
                "people_reached": 14,
            },
            {"use": "youth_workshop", "label": "atelier jeunesse", "reports": 1, "people_reached": 8},
        ],
    }
    # Filters and grouping apply as to every figure: the projects' handovers only.
    projects = stats_summary(actor=actor, params=_params(recipient_kind="project"))["outcomes"]
    assert (projects["handovers"], projects["reported"], projects["people_reached"]) == (2, 2, 10)
    series = stats_timeseries(actor=actor, params=_params(), interval="month", group_by="recipient_kind")
    cells = {
        (point["bucket"], point["group"]): (
            point["outcomes"]["handovers"],
            point["outcomes"]["reported"],
            point["outcomes"]["people_reached"],
            point["outcomes"]["share_reported"],
        )
        for point in series["points"]
    }
    assert cells == {
        (date(2025, 5, 1), "association"): (2, 1, 12, Decimal("0.5000")),
        (date(2025, 5, 1), "project"): (0, 0, 0, None),
        (date(2025, 6, 1), "association"): (0, 0, 0, None),
        (date(2025, 6, 1), "project"): (2, 2, 10, Decimal("1.0000")),
    }


@pytest.mark.django_db
def test_the_summary_csv_carries_the_indicators(parties, operator_user):
    firm, association = parties
    _report(_row(firm, association), people_reached=7, young_people=2)
    answer = client_for(operator_user).get("/api/v1/stats/summary/?from=2025-05-01&to=2025-06-30&format=csv")
    assert answer.status_code == 200
    rows = dict(line.split(",")[:3:2] for line in answer.content.decode("utf-8-sig").splitlines()[1:])
    assert (rows["outcomes.people_reached"], rows["outcomes.young_people"], rows["outcomes.reported"]) == (
        "7",
        "2",
        "1",
    )
    assert rows["outcomes.share_reported"] == "1.0000"


# ---- with real connections: the cache follows a report, two reports at once are one --------------------


@pytest.mark.django_db(transaction=True)
def test_a_new_report_moves_the_cached_summary(parties, operator_user):
    firm, association = parties
    row = _row(firm, association)
    operator = client_for(operator_user)
    url = "/api/v1/stats/summary/?from=2025-05-01&to=2025-06-30"
    assert operator.get(url).json()["outcomes"]["reported"] == 0
    assert operator.get(url).json()["outcomes"]["reported"] == 0  # a repeated read: from the cache
    client_for(make_member(association)).put(URL.format(row.pk), REPORT, format="json")
    assert operator.get(url).json()["outcomes"]["people_reached"] == 12


@pytest.mark.django_db(transaction=True)
@override_settings(BOUCLE_OUTCOME_EDIT_DAYS=30)
def test_two_reports_of_one_handover_at_once_make_one_report(parties):
    firm, association = parties
    row = _row(firm, association)
    actors = [Actor.for_user(make_member(association)) for _ in range(4)]
    barrier = threading.Barrier(len(actors))
    results: list[bool] = []
    errors: list[BaseException] = []

    def report(actor: Actor, people: int) -> None:
        try:
            barrier.wait(10)
            _report_, created = outcome_report(
                actor=actor, handover_id=row.pk, figures=OutcomeFigures(people_reached=people, use="other")
            )
            results.append(created)
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=report, args=(actor, 10 + i)) for i, actor in enumerate(actors)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors and sorted(results) == [False, False, False, True]
    assert OutcomeReport.objects.filter(claim_id=row.claim_id).count() == 1
    assert OutcomeReport.objects.get().people_reached in {10, 11, 12, 13}


@pytest.mark.django_db
def test_each_territory_carries_the_indicators_of_its_handovers(parties, operator_user, mel_territories):
    from impact.selectors import stats_territories

    firm, association = parties
    roubaix, lille = mel_territories["59512"], mel_territories["59350"]
    _report(_row(firm, association, territory=roubaix), people_reached=9, seniors=9, use="digital_inclusion")
    _row(firm, association, territory=roubaix)
    _report(_row(firm, association, territory=lille), people_reached=3, use="food_aid")
    listed = stats_territories(actor=Actor.for_user(operator_user), params=_params(), with_geometry=False)
    by_code = {t["code"]: t["outcomes"] for t in listed["territories"]}
    assert (by_code["59512"]["handovers"], by_code["59512"]["reported"], by_code["59512"]["seniors"]) == (
        2,
        1,
        9,
    )
    assert by_code["59512"]["share_reported"] == Decimal("0.5000")
    assert (by_code["59350"]["people_reached"], by_code["59350"]["share_reported"]) == (3, Decimal("1.0000"))
    assert by_code["59009"]["handovers"] == 0 and by_code["59009"]["share_reported"] is None
    table = client_for(operator_user).get(
        "/api/v1/stats/territories/?from=2025-05-01&to=2025-06-30&format=csv"
    )
    rows = list(csv.DictReader(io.StringIO(table.content.decode("utf-8-sig"))))
    roubaix_row = next(row for row in rows if row["code"] == "59512")
    assert (roubaix_row["people_reached"], roubaix_row["outcomes_share_reported"]) == ("9", "0.5000")


@pytest.mark.django_db
@pytest.mark.parametrize("group_by", [None, "category", "territory", "donor_kind", "recipient_kind"])
def test_every_grouping_of_the_time_series_adds_up_to_the_summary(parties, operator_user, group_by):
    firm, association = parties
    _report(_row(firm, association), people_reached=5, young_people=1)
    _report(_row(firm, association, collected_at=datetime(2025, 6, 3, tzinfo=PARIS)), people_reached=7)
    _row(firm, association)
    actor = Actor.for_user(operator_user)
    series = stats_timeseries(actor=actor, params=_params(), interval="week", group_by=group_by)
    summed = {
        key: sum(point["outcomes"][key] for point in series["points"])
        for key in ("handovers", "reported", "people_reached", "young_people")
    }
    assert summed == {"handovers": 3, "reported": 2, "people_reached": 12, "young_people": 1}

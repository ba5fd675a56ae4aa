"""Handovers: recording the pickup (mass and CO2e rules), confirm / dispute, reversals, the ledger list
and its CSV export, and who may see or touch a row."""

import csv
import io
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from claims import services
from claims.models import Claim, ClaimStatus, Handover, HandoverConfirmation
from claims.tasks import confirm_handovers_tacitly
from core.models import DomainEvent
from exchange.models import OfferStatus
from inventory.models import Category, EmissionFactor, FactorVersion
from organisations.actors import Actor
from organisations.models import MembershipRole, OrganisationKind

from .conftest import client_for, make_claim, make_member, make_offer, make_org, make_site

pytestmark = pytest.mark.django_db
PARIS = ZoneInfo("Europe/Paris")


def _category(key, unit, parent=None, typical=None):
    return Category.objects.create(
        key=key,
        parent=parent,
        name_fr=key,
        name_en=key,
        default_unit=unit,
        typical_mass_kg=Decimal(typical) if typical else None,
    )


@pytest.fixture
def factors(db) -> dict:
    """A small catalogue with one published factor version, T-1."""
    version = FactorVersion.objects.create(
        code="T-1", title="Test", published_at=timezone.now() - timedelta(days=1)
    )
    furniture = _category("t-furniture", "piece", typical="20")
    cats = {
        "furniture": furniture,
        "chair": _category("t-chair", "piece", parent=furniture, typical="5"),
        "metal": _category("t-metal", "kg"),
        "pallets": _category("t-pallets", "pallet"),
        "gadget": _category("t-gadget", "piece"),
        "fallback": _category("mixed_household_reuse", "kg"),
    }
    cats["scrap"] = _category("t-scrap", "kg", parent=cats["metal"])

    def factor(category, basis, value, status="sourced"):
        EmissionFactor.objects.create(
            version=version,
            category=category,
            basis=basis,
            kgco2e=Decimal(value),
            source=f"Source for {category.key}",
            status=status,
        )

    factor(furniture, "per_item", "40", "indicative")
    factor(cats["metal"], "per_kg", "1.5")
    factor(cats["pallets"], "per_item", "8")
    factor(cats["fallback"], "per_kg", "0.51")
    return cats


@pytest.fixture
def donor_user(firm):
    return make_member(firm, MembershipRole.MEMBER)


@pytest.fixture
def recipient_user(association):
    return make_member(association, MembershipRole.MEMBER)


@pytest.fixture
def donor(donor_user):
    return client_for(donor_user)


@pytest.fixture
def recipient(recipient_user):
    return client_for(recipient_user)


def _handover(client, claim, **body):
    return client.post(f"/api/v1/claims/{claim.pk}/handover/", body, format="json")


def _accepted(firm, association, category=None, quantity=5, claimed=None, unit="piece", **offer_extra):
    offer = make_offer(firm, category=category, quantity=quantity, unit=unit, **offer_extra)
    return make_claim(offer, association, claimed or quantity, accept=True)


# ---- mass and CO2e -----------------------------------------------------------------------------------


def test_recipient_records_the_pickup_with_an_estimated_mass(
    firm, association, recipient, factors, mel_territories
):
    site = make_site(firm)
    site.territory = mel_territories["59512"]  # Roubaix
    site.save()
    claim = _accepted(firm, association, factors["chair"], quantity=5, claimed=3, site=site)
    response = _handover(recipient, claim)
    assert response.status_code == 201, response.content
    body = response.json()
    assert {k: body[k] for k in ("quantity", "unit", "mass_kg", "mass_method", "co2e_avoided_kg")} == {
        "quantity": "3.000",
        "unit": "piece",
        "mass_kg": "15.000",  # typical 5 kg × 3
        "mass_method": "estimated",
        "co2e_avoided_kg": "120.000",  # per item, inherited from furniture: 3 × 40
    }
    assert body["factor"] == {
        "version": "T-1",
        "basis": "per_item",
        "kgco2e": "40.0000",
        "source": "Source for t-furniture",
        "status": "indicative",
        "items": "3.000",  # per item: the 3 pieces handed over
    }
    assert body["donor"] == {"id": firm.pk, "name": "Menuiserie du Nord", "kind": "company"}
    assert body["recipient"] == {"id": association.pk, "name": "Repair Café Roubaix", "kind": "association"}
    assert body["category"]["key"] == "t-chair"
    assert (body["territory"]["code"], body["territory"]["name"]) == ("59512", "Roubaix")
    assert body["confirmation"]["state"] == "pending"
    assert (body["reverses"], body["reversed_by"]) == (None, None)

    claim.refresh_from_db()
    assert (claim.status, claim.closed_by_party) == (ClaimStatus.COLLECTED, "recipient")
    row = Handover.objects.get()
    assert (row.recorded_by_organisation_id, row.donor_kind, row.recipient_kind) == (
        association.pk,
        "company",
        "association",
    )
    assert row.offer.remaining_quantity == Decimal("2")
    assert [e.name for e in DomainEvent.objects.filter(name__startswith=("handover.")).order_by("id")] == [
        "handover.recorded"
    ]
    assert DomainEvent.objects.filter(name="claim.collected", aggregate_id=claim.pk).count() == 1


def test_weighed_mass_wins_and_per_kg_factors_multiply_it(firm, association, recipient, factors):
    claim = _accepted(firm, association, factors["scrap"], quantity=100, unit="kg")
    body = _handover(recipient, claim, mass_kg="97.5").json()
    assert (body["mass_kg"], body["mass_method"], body["co2e_avoided_kg"]) == ("97.500", "weighed", "146.250")
    assert (body["factor"]["basis"], body["factor"]["source"]) == ("per_kg", "Source for t-metal")


def test_mass_in_kg_is_declared_by_the_unit(firm, association, recipient, factors):
    claim = _accepted(firm, association, factors["metal"], quantity=40, unit="kg")
    body = _handover(recipient, claim).json()
    assert (body["mass_kg"], body["mass_method"], body["co2e_avoided_kg"]) == ("40.000", "declared", "60.000")


def test_per_item_factor_counts_items_from_the_mass_when_the_unit_is_not_pieces(
    firm, association, recipient, factors
):
    claim = _accepted(
        firm, association, factors["chair"], quantity=2, unit="pallet", mass_per_unit_kg=Decimal("50")
    )
    body = _handover(recipient, claim).json()
    # 2 pallets × 50 kg = 100 kg declared; 100 kg ÷ 5 kg per chair = 20 chairs × 40 kg CO2e
    assert (body["mass_kg"], body["mass_method"], body["co2e_avoided_kg"]) == (
        "100.000",
        "declared",
        "800.000",
    )


def test_per_item_factor_without_an_item_mass_falls_back_to_the_nearest_per_kg_factor(
    firm, association, recipient, factors
):
    claim = _accepted(firm, association, factors["pallets"], quantity=1, unit="m3")
    body = _handover(recipient, claim, mass_kg="30").json()
    assert body["co2e_avoided_kg"] == "15.300"  # 30 kg × 0.51, the catalogue's fallback per kg
    assert body["factor"] == {
        "version": "T-1",
        "basis": "per_kg",
        "kgco2e": "0.5100",
        "source": "Source for mixed_household_reuse",
        "status": "sourced",
        "items": None,
    }


def test_without_any_factor_the_mass_still_counts(firm, association, recipient):
    claim = _accepted(firm, association, quantity=2, unit="kg")
    body = _handover(recipient, claim).json()
    assert (body["mass_kg"], body["co2e_avoided_kg"]) == ("2.000", "0.000")
    assert body["factor"] == {
        "version": "",
        "basis": "per_kg",
        "kgco2e": "0.0000",
        "source": "",
        "status": "missing",
        "items": None,
    }


def test_pieces_without_any_mass_ask_for_the_weighed_mass(firm, association, recipient, factors):
    claim = _accepted(firm, association, factors["gadget"], quantity=4)
    response = _handover(recipient, claim)
    assert response.status_code == 400
    assert response.json()["code"] == "mass_required"
    assert [e["field"] for e in response.json()["errors"]] == ["mass_kg"]
    assert Handover.objects.count() == 0
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.ACCEPTED
    assert _handover(recipient, claim, mass_kg="12").status_code == 201


def test_real_catalogue_factor_is_stamped(firm, association, recipient, catalogue):
    sofa = catalogue["sofa"]
    factor = EmissionFactor.objects.select_related("version").get(category=sofa)
    claim = _accepted(firm, association, sofa, quantity=1)
    body = _handover(recipient, claim, mass_kg="37").json()
    assert body["factor"]["version"] == factor.version.code
    assert Decimal(body["factor"]["kgco2e"]) == factor.kgco2e
    expected = factor.kgco2e if factor.basis == "per_item" else factor.kgco2e * 37
    assert Decimal(body["co2e_avoided_kg"]) == expected.quantize(Decimal("0.001"))


# ---- quantities and timing ---------------------------------------------------------------------------


def test_partial_collection_gives_the_rest_back(firm, association, recipient):
    offer = make_offer(firm, quantity=6, auto_accept_claims=True)
    claim = make_claim(offer, association, 6, accept=True)
    offer.refresh_from_db()
    assert offer.status == OfferStatus.EXHAUSTED
    body = _handover(recipient, claim, quantity="4", mass_kg="8").json()
    assert body["quantity"] == "4.000"
    offer.refresh_from_db()
    assert (offer.remaining_quantity, offer.status) == (Decimal("2"), OfferStatus.PUBLISHED)


def test_offer_closes_when_everything_was_collected(firm, association, recipient):
    offer = make_offer(firm, quantity=3, auto_accept_claims=True)
    first = make_claim(offer, association, 2, accept=True)
    second = make_claim(offer, association, 1, accept=True)
    _handover(recipient, first, mass_kg="2")
    offer.refresh_from_db()
    assert offer.status == OfferStatus.EXHAUSTED  # the second claim is still open
    _handover(recipient, second, mass_kg="1")
    offer.refresh_from_db()
    assert (offer.status, offer.remaining_quantity) == (OfferStatus.CLOSED, Decimal("0"))
    assert offer.closed_at is not None
    assert DomainEvent.objects.filter(name="offer.closed", aggregate_id=offer.pk).count() == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"quantity": "6"}, "quantity"),
        ({"quantity": "0"}, "quantity"),
        ({"quantity": "1.5"}, "quantity"),
        ({"mass_kg": "0"}, "mass_kg"),
        ({"mass_kg": "-3"}, "mass_kg"),
        ({"collected_at": "2999-01-01T00:00:00Z"}, "collected_at"),
        ({"collected_at": "2001-01-01T00:00:00Z"}, "collected_at"),
        ({"collected_at": "yesterday"}, "collected_at"),
    ],
)
def test_bad_handover_input_is_a_400_and_saves_nothing(firm, association, recipient, body, field):
    claim = _accepted(firm, association, quantity=5)
    response = _handover(recipient, claim, **{"mass_kg": "5", **body})
    assert response.status_code == 400, response.content
    assert [e["field"] for e in response.json()["errors"]] == [field]
    assert Handover.objects.count() == 0
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.ACCEPTED


def test_collected_at_in_the_past_is_kept(firm, association, recipient):
    claim = _accepted(firm, association, quantity=1)
    Claim.objects.filter(pk=claim.pk).update(created_at=timezone.now() - timedelta(hours=2))
    when = timezone.now() - timedelta(minutes=30)
    body = _handover(recipient, claim, mass_kg="1", collected_at=when.isoformat()).json()
    assert datetime.fromisoformat(body["collected_at"]) == when


def test_one_handover_per_claim(firm, association, recipient, donor):
    claim = _accepted(firm, association, quantity=1)
    assert _handover(recipient, claim, mass_kg="1").status_code == 201
    response = _handover(donor, claim, mass_kg="1")
    assert (response.status_code, response.json()["code"]) == (409, "already_collected")
    assert Handover.objects.count() == 1


def test_requested_claim_cannot_be_handed_over(firm, association, recipient):
    claim = make_claim(make_offer(firm, quantity=2), association, 1)
    response = _handover(recipient, claim, mass_kg="1")
    assert (response.status_code, response.json()["code"]) == (409, "claim_not_accepted")


# ---- confirm, dispute, reverse -----------------------------------------------------------------------


def _recorded(firm, association, client, **body):
    claim = _accepted(firm, association, quantity=2)
    return _handover(client, claim, mass_kg="4", **body).json()["id"]


def test_the_other_party_confirms_once(firm, association, recipient, donor):
    handover_id = _recorded(firm, association, recipient)
    refused = recipient.post(f"/api/v1/handovers/{handover_id}/confirm/")
    assert (refused.status_code, refused.json()["code"]) == (403, "other_party_only")
    response = donor.post(f"/api/v1/handovers/{handover_id}/confirm/")
    assert response.status_code == 200
    confirmation = response.json()["confirmation"]
    assert (confirmation["state"], confirmation["answered_by"], confirmation["tacit"]) == (
        "confirmed",
        firm.pk,
        False,
    )
    again = donor.post(f"/api/v1/handovers/{handover_id}/dispute/", {"reason": "non"}, format="json")
    assert (again.status_code, again.json()["code"]) == (409, "already_answered")
    assert DomainEvent.objects.filter(name="handover.confirmed", aggregate_id=handover_id).count() == 1


def test_the_other_party_disputes_with_a_reason(firm, association, recipient, donor):
    handover_id = _recorded(firm, association, donor)
    no_reason = recipient.post(f"/api/v1/handovers/{handover_id}/dispute/", {"reason": " "}, format="json")
    assert no_reason.status_code == 400
    response = recipient.post(
        f"/api/v1/handovers/{handover_id}/dispute/",
        {"reason": "Nous avons reçu 1 seule pièce"},
        format="json",
    )
    assert response.status_code == 200
    assert (response.json()["confirmation"]["state"], response.json()["confirmation"]["reason"]) == (
        "disputed",
        "Nous avons reçu 1 seule pièce",
    )
    assert HandoverConfirmation.objects.get(handover_id=handover_id).organisation_id == association.pk


def test_confirmation_window_closes_then_the_beat_confirms_tacitly(firm, association, recipient, donor):
    claim = _accepted(firm, association, quantity=2)
    long_ago = timezone.now() - timedelta(days=20)
    Claim.objects.filter(pk=claim.pk).update(created_at=long_ago)
    handover = services.handover_record(
        actor=Actor.for_system(), claim_id=claim.pk, mass_kg=Decimal("4"), collected_at=long_ago, now=long_ago
    )
    late = donor.post(f"/api/v1/handovers/{handover.pk}/confirm/")
    assert (late.status_code, late.json()["code"]) == (409, "confirmation_window_closed")
    fresh = _recorded(firm, association, recipient)

    assert confirm_handovers_tacitly.apply().get() == 1
    answer = HandoverConfirmation.objects.get()
    assert (answer.handover_id, answer.state, answer.tacit, answer.recorded_by) == (
        handover.pk,
        "confirmed",
        True,
        "system",
    )
    assert recipient.get(f"/api/v1/handovers/{fresh}/").json()["confirmation"]["state"] == "pending"
    assert confirm_handovers_tacitly.apply().get() == 0


def test_a_party_reverses_within_the_window(firm, association, recipient, donor):
    handover_id = _recorded(firm, association, recipient)
    original = Handover.objects.get(pk=handover_id)
    assert recipient.post(f"/api/v1/handovers/{handover_id}/reverse/", {}, format="json").status_code == 400
    response = donor.post(
        f"/api/v1/handovers/{handover_id}/reverse/", {"reason": "Mauvais lot saisi"}, format="json"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["reverses"] == handover_id
    assert (body["quantity"], body["mass_kg"], body["co2e_avoided_kg"]) == (
        "-2.000",
        "-4.000",
        f"{-original.co2e_avoided_kg:.3f}",
    )
    assert datetime.fromisoformat(body["collected_at"]) == original.collected_at
    assert (body["note"], body["confirmation"]) == ("Mauvais lot saisi", None)
    assert donor.get(f"/api/v1/handovers/{handover_id}/").json()["reversed_by"] == body["id"]

    again = recipient.post(f"/api/v1/handovers/{handover_id}/reverse/", {"reason": "bis"}, format="json")
    assert (again.status_code, again.json()["code"]) == (409, "already_reversed")
    of_reversal = recipient.post(f"/api/v1/handovers/{body['id']}/reverse/", {"reason": "x"}, format="json")
    assert (of_reversal.status_code, of_reversal.json()["code"]) == (409, "reversal_not_reversible")
    confirm = donor.post(f"/api/v1/handovers/{handover_id}/confirm/")
    assert (confirm.status_code, confirm.json()["code"]) == (409, "handover_reversed")
    assert Claim.objects.get(pk=original.claim_id).status == ClaimStatus.COLLECTED
    assert DomainEvent.objects.filter(name="handover.reversed", aggregate_id=handover_id).count() == 1


def test_after_the_window_only_the_operator_reverses(firm, association, recipient, operator_user):
    claim = _accepted(firm, association, quantity=2)
    long_ago = timezone.now() - timedelta(days=40)
    Claim.objects.filter(pk=claim.pk).update(created_at=long_ago)
    handover = services.handover_record(
        actor=Actor.for_system(), claim_id=claim.pk, mass_kg=Decimal("4"), collected_at=long_ago, now=long_ago
    )
    late = recipient.post(f"/api/v1/handovers/{handover.pk}/reverse/", {"reason": "oubli"}, format="json")
    assert (late.status_code, late.json()["code"]) == (403, "reverse_window_closed")
    response = client_for(operator_user).post(
        f"/api/v1/handovers/{handover.pk}/reverse/", {"reason": "Doublon"}, format="json"
    )
    assert response.status_code == 201
    assert Handover.objects.filter(reverses=handover).count() == 1


# ---- the ledger list ---------------------------------------------------------------------------------


def _at(firm, association, day: str, hour: int, mass: str, category=None):
    when = datetime.fromisoformat(day).replace(hour=hour, tzinfo=PARIS)
    claim = _accepted(firm, association, category, quantity=1)
    Claim.objects.filter(pk=claim.pk).update(created_at=when - timedelta(days=1))
    return services.handover_record(
        actor=Actor.for_system(), claim_id=claim.pk, mass_kg=Decimal(mass), collected_at=when, now=when
    )


def test_ledger_lists_by_period_in_paris_time_and_by_category(
    firm, association, recipient, factors, django_assert_max_num_queries
):
    march_first = _at(firm, association, "2025-03-01", 0, "1", factors["metal"])  # 23:00 UTC on Feb 28
    march_last = _at(firm, association, "2025-03-31", 23, "2", factors["scrap"])  # 21:00 UTC
    april = _at(firm, association, "2025-04-01", 0, "3", factors["chair"])
    outside = _at(make_org(), make_org(OrganisationKind.PROJECT), "2025-03-10", 12, "9")

    def ids(query=""):
        response = recipient.get(f"/api/v1/handovers/{query}")
        assert response.status_code == 200, response.content
        return [row["id"] for row in response.json()["results"]]

    assert ids() == [march_first.pk, march_last.pk, april.pk]  # oldest change first (recorded in this order)
    assert ids("?from=2025-03-01&to=2025-03-31") == [march_first.pk, march_last.pk]
    assert ids("?from=2025-04-01") == [april.pk]
    assert ids("?to=2025-02-28") == []
    assert ids(f"?category={factors['metal'].pk}") == [march_first.pk, march_last.pk]
    assert ids(f"?category={factors['chair'].pk}") == [april.pk]
    bad = recipient.get("/api/v1/handovers/?from=2025-04-02&to=2025-04-01")
    assert (bad.status_code, [e["field"] for e in bad.json()["errors"]]) == (400, ["to"])
    assert recipient.get("/api/v1/handovers/?category=999999").status_code == 404
    assert recipient.get("/api/v1/handovers/?from=March").status_code == 400
    with django_assert_max_num_queries(6):
        recipient.get("/api/v1/handovers/")
    assert outside.pk not in ids()


def test_ledger_as_csv(firm, association, recipient, factors, operator_user):
    first = _at(firm, association, "2025-05-02", 10, "12.5", factors["metal"])
    second = _at(firm, association, "2025-05-01", 9, "3", factors["chair"])
    services.handover_reverse(actor=Actor.for_system(), handover_id=first.pk, reason="erreur")

    for response in (
        recipient.get("/api/v1/handovers/?format=csv"),
        recipient.get("/api/v1/handovers/", HTTP_ACCEPT="text/csv"),
    ):
        assert response.status_code == 200
        assert response["Content-Type"] == "text/csv; charset=utf-8"
        rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
        assert [r["id"] for r in rows][:2] == [str(second.pk), str(first.pk)]
        assert len(rows) == 3
        reversal = rows[2]
        assert (reversal["reverses_id"], reversal["mass_kg"], reversal["quantity"]) == (
            str(first.pk),
            "-12.500",
            "-1.000",
        )
        row = rows[1]
        assert {
            k: row[k] for k in ("collected_at", "mass_kg", "mass_method", "co2e_avoided_kg", "factor_kgco2e")
        } == {
            "collected_at": "2025-05-02T10:00:00+02:00",
            "mass_kg": "12.500",
            "mass_method": "weighed",
            "co2e_avoided_kg": "18.750",
            "factor_kgco2e": "1.5000",
        }
        assert (row["donor_name"], row["category_key"], row["confirmation"]) == (
            "Menuiserie du Nord",
            "t-metal",
            "pending",
        )
    filtered = recipient.get("/api/v1/handovers/?format=csv&from=2025-05-02")
    lines = b"".join(filtered.streaming_content).decode().splitlines()
    assert lines[0].startswith("id,claim_id,reverses_id,corrects_id,collected_at")
    assert len(lines) == 3
    stranger = client_for(make_member(make_org(OrganisationKind.ASSOCIATION)))
    assert b"".join(stranger.get("/api/v1/handovers/?format=csv").streaming_content).decode().count("\n") == 1
    everything = client_for(operator_user).get("/api/v1/handovers/?format=csv")
    assert b"".join(everything.streaming_content).decode().count("\n") == 4
    assert everything["Content-Disposition"] == 'attachment; filename="boucle-handovers.csv"'
    for language, labels in (
        ("fr", ["Identifiant", "Demande", "Annule la ligne"]),
        ("en", ["Id", "Claim", "Reverses the row"]),
    ):
        labelled = recipient.get("/api/v1/handovers/?format=csv&labels=true", HTTP_ACCEPT_LANGUAGE=language)
        labelled_lines = list(csv.reader(io.StringIO(b"".join(labelled.streaming_content).decode())))
        assert labelled_lines[0][:5] == ["id", "claim_id", "reverses_id", "corrects_id", "collected_at"]
        assert labelled_lines[1][:3] == labels and len(labelled_lines[1]) == len(labelled_lines[0]) == 32
        assert [line[0] for line in labelled_lines[2:]] == [str(second.pk), str(first.pk), rows[2]["id"]]
    refused = recipient.get("/api/v1/handovers/?format=csv&labels=1")
    assert (refused.status_code, refused.json()["errors"][0]["field"]) == (400, "labels")


def test_errors_stay_problem_json_when_csv_is_asked(recipient):
    response = recipient.get("/api/v1/handovers/?format=csv&from=nope")
    assert (response.status_code, response["Content-Type"]) == (400, "application/problem+json")


# ---- authorization -----------------------------------------------------------------------------------


def test_other_organisations_get_404_on_every_ledger_route(firm, association, recipient):
    handover_id = _recorded(firm, association, recipient)
    stranger = client_for(make_member(make_org(OrganisationKind.ASSOCIATION)))
    assert stranger.get(f"/api/v1/handovers/{handover_id}/").status_code == 404
    for action, body in (("confirm", None), ("dispute", {"reason": "x"}), ("reverse", {"reason": "x"})):
        assert (
            stranger.post(f"/api/v1/handovers/{handover_id}/{action}/", body, format="json").status_code
            == 404
        )
    assert stranger.get("/api/v1/handovers/").json()["results"] == []
    assert Handover.objects.count() == 1
    assert not HandoverConfirmation.objects.exists()


def test_operator_sees_every_row_but_is_not_a_party(firm, association, recipient, operator_user):
    operator = client_for(operator_user)
    claim = _accepted(firm, association, quantity=1)
    refused = _handover(operator, claim, mass_kg="1")
    assert (refused.status_code, refused.json()["code"]) == (403, "party_only")
    handover_id = _recorded(firm, association, recipient)
    assert [r["id"] for r in operator.get("/api/v1/handovers/").json()["results"]] == [handover_id]
    response = operator.post(f"/api/v1/handovers/{handover_id}/confirm/")
    assert (response.status_code, response.json()["code"]) == (403, "other_party_only")

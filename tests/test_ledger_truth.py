"""The city's tonnage must be true (issue 9): plausible masses per category and at handover, outliers kept
only when confirmed, corrections after a reversal, disputes settled by the parties or the operator, stock
that adds up, per-item factors with a weighed mass. Boundaries are checked in both languages."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.db.models import F, Sum
from django.test import Client
from django.utils import timezone

from claims import services
from claims.models import (
    ClaimStatus,
    ConfirmationState,
    Handover,
    HandoverConfirmation,
    HandoverProposal,
)
from core.models import DomainEvent
from exchange.models import Offer
from impact.models import PublicAuthorityTerritory
from inventory.models import Category, EmissionFactor, FactorVersion
from organisations.actors import Actor
from organisations.models import OrganisationKind, Site

from .conftest import client_for, make_claim, make_member, make_offer, make_org, make_site, make_user

pytestmark = pytest.mark.django_db
OFFERS = "/api/v1/offers/"


def _category(key, unit, typical=None, **extra):
    return Category.objects.create(
        key=key,
        name_fr=f"{key}-fr",
        name_en=key,
        default_unit=unit,
        typical_mass_kg=Decimal(typical) if typical else None,
        **extra,
    )


@pytest.fixture
def catalogue(db) -> dict:
    version = FactorVersion.objects.create(
        code="T-9", title="Test", published_at=timezone.now() - timedelta(days=1)
    )
    cats = {
        "monitor": _category("monitor", "piece", "4"),  # plausible 1 to 16 kg a piece
        "printer": _category("printer", "piece", "20"),  # 5 to 80 kg
        "chair": _category("chair", "piece", "5"),
        "gadget": _category("gadget", "piece"),  # no typical mass: the unit's bounds
        "metal": _category("metal", "kg"),
    }
    for key, basis, value in (("chair", "per_item", "40"), ("metal", "per_kg", "1.5")):
        EmissionFactor.objects.create(
            version=version,
            category=cats[key],
            basis=basis,
            kgco2e=Decimal(value),
            source=key,
            status="sourced",
        )
    return cats


def _field_error(response, field):
    body = response.json()
    assert body["type"].startswith("urn:boucle:problem:"), body
    return [error["message"] for error in body["errors"] if error["field"] == field]


def _offer_body(site, category, **over):
    return {
        "site": site.pk,
        "category": category.pk,
        "title": "Lot",
        "quantity": "2",
        "unit": "piece",
        "condition": "good",
        **over,
    }


# ---- plausible mass of an offer ------------------------------------------------------------------


def test_an_offer_of_printers_at_99999999_kg_each_is_refused_naming_the_range(firm, catalogue):
    client, site = client_for(make_member(firm)), make_site(firm)
    body = _offer_body(site, catalogue["printer"], mass_per_unit_kg="99999999")
    english = client.post(OFFERS, body, format="json", HTTP_ACCEPT_LANGUAGE="en")
    assert (english.status_code, english.json()["code"]) == (400, "validation_error")
    assert _field_error(english, "mass_per_unit_kg") == [
        "In printer, the plausible mass per piece is 5 to 80 kg, not 99999999 kg."
    ]
    french = client.post(OFFERS, body, format="json", HTTP_ACCEPT_LANGUAGE="fr")
    assert _field_error(french, "mass_per_unit_kg") == [
        "Dans la catégorie « printer-fr », la masse plausible par pièce va de 5 à 80 kg, pas 99999999 kg."
    ]
    assert not Offer.objects.exists()


@pytest.mark.parametrize(
    ("mass", "status"), [("1", 201), ("0.999", 400), ("16", 201), ("16.001", 400), ("4", 201)]
)
def test_the_typical_mass_gives_a_quarter_to_four_times_it(firm, catalogue, mass, status):
    client, site = client_for(make_member(firm)), make_site(firm)
    response = client.post(
        OFFERS, _offer_body(site, catalogue["monitor"], mass_per_unit_kg=mass), format="json"
    )
    assert response.status_code == status, response.content


def test_the_operator_range_wins_and_other_units_have_physical_bounds(firm, catalogue):
    monitor = catalogue["monitor"]
    monitor.mass_min_kg, monitor.mass_max_kg = Decimal("2"), Decimal("3")
    monitor.save()
    client, site = client_for(make_member(firm)), make_site(firm)
    refused = client.post(
        OFFERS, _offer_body(site, monitor, mass_per_unit_kg="3.5"), format="json", HTTP_ACCEPT_LANGUAGE="en"
    )
    assert _field_error(refused, "mass_per_unit_kg") == [
        "In monitor, the plausible mass per piece is 2 to 3 kg, not 3.5 kg."
    ]
    # Monitors counted by the pallet: the pallet's bounds (1 to 2,500 kg), not the category's.
    on_pallets = {"unit": "pallet", "quantity": "1"}
    ok = client.post(OFFERS, _offer_body(site, monitor, mass_per_unit_kg="2500", **on_pallets), format="json")
    assert ok.status_code == 201, ok.content
    heavy = client.post(
        OFFERS,
        _offer_body(site, monitor, mass_per_unit_kg="2500.5", **on_pallets),
        format="json",
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert _field_error(heavy, "mass_per_unit_kg") == [
        "In monitor, the plausible mass per pallet is 1 to 2500 kg, not 2500.5 kg."
    ]


def test_an_edit_to_an_implausible_mass_is_refused_too(firm, catalogue):
    client, site = client_for(make_member(firm)), make_site(firm)
    created = client.post(OFFERS, _offer_body(site, catalogue["gadget"], mass_per_unit_kg="2"), format="json")
    offer_id = created.json()["id"]
    refused = client.patch(
        f"{OFFERS}{offer_id}/", {"mass_per_unit_kg": "40000.001"}, format="json", HTTP_ACCEPT_LANGUAGE="en"
    )
    assert _field_error(refused, "mass_per_unit_kg") == [
        "In gadget, the plausible mass per piece is 0.001 to 40000 kg, not 40000.001 kg."
    ]
    assert Offer.objects.get(pk=offer_id).mass_per_unit_kg == Decimal("2.000")


def test_the_admin_range_needs_both_ends_in_order(catalogue):
    from django.core.exceptions import ValidationError

    monitor = catalogue["monitor"]
    monitor.mass_min_kg = Decimal("2")
    with pytest.raises(ValidationError):
        monitor.clean()
    monitor.mass_max_kg = Decimal("1")
    with pytest.raises(ValidationError):
        monitor.clean()
    with pytest.raises(IntegrityError), transaction.atomic():
        Category.objects.filter(pk=monitor.pk).update(mass_min_kg=3, mass_max_kg=2)


@pytest.mark.parametrize(
    ("unit", "quantity", "status"),
    [("piece", "2.5", 400), ("pallet", "1.5", 400), ("piece", "3", 201), ("kg", "2.5", 201)],
)
def test_pieces_and_pallets_refuse_fractions_on_offers_as_on_claims(firm, catalogue, unit, quantity, status):
    client, site = client_for(make_member(firm)), make_site(firm)
    body = _offer_body(site, catalogue["metal"], unit=unit, quantity=quantity)
    response = client.post(OFFERS, body, format="json", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == status, response.content
    if status == 400:
        assert _field_error(response, "quantity") == ["This lot is counted in whole units."]
        french = client.post(OFFERS, body, format="json", HTTP_ACCEPT_LANGUAGE="fr")
        assert _field_error(french, "quantity") == ["Ce lot se compte en unités entières."]


# ---- plausible mass at handover ------------------------------------------------------------------


@pytest.fixture
def monitors(firm, association, catalogue):
    """Two monitors declared at 4 kg each: 8 kg expected, 4 to 16 kg plausible."""
    offer = make_offer(firm, category=catalogue["monitor"], quantity=2, mass_per_unit_kg=Decimal("4"))
    return make_claim(offer, association, 2, accept=True)


def _handover(client, claim, **body):
    return client.post(f"/api/v1/claims/{claim.pk}/handover/", body, format="json", HTTP_ACCEPT_LANGUAGE="en")


def test_9999_kg_for_two_monitors_is_refused_unless_confirmed_then_flagged(monitors, association):
    recipient = client_for(make_member(association))
    refused = _handover(recipient, monitors, mass_kg="9999")
    problem = refused.json()
    assert (refused.status_code, problem["code"]) == (400, "mass_implausible")
    assert (problem["expected_mass_kg"], problem["plausible_min_kg"], problem["plausible_max_kg"]) == (
        "8.000",
        "4.000",
        "16.000",
    )
    assert _field_error(refused, "mass_kg") == [
        "9999 kg is implausible for 2 piece: between 4 and 16 kg was expected. Check the weighing, or send "
        "mass_confirmed: true to keep this mass."
    ]
    french = recipient.post(
        f"/api/v1/claims/{monitors.pk}/handover/",
        {"mass_kg": "9999"},
        format="json",
        HTTP_ACCEPT_LANGUAGE="fr",
    )
    assert _field_error(french, "mass_kg") == [
        "9999 kg n'est pas plausible pour 2 piece : entre 4 et 16 kg étaient attendus. Vérifiez la pesée, ou "
        "envoyez mass_confirmed: true pour garder cette masse."
    ]
    assert not Handover.objects.exists()
    monitors.refresh_from_db()
    assert monitors.status == ClaimStatus.ACCEPTED

    kept = _handover(recipient, monitors, mass_kg="9999", mass_confirmed=True)
    assert kept.status_code == 201, kept.content
    row = kept.json()
    assert (row["mass_kg"], row["expected_mass_kg"], row["mass_confirmed"], row["outlier"]) == (
        "9999.000",
        "8.000",
        True,
        True,
    )
    event = DomainEvent.objects.get(name="handover.recorded")
    assert event.payload["outlier"] is True


@pytest.mark.parametrize(
    ("mass", "status", "outlier"),
    [("4", 201, False), ("3.999", 400, None), ("16", 201, False), ("16.001", 400, None), ("8", 201, False)],
)
def test_a_weighed_mass_within_half_and_twice_the_expected_one_is_plausible(
    monitors, association, mass, status, outlier
):
    response = _handover(client_for(make_member(association)), monitors, mass_kg=mass)
    assert response.status_code == status, response.content
    if status == 201:
        assert (response.json()["outlier"], response.json()["mass_confirmed"]) == (outlier, False)
    else:
        assert response.json()["code"] == "mass_implausible"


def test_confirming_a_plausible_mass_is_no_outlier(monitors, association):
    row = _handover(client_for(make_member(association)), monitors, mass_kg="9", mass_confirmed=True).json()
    assert (row["mass_confirmed"], row["outlier"]) == (True, False)


def test_without_a_declared_mass_the_unit_bounds_times_the_quantity_apply(firm, association, catalogue):
    offer = make_offer(firm, category=catalogue["gadget"], quantity=3)
    recipient = client_for(make_member(association))
    claim = make_claim(offer, association, 3, accept=True)
    refused = _handover(recipient, claim, mass_kg="120000.001")
    assert (
        refused.json()["code"],
        refused.json()["plausible_max_kg"],
        refused.json()["expected_mass_kg"],
    ) == (
        "mass_implausible",
        "120000.000",
        None,
    )
    row = _handover(recipient, claim, mass_kg="120000").json()
    assert (row["mass_kg"], row["expected_mass_kg"], row["outlier"]) == ("120000.000", None, False)


def test_an_outlier_the_donor_recorded_waits_for_the_recipient_never_tacitly_confirmed(
    firm, association, catalogue, settings
):
    donor = Actor.for_user(make_member(firm))
    recipient = Actor.for_user(make_member(association))

    def two_monitors(actor, **weighed):
        offer = make_offer(firm, category=catalogue["monitor"], quantity=2, mass_per_unit_kg=Decimal("4"))
        claim = make_claim(offer, association, 2, accept=True)
        return services.handover_record(actor=actor, claim_id=claim.pk, **weighed)

    by_donor = two_monitors(donor, mass_kg=Decimal("50"), mass_confirmed=True)
    by_recipient = two_monitors(recipient, mass_kg=Decimal("50"), mass_confirmed=True)
    plain = two_monitors(donor)
    later = timezone.now() + timedelta(days=settings.BOUCLE_HANDOVER_CONFIRM_DAYS + 1)
    assert services.handovers_awaiting_tacit_confirmation(now=later) == [by_recipient.pk, plain.pk]
    assert by_donor.outlier and by_recipient.outlier and not plain.outlier
    # The recipient's explicit confirmation settles it.
    services.handover_confirm(actor=recipient, handover_id=by_donor.pk)
    assert HandoverConfirmation.objects.get(handover=by_donor).state == ConfirmationState.CONFIRMED


# ---- corrections: reversal, then the true figure --------------------------------------------------


@pytest.fixture
def city(mel_territories):
    authority = make_org(OrganisationKind.PUBLIC_AUTHORITY, name="Ville de Roubaix")
    PublicAuthorityTerritory.objects.create(organisation=authority, territory=mel_territories["59512"])
    return client_for(make_member(authority))


def _net_ledger() -> tuple[Decimal, Decimal]:
    sums = Handover.objects.aggregate(mass=Sum("mass_kg"), co2e=Sum("co2e_avoided_kg"))
    return sums["mass"] or Decimal("0"), sums["co2e"] or Decimal("0")


def _city_figures(city) -> tuple[Decimal, Decimal]:
    today = timezone.localdate()
    body = city.get(f"/api/v1/stats/summary/?from={today.replace(day=1)}&to={today}").json()
    return Decimal(str(body["mass_kg"])), Decimal(str(body["co2e_avoided_kg"]))


def _stock(offer) -> tuple[str, str, str]:
    offer.refresh_from_db()
    return str(offer.remaining_quantity), str(offer.reserved_quantity), str(offer.collected_quantity)


def test_a_reversed_500_kg_handover_is_corrected_to_300_then_320_and_the_city_follows(
    firm, association, catalogue, city, mel_territories
):
    """The finding: declared 500 kg, disputed as 300 kg, reversed; the true figure could never be entered
    (409 already_collected). Now each step appends a row, and the city's figures are the net rows."""
    site = make_site(firm)
    Site.objects.filter(pk=site.pk).update(territory=mel_territories["59512"])
    offer = make_offer(firm, Site.objects.get(pk=site.pk), catalogue["metal"], 500, "kg")
    claim = make_claim(offer, association, 500, accept=True)
    donor, recipient = client_for(make_member(firm)), client_for(make_member(association))

    first = _handover(donor, claim).json()
    assert (first["mass_kg"], first["mass_method"], first["corrects"]) == ("500.000", "declared", None)
    assert _city_figures(city) == _net_ledger() == (Decimal("500"), Decimal("750"))
    assert _stock(offer) == ("0.000", "0.000", "500.000")

    disputed = recipient.post(
        f"/api/v1/handovers/{first['id']}/dispute/", {"reason": "300 kg à la pesée"}, format="json"
    )
    assert disputed.json()["confirmation"]["state"] == "disputed"
    again = _handover(recipient, claim, quantity="300")
    assert (again.status_code, again.json()["code"]) == (409, "already_collected")

    reversal = recipient.post(
        f"/api/v1/handovers/{first['id']}/reverse/", {"reason": "Pesée : 300 kg"}, format="json"
    ).json()
    assert (reversal["reverses"], reversal["mass_kg"]) == (first["id"], "-500.000")
    assert _city_figures(city) == _net_ledger() == (Decimal("0"), Decimal("0"))

    corrected = _handover(recipient, claim, quantity="300", note="Pesée au dépôt")
    assert corrected.status_code == 201, corrected.content
    correction = corrected.json()
    assert (
        correction["corrects"],
        correction["quantity"],
        correction["mass_kg"],
        correction["co2e_avoided_kg"],
    ) == (
        first["id"],
        "300.000",
        "300.000",
        "450.000",
    )
    assert donor.get(f"/api/v1/handovers/{first['id']}/").json()["corrected_by"] == correction["id"]
    assert _city_figures(city) == _net_ledger() == (Decimal("300"), Decimal("450"))
    # 200 kg less was collected: it is back on the offer.
    assert _stock(offer) == ("200.000", "0.000", "300.000")

    # A second correction of the correction.
    donor.post(
        f"/api/v1/handovers/{correction['id']}/reverse/", {"reason": "Balance mal tarée"}, format="json"
    )
    assert _city_figures(city) == _net_ledger() == (Decimal("0"), Decimal("0"))
    second = _handover(donor, claim, quantity="320").json()
    assert (second["corrects"], second["mass_kg"]) == (correction["id"], "320.000")
    assert _city_figures(city) == _net_ledger() == (Decimal("320"), Decimal("480"))
    assert _stock(offer) == ("180.000", "0.000", "320.000")
    assert _handover(donor, claim, quantity="320").json()["code"] == "already_collected"
    assert [
        name for name in DomainEvent.objects.filter(aggregate_type="handover").values_list("name", flat=True)
    ] == [
        "handover.recorded",
        "handover.disputed",
        "handover.reversed",
        "handover.corrected",
        "handover.reversed",
        "handover.corrected",
    ]


def test_a_correction_collecting_more_needs_that_much_left_on_the_offer(firm, association, catalogue):
    offer = make_offer(firm, category=catalogue["metal"], quantity=10, unit="kg")
    claim = make_claim(offer, association, 6, accept=True)
    make_claim(offer, association, 3, accept=True)
    recipient = client_for(make_member(association))
    first = _handover(recipient, claim, quantity="2").json()  # 4 of the 6 claimed go back
    assert _stock(offer) == ("5.000", "3.000", "2.000")
    make_claim(offer, association, 4, accept=True)  # 1 left
    recipient.post(f"/api/v1/handovers/{first['id']}/reverse/", {"reason": "En fait 6"}, format="json")
    refused = _handover(recipient, claim, quantity="6")  # 4 more, 1 left
    assert (refused.status_code, refused.json()["code"], refused.json()["remaining_quantity"]) == (
        409,
        "insufficient_quantity",
        "1.000",
    )
    assert _stock(offer) == ("1.000", "7.000", "2.000")
    too_many = _handover(recipient, claim, quantity="7")
    assert _field_error(too_many, "quantity") == ["At most the claimed quantity (6.000) can be collected."]
    assert _handover(recipient, claim, quantity="3").status_code == 201
    assert _stock(offer) == ("0.000", "7.000", "3.000")


# ---- disputes settled by the parties, or the operator ---------------------------------------------


@pytest.fixture
def disputed(firm, association, catalogue):
    offer = make_offer(firm, category=catalogue["metal"], quantity=500, unit="kg")
    claim = make_claim(offer, association, 500, accept=True)
    donor, recipient = make_member(firm), make_member(association)
    row = services.handover_record(actor=Actor.for_user(donor), claim_id=claim.pk)
    services.handover_dispute(actor=Actor.for_user(recipient), handover_id=row.pk, reason="300 kg")
    return row, client_for(donor), client_for(recipient)


def _propose(client, row, **body):
    return client.post(
        f"/api/v1/handovers/{row.pk}/proposals/", body, format="json", HTTP_ACCEPT_LANGUAGE="en"
    )


def test_the_parties_agree_on_a_corrected_figure(disputed, association):
    row, donor, recipient = disputed
    proposed = _propose(recipient, row, mass_kg="300", quantity="300", reason="Pesée au dépôt")
    assert proposed.status_code == 201, proposed.content
    assert (proposed.json()["organisation"], proposed.json()["correction"]) == (association.pk, None)
    countered = _propose(donor, row, mass_kg="310", quantity="300", reason="Notre pesée : 310")
    assert countered.json()["correction"] is None
    assert Handover.objects.count() == 1
    agreed = _propose(recipient, row, mass_kg="310", quantity="300", reason="D'accord pour 310")
    assert agreed.status_code == 201, agreed.content
    correction = Handover.objects.get(pk=agreed.json()["correction"])
    assert (correction.corrects_id, correction.quantity, correction.mass_kg, correction.mass_method) == (
        row.pk,
        Decimal("300.000"),
        Decimal("310.000"),
        "weighed",
    )
    assert correction.confirmation.state == ConfirmationState.CONFIRMED
    assert Handover.objects.filter(reverses=row).exists()
    assert Handover.objects.aggregate(mass=Sum("mass_kg"))["mass"] == Decimal("310.000")
    listed = donor.get(f"/api/v1/handovers/{row.pk}/").json()
    assert [(p["mass_kg"], p["correction"]) for p in listed["proposals"]] == [
        ("300.000", None),
        ("310.000", None),
        ("310.000", correction.pk),
    ]
    names = list(DomainEvent.objects.filter(aggregate_type="handover").values_list("name", flat=True))
    assert names[-5:] == [
        "handover.correction_proposed",
        "handover.correction_proposed",
        "handover.reversed",
        "handover.corrected",
        "handover.correction_agreed",
    ]
    # Settled: the row is reversed, nothing more to propose.
    assert _propose(donor, row, mass_kg="310", reason="Encore").json()["code"] == "handover_reversed"


def test_proposals_need_a_disputed_row_a_party_and_a_plausible_figure(
    firm, association, catalogue, operator_user
):
    offer = make_offer(firm, category=catalogue["metal"], quantity=500, unit="kg")
    claim = make_claim(offer, association, 500, accept=True)
    row = services.handover_record(actor=Actor.for_user(make_member(firm)), claim_id=claim.pk)
    recipient = client_for(make_member(association))
    pending = _propose(recipient, row, mass_kg="300", reason="300")
    assert (pending.status_code, pending.json()["code"]) == (409, "not_disputed")
    services.handover_dispute(actor=Actor.for_user(make_member(association)), handover_id=row.pk, reason="x")
    stranger = client_for(make_member(make_org(OrganisationKind.ASSOCIATION)))
    assert _propose(stranger, row, mass_kg="300", reason="300").status_code == 404
    operator = _propose(client_for(operator_user), row, mass_kg="300", reason="300")
    assert (operator.status_code, operator.json()["code"]) == (403, "party_only")
    implausible = _propose(recipient, row, mass_kg="5000", reason="5 t")
    assert (implausible.status_code, implausible.json()["code"]) == (400, "mass_implausible")
    assert not HandoverProposal.objects.exists()


def test_the_operator_settles_a_dispute_in_the_admin(disputed):
    row, _donor, _recipient = disputed
    staff = make_user(is_staff=True, is_superuser=True)
    admin = Client(HTTP_ACCEPT_LANGUAGE="en")
    admin.force_login(staff)
    url = "/admin/claims/handoverproposal/add/"
    refused = admin.post(url, {"handover": row.pk, "mass_kg": "5000", "reason": "5 t"}, follow=True)
    assert b"implausible" in refused.content
    assert not HandoverProposal.objects.exists()
    settled = admin.post(
        url, {"handover": row.pk, "quantity": "290", "mass_kg": "290", "reason": "Arbitrage"}
    )
    assert settled.status_code == 302
    proposal = HandoverProposal.objects.get()
    assert (proposal.organisation_id, proposal.correction.mass_kg, proposal.correction.corrects_id) == (
        None,
        Decimal("290.000"),
        row.pk,
    )
    assert Handover.objects.aggregate(mass=Sum("mass_kg"))["mass"] == Decimal("290.000")
    assert DomainEvent.objects.filter(name="handover.settled", aggregate_id=row.pk).count() == 1
    # Proposals are never edited nor deleted, by the admin or the database.
    assert (
        admin.post(f"/admin/claims/handoverproposal/{proposal.pk}/delete/", {"post": "yes"}).status_code
        == 403
    )
    with pytest.raises(Exception, match="append-only|refuse"), transaction.atomic():
        HandoverProposal.objects.filter(pk=proposal.pk).update(reason="changed")


# ---- stock that adds up -------------------------------------------------------------------------


def test_collected_quantity_leaves_reserved_and_the_offer_can_then_be_withdrawn(firm, association, catalogue):
    """The findings: after a collection the quantity stayed reserved, and withdrawing answered 409
    offer_has_reservations with nothing pending."""
    pallets = make_offer(
        firm, category=catalogue["metal"], quantity=8, unit="pallet", mass_per_unit_kg=Decimal("20")
    )
    claim = make_claim(pallets, association, 8, accept=True)
    assert _stock(pallets) == ("0.000", "8.000", "0.000")
    services.handover_record(actor=Actor.for_system(), claim_id=claim.pk)
    shown = client_for(make_member(firm)).get(f"{OFFERS}{pallets.pk}/").json()
    assert (shown["remaining_quantity"], shown["reserved_quantity"], shown["collected_quantity"]) == (
        "0.000",
        "0.000",
        "8.000",
    )

    offer = make_offer(firm, category=catalogue["metal"], quantity=10, unit="kg")
    partly = make_claim(offer, association, 4, accept=True)
    services.handover_record(actor=Actor.for_system(), claim_id=partly.pk, quantity=Decimal("3"))
    assert _stock(offer) == ("7.000", "0.000", "3.000")
    withdrawn = client_for(make_member(firm)).post(f"{OFFERS}{offer.pk}/withdraw/")
    assert (withdrawn.status_code, withdrawn.json()["status"]) == (200, "withdrawn")


def test_the_database_refuses_stock_that_does_not_add_up(firm):
    offer = make_offer(firm, quantity=10)
    with pytest.raises(IntegrityError, match="offer_stock_identity"), transaction.atomic():
        Offer.objects.filter(pk=offer.pk).update(reserved_quantity=F("reserved_quantity") + 1)


# ---- per-item factors with a weighed mass --------------------------------------------------------


def test_a_per_item_factor_counts_the_pieces_and_the_tonnage_keeps_the_weighed_mass(
    firm, association, catalogue
):
    claim = make_claim(make_offer(firm, category=catalogue["chair"], quantity=3), association, 3, accept=True)
    row = _handover(client_for(make_member(association)), claim, mass_kg="12").json()
    assert (row["mass_kg"], row["mass_method"], row["co2e_avoided_kg"]) == ("12.000", "weighed", "120.000")
    assert (row["factor"]["basis"], row["factor"]["items"]) == ("per_item", "3.000")


def test_a_per_item_factor_on_a_lot_counted_in_kg_counts_items_from_the_typical_mass(
    firm, association, catalogue
):
    claim = make_claim(
        make_offer(firm, category=catalogue["chair"], quantity=20, unit="kg"), association, 20, accept=True
    )
    row = _handover(client_for(make_member(association)), claim, mass_kg="18").json()
    # 18 kg weighed ÷ 5 kg a chair = 3.6 items × 40 kg CO2e.
    assert (row["mass_kg"], row["co2e_avoided_kg"], row["factor"]["basis"], row["factor"]["items"]) == (
        "18.000",
        "144.000",
        "per_item",
        "3.600",
    )
    csv_text = b"".join(
        client_for(make_member(association)).get("/api/v1/handovers/?format=csv").streaming_content
    ).decode()
    header, line = csv_text.splitlines()[:2]
    values = dict(zip(header.split(","), line.split(","), strict=False))
    assert (values["factor_basis"], values["factor_items"], values["outlier"], values["mode"]) == (
        "per_item",
        "3.600",
        "false",
        "donation",
    )

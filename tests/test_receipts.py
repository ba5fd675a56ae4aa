"""Tax receipts for gifts in kind (issue 13): the valuation on offers and on the ledger, the associations'
right to issue receipts, issuing and cancelling receipts (numbering under concurrency, immutability in
the database, every refusal), what each party sees, the yearly totals and the amounts in French words."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import DatabaseError, IntegrityError, connection, connections, transaction
from django.utils import timezone, translation

from claims import services as claim_services
from claims.models import Handover
from core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from core.tables import table_bytes
from exchange.models import Offer
from exchange.services import offer_create, offer_update
from organisations.actors import Actor
from organisations.models import MembershipRole, OrganisationKind
from organisations.services import tax_receipt_status_declare, tax_receipt_status_verify
from receipts.models import Receipt, ReceiptCancellation, ReceiptCounter, ReceiptLine
from receipts.rules import reduction_238_bis
from receipts.selectors import (
    ASSOCIATION_TOTAL_COLUMNS,
    DONOR_TOTAL_COLUMNS,
    association_year_totals,
    donor_year_totals,
    receipt_get,
    receipts_visible,
    totals_row,
)
from receipts.services import receipt_cancel, receipt_issue
from receipts.words import amount_in_words

from .conftest import (
    make_api_key,
    make_claim,
    make_ledger_row,
    make_member,
    make_offer,
    make_org,
    make_receipt_association,
    make_receipt_donor,
)

SYSTEM = Actor.for_system()
VALUED = {"unit_value_eur": Decimal("2.50"), "valuation_basis": "stock_value"}


def _today():
    return timezone.localdate()


# ---- fixtures --------------------------------------------------------------------------------------------


@pytest.fixture
def donor():
    return make_receipt_donor()


@pytest.fixture
def charity():
    return make_receipt_association()


@pytest.fixture
def issuer(charity):
    return Actor.for_user(make_member(charity, MembershipRole.MEMBER))


def _row(donor, charity, quantity="4", unit="kg", valued=True, **offer_extra) -> Handover:
    """A live ledger row written through the services, its offer valued at 2.50 € per unit by default."""
    extra = {**(VALUED if valued else {}), **offer_extra}
    offer = make_offer(donor, quantity=Decimal(quantity) * 2, unit=unit, **extra)
    claim = make_claim(offer, charity, quantity, accept=True)
    return claim_services.handover_record(actor=SYSTEM, claim_id=claim.pk)


def _issue(actor, charity, donor, **kwargs) -> Receipt:
    kwargs.setdefault("period_start", _today() - timedelta(days=30))
    kwargs.setdefault("period_end", _today())
    return receipt_issue(actor=actor, association=charity, donor=donor, **kwargs)


# ---- 1. valuation on offers ------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "columns",
    [
        {"unit_value_eur": Decimal("2.00")},  # a value without its basis
        {"valuation_basis": "cost_price"},  # a basis without its value
        {"unit_value_eur": Decimal("0.00"), "valuation_basis": "cost_price"},  # not above zero
        {"unit_value_eur": Decimal("2.00"), "valuation_basis": "guess"},
        {"unit_value_eur": Decimal("2.00"), "valuation_basis": "cost_price", "mode": "loan"},
        {"unit_value_eur": Decimal("2.00"), "valuation_basis": "cost_price", "mode": "sale", "price_eur": 3},
    ],
)
def test_the_database_guards_an_offers_valuation(donor, columns):
    with pytest.raises(IntegrityError), transaction.atomic():
        make_offer(donor, **columns)


@pytest.mark.django_db
def test_the_offer_services_take_the_valuation(donor):
    actor = Actor.for_user(make_member(donor))
    site = donor.sites.get()
    offer = offer_create(
        actor=actor,
        site=site,
        category=make_offer(donor).category,
        title="Chutes de chêne",
        quantity=Decimal("10"),
        unit="kg",
        condition="good",
        unit_value_eur=Decimal("3.20"),
        valuation_basis="cost_price",
        near_use_by=True,
    )
    offer.refresh_from_db()
    assert (offer.unit_value_eur, offer.valuation_basis, offer.near_use_by) == (
        Decimal("3.20"),
        "cost_price",
        True,
    )
    offer = offer_update(
        actor=actor, offer=offer.pk, unit_value_eur=Decimal("1.10"), valuation_basis="stock_value"
    )
    assert Offer.objects.values_list("unit_value_eur", "valuation_basis").get(pk=offer.pk) == (
        Decimal("1.10"),
        "stock_value",
    )
    with pytest.raises(InvalidInput) as refused:
        offer_update(actor=actor, offer=offer.pk, mode="sale", price_eur=Decimal("5"))
    assert "unit_value_eur" in refused.value.field_errors  # a sale price is never a valuation
    with pytest.raises(InvalidInput) as refused:
        offer_update(actor=actor, offer=offer.pk, valuation_basis="")
    assert "valuation_basis" in refused.value.field_errors


# ---- 2. stamped on the ledger ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_every_ledger_row_stamps_the_valuation_of_its_time(donor, charity):
    row = _row(donor, charity, near_use_by=True)
    assert (row.unit_value_eur, row.valuation_basis, row.near_use_by) == (
        Decimal("2.50"),
        "stock_value",
        True,
    )
    Offer.objects.filter(pk=row.offer_id).update(unit_value_eur=Decimal("9.00"))  # the firm revalues later
    reversal = claim_services.handover_reverse(actor=SYSTEM, handover_id=row.pk, reason="wrong scale")
    assert (reversal.unit_value_eur, reversal.valuation_basis, reversal.near_use_by) == (
        Decimal("2.50"),
        "stock_value",
        True,
    )  # a reversal copies the row it reverses
    correction = claim_services.handover_record(actor=SYSTEM, claim_id=row.claim_id, quantity=Decimal("3"))
    assert correction.corrects_id == row.pk
    # The same gift: the correction keeps the valuation of the row it corrects, not the offer's new one.
    assert (correction.unit_value_eur, correction.valuation_basis, correction.near_use_by) == (
        Decimal("2.50"),
        "stock_value",
        True,
    )
    with pytest.raises(DatabaseError), transaction.atomic():
        Handover.objects.filter(pk=row.pk).update(unit_value_eur=Decimal("1.00"))  # fixed forever


# ---- 3. associations that may issue receipts -------------------------------------------------------------


@pytest.mark.django_db
def test_an_association_declares_and_the_operator_decides(charity, operator_user):
    association = make_org(OrganisationKind.ASSOCIATION)
    admin = Actor.for_user(make_member(association, MembershipRole.ADMIN))
    member = Actor.for_user(make_member(association, MembershipRole.MEMBER))
    with pytest.raises(PermissionDenied):
        tax_receipt_status_declare(actor=member, organisation=association, evidence="art. 200 CGI")
    with pytest.raises(InvalidInput):
        tax_receipt_status_declare(actor=admin, organisation=association, evidence="  ")
    declared = tax_receipt_status_declare(actor=admin, organisation=association, evidence="Rescrit 2026-1")
    assert (declared.tax_receipt_status, declared.tax_receipt_evidence) == ("declared", "Rescrit 2026-1")
    assert declared.tax_receipt_declared_at is not None

    with pytest.raises(PermissionDenied):
        tax_receipt_status_verify(actor=admin, organisation=association, accepted=True)
    with pytest.raises(NotFound):
        tax_receipt_status_verify(
            actor=Actor.for_user(make_member(make_org())), organisation=association, accepted=True
        )
    operator = Actor.for_user(operator_user)
    refused = tax_receipt_status_verify(actor=operator, organisation=association, accepted=False)
    assert (refused.tax_receipt_status, refused.tax_receipt_verified_by) == ("refused", operator_user)
    verified = tax_receipt_status_verify(actor=operator, organisation=association, accepted=True)
    assert verified.tax_receipt_status == "verified" and verified.tax_receipt_verified_at is not None
    again = tax_receipt_status_declare(actor=admin, organisation=association, evidence="Rescrit 2026-2")
    assert (again.tax_receipt_status, again.tax_receipt_verified_at) == ("declared", None)  # starts again

    firm = make_org(OrganisationKind.COMPANY)
    with pytest.raises(Conflict):
        tax_receipt_status_declare(
            actor=Actor.for_user(make_member(firm)), organisation=firm, evidence="art. 238 bis"
        )
    with pytest.raises(Conflict):
        tax_receipt_status_verify(
            actor=operator, organisation=make_org(OrganisationKind.ASSOCIATION), accepted=True
        )


@pytest.mark.django_db
@pytest.mark.parametrize(
    "kind, columns",
    [
        ("company", {"tax_receipt_status": "declared", "tax_receipt_evidence": "x"}),  # associations only
        ("association", {"tax_receipt_status": "verified", "tax_receipt_evidence": "x"}),  # undated
        ("association", {"tax_receipt_status": "refused"}),
        ("association", {"tax_receipt_status": "declared"}),  # no evidence
    ],
)
def test_the_database_guards_the_tax_receipt_status(kind, columns):
    columns.setdefault("tax_receipt_declared_at", timezone.now())
    with pytest.raises(IntegrityError), transaction.atomic():
        make_org(kind, **columns)


# ---- 4. issuing ------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_receipt_values_each_row_from_the_ledger(donor, charity, issuer):
    first = _row(
        donor, charity, quantity="3.333", unit_value_eur=Decimal("1.25"), valuation_basis="cost_price"
    )
    second = _row(donor, charity, quantity="12", unit="piece", mass_per_unit_kg=Decimal("2"))
    receipt = _issue(issuer, charity, donor)
    year = timezone.localtime(receipt.issued_at).year
    assert (receipt.year, receipt.number, receipt.reference) == (year, 1, f"{year}-000001")
    lines = {line.handover_id: line for line in receipt.lines.all()}
    assert set(lines) == {first.pk, second.pk}
    assert (lines[first.pk].quantity, lines[first.pk].value_eur) == (
        Decimal("3.333"),
        Decimal("4.17"),
    )  # 4.16625
    assert (lines[second.pk].quantity, lines[second.pk].value_eur) == (Decimal("12.000"), Decimal("30.00"))
    for line in lines.values():
        row = Handover.objects.get(pk=line.handover_id)
        assert line.value_eur == (row.quantity * row.unit_value_eur).quantize(Decimal("0.01"))
        assert (line.unit_value_eur, line.valuation_basis) == (row.unit_value_eur, row.valuation_basis)
    assert receipt.total_value_eur == Decimal("34.17")
    assert lines[first.pk].description.endswith(Offer.objects.get(pk=first.offer_id).title)
    assert (receipt.donor_siret, receipt.association_rna) == ("73282932000074", "W595012345")
    assert receipt.association_address == "3 place de la Liberté, 59100 Roubaix"
    assert receipt.issued_by == issuer.label and receipt.signatory_capacity == "membre"

    # A snapshot: renaming the donor changes nothing printed.
    donor.name = "Menuiserie Renommée"
    donor.save()
    assert Receipt.objects.get(pk=receipt.pk).donor_name == "Menuiserie du Nord"

    # The next receipt of the association takes the next number.
    _row(donor, charity)
    assert _issue(issuer, charity, donor).number == 2


@pytest.mark.django_db
def test_only_live_donations_of_the_period_are_lines(donor, charity, issuer):
    live = _row(donor, charity)
    reversed_row = _row(donor, charity)
    claim_services.handover_reverse(actor=SYSTEM, handover_id=reversed_row.pk, reason="not collected")
    corrected = _row(donor, charity, quantity="5")
    claim_services.handover_reverse(actor=SYSTEM, handover_id=corrected.pk, reason="weighed again")
    correction = claim_services.handover_record(
        actor=SYSTEM, claim_id=corrected.claim_id, quantity=Decimal("4")
    )
    other_donor = make_org(OrganisationKind.COMPANY, siret="55210055400013")
    _row(other_donor, charity)
    _row(donor, make_org(OrganisationKind.ASSOCIATION))
    category = Handover.objects.get(pk=live.pk).category
    loan, sale = (
        make_ledger_row(donor, charity, category, mass_kg=3, collected_at=timezone.now(), **stamp)
        for stamp in ({"mode": "loan", "co2e_avoided_kg": 0}, {"mode": "sale"})
    )
    receipt = _issue(issuer, charity, donor)
    assert sorted(receipt.lines.values_list("handover_id", flat=True)) == sorted([live.pk, correction.pk])
    for row in (loan, sale):  # lent or sold: never a gift
        with pytest.raises(InvalidInput) as refused:
            _issue(issuer, charity, donor, handover_ids=[row.pk])
        assert refused.value.code == "handovers_not_eligible"
    for ids, code in (
        ([reversed_row.pk], "handovers_not_eligible"),
        ([corrected.pk], "handovers_not_eligible"),
    ):
        with pytest.raises(InvalidInput) as refused:
            _issue(issuer, charity, donor, handover_ids=ids)
        assert refused.value.code == code and refused.value.extra["handover_ids"] == ids
    # Outside the period (local dates): nothing.
    with pytest.raises(InvalidInput) as refused:
        _issue(
            issuer,
            charity,
            donor,
            period_start=_today() + timedelta(days=1),
            period_end=_today() + timedelta(days=2),
        )
    assert refused.value.code == "nothing_to_receipt"


@pytest.mark.django_db
def test_every_refusal(donor, charity, issuer):
    row = _row(donor, charity)
    unvalued = _row(donor, charity, valued=False)
    with pytest.raises(InvalidInput) as refused:
        _issue(issuer, charity, donor)
    assert (refused.value.code, refused.value.extra["handover_ids"]) == ("valuation_missing", [unvalued.pk])
    assert str(unvalued.pk) in refused.value.message

    stranger = Actor.for_user(make_member(make_org(OrganisationKind.ASSOCIATION)))
    with pytest.raises(NotFound):
        _issue(stranger, charity, donor, handover_ids=[row.pk])
    with pytest.raises(NotFound):  # the donor does not issue its own receipts
        _issue(Actor.for_user(make_member(donor)), charity, donor, handover_ids=[row.pk])
    with pytest.raises(NotFound):  # an API key of the association does not issue receipts
        _issue(Actor.for_api_key(make_api_key(charity)[0]), charity, donor, handover_ids=[row.pk])

    for status in ("", "declared", "refused"):
        association = make_org(OrganisationKind.ASSOCIATION)
        if status:
            association.tax_receipt_status = status
            association.tax_receipt_evidence = "art. 200"
            association.tax_receipt_declared_at = association.tax_receipt_verified_at = timezone.now()
            association.save()
        with pytest.raises(PermissionDenied) as denied:
            _issue(Actor.for_user(make_member(association)), association, donor)
        assert denied.value.code == "tax_receipts_not_verified"

    no_siret = make_org(OrganisationKind.COMPANY)
    with pytest.raises(InvalidInput) as refused:
        _issue(issuer, charity, no_siret)
    assert refused.value.code == "donor_not_eligible"
    project = make_org(OrganisationKind.PROJECT, siret="40483304800022")
    with pytest.raises(InvalidInput):
        _issue(issuer, charity, project)
    with pytest.raises(InvalidInput):
        _issue(issuer, charity, donor, period_start=_today(), period_end=_today() - timedelta(days=1))

    receipt = _issue(issuer, charity, donor, handover_ids=[row.pk])
    with pytest.raises(Conflict) as conflict:  # no handover on two live receipts
        _issue(issuer, charity, donor, handover_ids=[row.pk])
    assert (conflict.value.code, conflict.value.extra["handover_ids"]) == ("already_receipted", [row.pk])
    assert receipt.number == 1
    assert ReceiptCounter.objects.get(association=charity).last == 1  # refusals took no number

    with pytest.raises(Conflict) as conflict:
        _issue(issuer, charity, donor, handover_ids=[row.pk], replaces=receipt)
    assert conflict.value.code == "replaces_not_cancelled"
    with pytest.raises(InvalidInput):
        receipt_cancel(actor=issuer, receipt=receipt, reason=" ")
    with pytest.raises(PermissionDenied):  # the donor sees it, but does not cancel it
        receipt_cancel(actor=Actor.for_user(make_member(donor)), receipt=receipt, reason="no")
    with pytest.raises(NotFound):
        receipt_cancel(actor=stranger, receipt=receipt, reason="no")


@pytest.mark.django_db
def test_cancel_then_reissue(donor, charity, issuer, operator_user):
    row = _row(donor, charity)
    receipt = _issue(issuer, charity, donor)
    cancellation = receipt_cancel(actor=issuer, receipt=receipt, reason="Mauvaise quantité")
    assert (cancellation.reason, cancellation.cancelled_by) == ("Mauvaise quantité", issuer.label)
    with pytest.raises(Conflict):
        receipt_cancel(actor=Actor.for_user(operator_user), receipt=receipt, reason="again")
    other_donor = make_org(OrganisationKind.COMPANY, siret="55210055400013")
    _row(other_donor, charity)
    with pytest.raises(Conflict) as conflict:
        _issue(issuer, charity, other_donor, replaces=receipt)
    assert conflict.value.code == "replaces_other_donor"

    again = _issue(issuer, charity, donor, replaces=receipt)  # the row is free again
    assert (again.number, again.replaces_id) == (2, receipt.pk)
    assert list(again.lines.values_list("handover_id", flat=True)) == [row.pk]
    with pytest.raises(Conflict) as conflict:
        _issue(issuer, charity, donor, replaces=receipt)
    assert conflict.value.code == "already_replaced"


# ---- immutability ----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_database_refuses_to_change_or_delete_a_receipt(donor, charity, issuer):
    _row(donor, charity)
    receipt = _issue(issuer, charity, donor)
    receipt_cancel(actor=issuer, receipt=receipt, reason="doublon")
    quote = connection.ops.quote_name
    statements = [
        f"UPDATE {quote(Receipt._meta.db_table)} SET total_value_eur = 1",
        f"DELETE FROM {quote(Receipt._meta.db_table)}",
        f"UPDATE {quote(ReceiptLine._meta.db_table)} SET value_eur = 1",
        f"DELETE FROM {quote(ReceiptLine._meta.db_table)}",
        f"UPDATE {quote(ReceiptCancellation._meta.db_table)} SET reason = 'x'",
        f"DELETE FROM {quote(ReceiptCancellation._meta.db_table)}",
        f"DELETE FROM {quote(ReceiptCounter._meta.db_table)}",  # a number is never reused
    ]
    for sql in statements:
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(sql)
    assert Receipt.objects.get(pk=receipt.pk).total_value_eur == Decimal("10.00")


# ---- concurrency -----------------------------------------------------------------------------------------


def _in_threads(calls) -> tuple[list, list]:
    """Run each call in its own thread and connection, all released at once; (results, errors)."""
    barrier = threading.Barrier(len(calls))
    results, errors, lock = [], [], threading.Lock()

    def run(call):
        try:
            barrier.wait()
            outcome = call()
            with lock:
                results.append(outcome)
        except Exception as exc:  # collected and asserted on by the test
            with lock:
                errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results, errors


@pytest.mark.django_db(transaction=True)
def test_receipts_issued_at_once_get_distinct_consecutive_numbers(donor, charity, issuer):
    rows = [_row(donor, charity) for _ in range(6)]
    results, errors = _in_threads(
        [lambda row=row: _issue(issuer, charity, donor, handover_ids=[row.pk]).number for row in rows]
    )
    assert errors == []
    assert sorted(results) == [1, 2, 3, 4, 5, 6]
    assert ReceiptCounter.objects.get(association=charity).last == 6


@pytest.mark.django_db(transaction=True)
def test_one_row_goes_on_one_live_receipt_when_issued_at_once(donor, charity, issuer):
    row = _row(donor, charity)
    results, errors = _in_threads([lambda: _issue(issuer, charity, donor, handover_ids=[row.pk]).number] * 4)
    assert results == [1]
    assert [type(error) for error in errors] == [Conflict] * 3
    assert ReceiptLine.objects.filter(handover=row).count() == 1


# ---- scoping ---------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_only_the_parties_and_the_operator_see_a_receipt(donor, charity, issuer, operator_user):
    _row(donor, charity)
    receipt = _issue(issuer, charity, donor)
    key, _raw = make_api_key(donor, scopes=("read",))
    seeing = [
        issuer,
        Actor.for_user(make_member(charity, MembershipRole.ADMIN)),
        Actor.for_user(make_member(donor)),
        Actor.for_api_key(key),
        Actor.for_user(operator_user),
    ]
    for actor in seeing:
        assert receipt_get(actor=actor, receipt_id=receipt.pk).pk == receipt.pk
    absent = [
        Actor.for_user(make_member(make_org(OrganisationKind.ASSOCIATION))),
        Actor.for_user(make_member(make_org(OrganisationKind.COMPANY))),
        Actor.for_user(make_member(make_org(OrganisationKind.PUBLIC_AUTHORITY, name="Ville de Roubaix"))),
        Actor.for_api_key(make_api_key(charity)[0]),
    ]
    for actor in absent:
        with pytest.raises(NotFound):
            receipt_get(actor=actor, receipt_id=receipt.pk)
        assert not receipts_visible(actor=actor).exists()
        with pytest.raises(NotFound):
            donor_year_totals(actor=actor, donor_id=donor.pk, year=receipt.year)
        with pytest.raises(NotFound):
            association_year_totals(actor=actor, association_id=charity.pk, year=receipt.year)


# ---- totals ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "total, turnover, ceiling, eligible, reduction, carried",
    [
        ("10000", None, "20000", "10000", "6000.00", "0"),  # below the ceiling
        ("30000", None, "20000", "20000", "12000.00", "10000"),  # over €20,000: the excess is carried over
        ("30000", "1000000", "20000", "20000", "12000.00", "10000"),  # 0.5 % is only 5,000: €20,000 stands
        ("30000", "10000000", "50000.00", "30000", "18000.00", "0"),  # 0.5 % of 10 M: 50,000
        ("3000000", "1000000000", "5000000.00", "3000000", "1600000.00", "0"),  # 60 % of 2 M + 40 % of 1 M
        ("2000000", "1000000000", "5000000.00", "2000000", "1200000.00", "0"),  # exactly €2 M: all at 60 %
        ("6000000", "1000000000", "5000000.00", "5000000", "2400000.00", "1000000"),
    ],
)
def test_the_238_bis_arithmetic(total, turnover, ceiling, eligible, reduction, carried):
    figures = reduction_238_bis(Decimal(total), Decimal(turnover) if turnover else None)
    assert (figures.ceiling_eur, figures.eligible_eur, figures.reduction_eur, figures.carried_over_eur) == (
        Decimal(ceiling),
        Decimal(eligible),
        Decimal(reduction),
        Decimal(carried),
    )
    assert figures.carry_over_years == 5


@pytest.mark.django_db
def test_yearly_totals_per_donor_and_per_association(donor, charity, issuer):
    _row(donor, charity, quantity="4")
    kept = _issue(issuer, charity, donor)
    _row(donor, charity, quantity="2")
    cancelled = _issue(issuer, charity, donor)
    receipt_cancel(actor=issuer, receipt=cancelled, reason="erreur")
    year = kept.year
    mine = Actor.for_user(make_member(donor))
    totals = donor_year_totals(actor=mine, donor_id=donor.pk, year=year, turnover_eur=Decimal("8000000"))
    assert (totals.receipt_count, totals.total_value_eur) == (1, Decimal("10.00"))
    assert (totals.reduction.ceiling_eur, totals.reduction.reduction_eur) == (
        Decimal("40000.00"),
        Decimal("6.00"),
    )
    declared = association_year_totals(actor=issuer, association_id=charity.pk, year=year)
    assert (declared.receipt_count, declared.total_value_eur, declared.cancelled_count) == (
        1,
        Decimal("10.00"),
        1,
    )
    assert association_year_totals(actor=issuer, association_id=charity.pk, year=year - 1).receipt_count == 0

    with translation.override("fr"):  # the labels follow the request's language
        csv = table_bytes(DONOR_TOTAL_COLUMNS, [totals_row(totals)], labels=True).decode().splitlines()
    assert csv[0].startswith("donor_id,year,receipt_count,total_value_eur,turnover_eur,ceiling_eur")
    assert csv[1].startswith("Donateur,Année,Reçus,Total des dons (€)")
    assert csv[2] == f"{donor.pk},{year},1,10.00,8000000,40000.00,10.00,6.00,0.00,5"
    csv = table_bytes(ASSOCIATION_TOTAL_COLUMNS, [totals_row(declared)], labels=False).decode().splitlines()
    assert csv == [
        "association_id,year,receipt_count,total_value_eur,cancelled_count",
        f"{charity.pk},{year},1,10.00,1",
    ]


# ---- amounts in words ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "amount, words",
    [
        ("80", "quatre-vingts euros"),
        ("71", "soixante et onze euros"),
        ("1000000", "un million d'euros"),  # num2words says "un million euros"
        ("1234.56", "mille deux cent trente-quatre euros et cinquante-six centimes"),
        ("0.01", "un centime"),  # num2words says "zéro euros et un centime"
        ("200", "deux cents euros"),  # num2words adds "et zéro centimes" to whole amounts
        ("2000000", "deux millions d'euros"),
        ("1", "un euro"),
        ("81.80", "quatre-vingt-un euros et quatre-vingts centimes"),
        ("2000001", "deux millions un euros"),
        ("1000000.50", "un million d'euros et cinquante centimes"),
    ],
)
def test_amounts_in_french_words(amount, words):
    assert amount_in_words(Decimal(amount)) == words


@pytest.mark.django_db
def test_a_december_gift_receipted_in_january_counts_in_the_year_of_the_gift_for_the_donor(donor, charity):
    """The donor's reduction belongs to the year of the gift; the association declares the receipts it
    issued in the year (receipts/selectors.py)."""
    from datetime import date, datetime
    from zoneinfo import ZoneInfo

    from inventory.models import Category

    paris = ZoneInfo("Europe/Paris")
    category, _ = Category.objects.get_or_create(
        key="test-receipts", defaults={"name_fr": "Bois", "name_en": "Wood", "default_unit": "kg"}
    )
    make_ledger_row(
        donor,
        charity,
        category,
        mass_kg="8",
        collected_at=datetime(2025, 12, 31, 23, 30, tzinfo=paris),  # 22:30 UTC: still 2025 in Paris
        unit_value_eur=Decimal("3.00"),
        valuation_basis="cost_price",
    )
    receipt = receipt_issue(
        actor=SYSTEM,
        association=charity,
        donor=donor,
        period_start=date(2025, 12, 1),
        period_end=date(2025, 12, 31),
        now=datetime(2026, 1, 12, 10, tzinfo=paris),
    )
    assert (receipt.year, receipt.total_value_eur) == (2026, Decimal("24.00"))
    by_gift = {year: donor_year_totals(actor=SYSTEM, donor_id=donor.pk, year=year) for year in (2025, 2026)}
    assert (by_gift[2025].receipt_count, by_gift[2025].total_value_eur) == (1, Decimal("24.00"))
    assert (by_gift[2026].receipt_count, by_gift[2026].total_value_eur) == (0, Decimal("0.00"))
    by_issue = {
        year: association_year_totals(actor=SYSTEM, association_id=charity.pk, year=year)
        for year in (2025, 2026)
    }
    assert (by_issue[2025].receipt_count, by_issue[2026].receipt_count) == (0, 1)

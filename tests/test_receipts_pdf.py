"""The printed tax receipt (receipts/pdf.py): page 1 rendered as a picture (kept in .local/ to be looked
at) and the PDF's text checked against the ledger: every CERFA 16216*01 field, each line's quantity,
the total in figures and in French words; a cancelled receipt says so."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pypdfium2 as pdfium
import pytest
from django.utils import timezone

from claims import services as claim_services
from inventory.models import Category
from organisations.actors import Actor
from organisations.models import MembershipRole
from receipts.pdf import euros_fr, receipt_pdf
from receipts.services import receipt_cancel, receipt_issue
from receipts.words import amount_in_words

from .conftest import (
    make_claim,
    make_member,
    make_offer,
    make_receipt_association,
    make_receipt_donor,
)

pytestmark = pytest.mark.django_db
PICTURE = Path(__file__).resolve().parent.parent / ".local" / "receipt-page1.png"


def _text(pdf: bytes) -> str:
    document = pdfium.PdfDocument(pdf)
    text = "\n".join(document[i].get_textpage().get_text_bounded() for i in range(len(document)))
    return " ".join(text.replace("\u00a0", " ").replace("\r", " ").split())


@pytest.fixture
def receipt():
    donor = make_receipt_donor()
    charity = make_receipt_association(
        "Cœur de Roubaix — Repair Café",
        description="Réparer, réemployer ; lutter contre l'isolement numérique des aînés.",
        evidence="Rescrit fiscal n° 2025-59-0042 (art. 200 et 238 bis CGI)",
    )
    wood, _ = Category.objects.get_or_create(
        key="test-wood", defaults={"name_fr": "Bois de chêne", "name_en": "Oak", "default_unit": "kg"}
    )
    rows = []
    for quantity, value, basis, title in (
        ("123.5", "4.20", "cost_price", "Chutes de chêne massif"),
        ("7", "1250.00", "stock_value", "Établis d'atelier"),
    ):
        offer = make_offer(
            donor,
            category=wood,
            quantity=Decimal(quantity) * 2,
            unit="kg",
            unit_value_eur=Decimal(value),
            valuation_basis=basis,
            title=title,
        )
        claim = make_claim(offer, charity, quantity, accept=True)
        rows.append(claim_services.handover_record(actor=Actor.for_system(), claim_id=claim.pk))
    user = make_member(charity, MembershipRole.ADMIN)
    user.first_name, user.last_name = "Élodie", "Lefèvre"
    user.save()
    today = timezone.localdate()
    return receipt_issue(
        actor=Actor.for_user(user), association=charity, donor=donor, period_start=today, period_end=today
    )


def test_the_pdf_carries_every_field_from_the_ledger(receipt):
    pdf = receipt_pdf(receipt)
    assert pdf.startswith(b"%PDF")
    page = pdfium.PdfDocument(pdf)[0]
    assert (round(page.get_width()), round(page.get_height())) == (595, 842)  # A4 in points
    image = page.render(scale=2).to_pil().convert("L")
    PICTURE.parent.mkdir(exist_ok=True)
    image.save(PICTURE)
    histogram = image.histogram()
    dark = sum(histogram[:100])
    assert dark > 5000  # text was drawn, not a blank page
    assert sum(histogram[200:]) > dark  # and the page is mostly paper

    text = _text(pdf)
    total = Decimal("518.70") + Decimal("8750.00")
    assert receipt.total_value_eur == total
    expected = [
        "Reçu au titre des dons à certains organismes d'intérêt général",
        "Articles 200, 238 bis et 978 du code général des impôts",
        "CERFA n° 16216*01",
        receipt.reference,
        "Cœur de Roubaix — Repair Café",  # œ needs DejaVu Sans
        "RNA W595012345",
        "3 place de la Liberté, 59100 Roubaix",
        "lutter contre l'isolement numérique des aînés",
        "Rescrit fiscal n° 2025-59-0042",
        "Menuiserie du Nord",
        "73282932000074",
        "12 rue de Lannoy, 59100 Roubaix",
        "Don en nature",
        "don en nature",
        "Bois de chêne — Chutes de chêne massif",
        "123,5",
        "4,20 €",
        "518,70 €",
        "kilogramme",
        "1 250,00 €",
        "8 750,00 €",
        "9 268,70 €",
        euros_fr(total).replace("\u00a0", " "),
        amount_in_words(total),
        "neuf mille deux cent soixante-huit euros et soixante-dix centimes",
        "prix de revient, valeur en stock",
        "Fait à : Roubaix",
        timezone.localdate().strftime("%d/%m/%Y"),
        "Élodie Lefèvre, administrateur",
        "Signature",
    ]
    missing = [value for value in expected if value not in text]
    assert missing == [], text
    assert "ANNULÉ" not in text


def test_a_cancelled_receipt_says_so(receipt):
    receipt_cancel(actor=Actor.for_system(), receipt=receipt, reason="Quantité erronée")
    text = _text(receipt_pdf(receipt))
    assert f"ANNULÉ le {timezone.localdate().strftime('%d/%m/%Y')}" in text
    assert "Quantité erronée" in text


def test_without_dejavu_the_pdf_falls_back_to_helvetica(receipt, monkeypatch):
    from receipts import pdf

    monkeypatch.setattr(pdf, "_fonts", lambda: pdf.Fonts("Helvetica", "Helvetica-Bold"))
    document = receipt_pdf(receipt)
    assert b"DejaVu" not in document
    text = _text(document)
    # ReportLab's standard fonts are WinAnsi-encoded: "œ", "—" and "€" are in it, as are French accents.
    assert "Cœur de Roubaix — Repair Café" in text and "9 268,70 €" in text

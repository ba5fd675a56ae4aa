"""The printed receipt (ReportLab, A4), with the fields CERFA n° 16216*01 asks for a gift in kind: the
receipt's number; the beneficiary (name, RNA/SIRET, address, object, the status it is recognised under
and its evidence); the donor (company name, SIRET, address); the gift (its form and nature, an
exhaustive description line by line, its dates, the value in figures and in French words, the method
of valuation); the signature block. A cancelled receipt says ANNULÉ, with the date and reason.

Everything printed comes from the receipt's own snapshot, never from the organisations as they are now.
Text is set in DejaVu Sans from Debian's fonts-dejavu-core (wide Unicode coverage; provisioning and the
image install it), else in ReportLab's Helvetica, whose WinAnsi encoding still has the French accents,
"œ", "€" and "—"; nothing is downloaded."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from io import BytesIO
from pathlib import Path
from xml.sax.saxutils import escape

from django.utils import timezone

# reportlab ships no type information (nor does the project install stubs for it).
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import (
    Flowable,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from exchange.models import ValuationBasis

from .lines import unit_label_fr
from .models import Receipt, ReceiptCancellation
from .words import amount_in_words

TITLE = (
    "Reçu au titre des dons à certains organismes d'intérêt général — "
    "Articles 200, 238 bis et 978 du code général des impôts"
)
CERFA = "CERFA n° 16216*01"
DEJAVU = Path("/usr/share/fonts/truetype/dejavu")
BASIS_FR: dict[str, str] = {
    ValuationBasis.STOCK_VALUE: "valeur en stock",
    ValuationBasis.COST_PRICE: "prix de revient",
}


@dataclass(frozen=True)
class Fonts:
    regular: str
    bold: str


def _fonts() -> Fonts:
    """DejaVu Sans when installed (registered once), else ReportLab's built-in Helvetica."""
    if "DejaVuSans" in pdfmetrics.getRegisteredFontNames():
        return Fonts("DejaVuSans", "DejaVuSans-Bold")
    regular, bold = DEJAVU / "DejaVuSans.ttf", DEJAVU / "DejaVuSans-Bold.ttf"
    if regular.is_file() and bold.is_file():
        pdfmetrics.registerFont(TTFont("DejaVuSans", str(regular)))
        pdfmetrics.registerFont(TTFont("DejaVuSans-Bold", str(bold)))
        pdfmetrics.registerFontFamily(
            "DejaVuSans",
            normal="DejaVuSans",
            bold="DejaVuSans-Bold",
            italic="DejaVuSans",
            boldItalic="DejaVuSans-Bold",
        )
        return Fonts("DejaVuSans", "DejaVuSans-Bold")
    return Fonts("Helvetica", "Helvetica-Bold")


NBSP = "\u00a0"


def euros_fr(value: Decimal) -> str:
    """An amount as French writes it: "1 234,56 €" (no-break spaces, in Latin-1 as in DejaVu)."""
    whole, cents = f"{value.quantize(Decimal('0.01')):,.2f}".split(".")
    return f"{whole.replace(',', NBSP)},{cents}{NBSP}€"


def quantity_fr(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return text.replace(".", ",")


def _date_fr(value: date | datetime) -> str:
    """A date as French writes it (a time of day: its local date)."""
    if isinstance(value, datetime):
        value = timezone.localtime(value).date()
    return value.strftime("%d/%m/%Y")


class _Styles:
    def __init__(self, fonts: Fonts):
        self.title = ParagraphStyle("title", fontName=fonts.bold, fontSize=12.5, leading=16, spaceAfter=4)
        self.heading = ParagraphStyle(
            "heading", fontName=fonts.bold, fontSize=10.5, leading=14, spaceBefore=8, spaceAfter=3
        )
        self.body = ParagraphStyle("body", fontName=fonts.regular, fontSize=9, leading=12)
        self.small = ParagraphStyle("small", fontName=fonts.regular, fontSize=8, leading=10)
        self.cancelled = ParagraphStyle(
            "cancelled", fontName=fonts.bold, fontSize=16, leading=20, textColor=colors.red, spaceAfter=4
        )
        self.fonts = fonts


def _p(text: str, style: ParagraphStyle) -> Paragraph:
    return Paragraph(escape(text).replace("\n", "<br/>"), style)


def _field(label: str, value: str, styles: _Styles) -> Paragraph:
    return Paragraph(f"<b>{escape(label)}</b> : {escape(value or '—')}", styles.body)


def _lines_table(receipt: Receipt, styles: _Styles) -> Table:
    head = ["Description (nature)", "Quantité", "Unité", "Valeur unitaire", "Valeur", "Date du don"]
    rows: list[list[Flowable | str]] = [[_p(text, styles.small) for text in head]]
    for line in receipt.lines.all():
        rows.append(
            [
                _p(line.description, styles.small),
                _p(quantity_fr(line.quantity), styles.small),
                _p(unit_label_fr(line.unit), styles.small),
                _p(euros_fr(line.unit_value_eur), styles.small),
                _p(euros_fr(line.value_eur), styles.small),
                _p(_date_fr(line.collected_at), styles.small),
            ]
        )
    table = Table(rows, colWidths=[60 * mm, 18 * mm, 24 * mm, 26 * mm, 26 * mm, 22 * mm], repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eeeeee")),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ]
        )
    )
    return table


def _story(receipt: Receipt, cancellation: ReceiptCancellation | None, styles: _Styles) -> list[Flowable]:
    story: list[Flowable] = []
    if cancellation is not None:
        story.append(_p(f"ANNULÉ le {_date_fr(cancellation.cancelled_at)}", styles.cancelled))
        story.append(_field("Motif de l'annulation", cancellation.reason, styles))
    story += [
        _p(TITLE, styles.title),
        _p(CERFA, styles.body),
        _field("Numéro d'ordre du reçu", receipt.reference, styles),
    ]
    if receipt.replaces_id:
        story.append(
            _field("Remplace le reçu", receipt.replaces.reference if receipt.replaces else "", styles)
        )
    identifier = " / ".join(
        part for part in (f"RNA {receipt.association_rna}" if receipt.association_rna else "",
                          f"SIRET {receipt.association_siret}" if receipt.association_siret else "") if part
    )  # fmt: skip
    story += [
        _p("Bénéficiaire des versements", styles.heading),
        _field("Nom ou dénomination", receipt.association_name, styles),
        _field("Numéro RNA / SIRET", identifier, styles),
        _field("Adresse", receipt.association_address, styles),
        _field("Objet", receipt.association_object, styles),
        _field(
            "Qualité",
            "Association ou fondation d'intérêt général (articles 200 et 238 bis du code général des impôts)",
            styles,
        ),
        _field("Justificatif", receipt.association_evidence, styles),
        _p("Donateur", styles.heading),
        _field("Dénomination sociale", receipt.donor_name, styles),
        _field("SIRET", receipt.donor_siret, styles),
        _field("Adresse", receipt.donor_address, styles),
        _p("Don", styles.heading),
        _p(
            "Le bénéficiaire reconnaît avoir reçu au titre des dons et versements ouvrant droit à réduction "
            "d'impôt :",
            styles.body,
        ),
        _field("Forme du don", "Don en nature", styles),
        _field("Nature du don", "don en nature", styles),
        _field("Période", f"du {_date_fr(receipt.period_start)} au {_date_fr(receipt.period_end)}", styles),
        Spacer(1, 2 * mm),
        _lines_table(receipt, styles),
        Spacer(1, 2 * mm),
        _field("Montant total (en chiffres)", euros_fr(receipt.total_value_eur), styles),
        _field("Montant total (en toutes lettres)", amount_in_words(receipt.total_value_eur), styles),
        _field(
            "Méthode de valorisation",
            ", ".join(
                sorted(
                    {BASIS_FR.get(line.valuation_basis, line.valuation_basis) for line in receipt.lines.all()}
                )
            ),
            styles,
        ),
    ]
    if any(line.near_use_by for line in receipt.lines.all()):
        story.append(
            _p(
                "Denrées proches de leur date limite de consommation : signalées par le donateur.",
                styles.small,
            )
        )
    story += [
        _p("Signature", styles.heading),
        _field("Fait à", receipt.place, styles),
        _field("Le", _date_fr(receipt.issued_at), styles),
        _field(
            "Nom et qualité du signataire", f"{receipt.signatory_name}, {receipt.signatory_capacity}", styles
        ),
        Spacer(1, 18 * mm),
        _p("Signature", styles.small),
    ]
    return story


def receipt_pdf(receipt: Receipt) -> bytes:
    """The receipt as a PDF (A4)."""
    cancellation = ReceiptCancellation.objects.filter(receipt_id=receipt.pk).first()
    styles = _Styles(_fonts())
    out = BytesIO()
    doc = SimpleDocTemplate(
        out,
        pagesize=A4,
        leftMargin=15 * mm,
        rightMargin=15 * mm,
        topMargin=15 * mm,
        bottomMargin=15 * mm,
        title=f"Reçu {receipt.reference}",
        author=receipt.association_name,
    )
    doc.build(_story(receipt, cancellation, styles))
    return out.getvalue()

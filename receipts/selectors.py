"""Reads of tax receipts, scoped to the actor: a receipt is seen by the people of the association that
issued it, by the people and API keys of the donor, and by the operator; to anyone else it reads as
absent. Yearly totals, cancelled receipts left out: per donor by the year of the gifts, with the 238 bis
arithmetic as information (receipts/rules.py), and per association by the year the receipts were
issued, for its yearly declaration. Their CSV goes through core.tables (machine keys, then labels)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any

from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Sum
from django.utils.translation import gettext as _

from core.errors import NotFound
from core.tables import Column, columns_of
from organisations.actors import Actor
from organisations.models import Organisation, OrganisationKind

from .lines import gifts_of_year
from .models import Receipt, ReceiptCancellation, ReceiptLine
from .rules import Reduction238Bis, reduction_238_bis


def issuer_organisation_ids(actor: Actor) -> set[int]:
    """The associations whose receipts the actor sees as the issuer: a person's (API keys excluded)."""
    return actor.organisation_ids if actor.api_key is None else set()


def receipt_visible_to(actor: Actor, receipt: Receipt) -> bool:
    return (
        actor.is_operator
        or receipt.association_id in issuer_organisation_ids(actor)
        or receipt.donor_id in actor.organisation_ids
    )


def receipts_visible(*, actor: Actor) -> QuerySet[Receipt]:
    """Every receipt the actor may see, with its cancellation when there is one."""
    receipts = Receipt.objects.select_related("cancellation", "replaces")
    if actor.is_operator:
        return receipts.all()
    return receipts.filter(
        Q(association_id__in=issuer_organisation_ids(actor)) | Q(donor_id__in=actor.organisation_ids)
    )


def receipts_list(
    *,
    actor: Actor,
    year: int | None = None,
    association_id: int | None = None,
    donor_id: int | None = None,
) -> QuerySet[Receipt]:
    """The receipts the actor sees, filtered, with what a list shows of each (not its lines)."""
    receipts = receipts_visible(actor=actor).select_related("replaced_by")
    if year is not None:
        receipts = receipts.filter(year=year)
    if association_id is not None:
        receipts = receipts.filter(association_id=association_id)
    if donor_id is not None:
        receipts = receipts.filter(donor_id=donor_id)
    return receipts


def receipt_get(*, actor: Actor, receipt_id: int) -> Receipt:
    receipt = receipts_visible(actor=actor).filter(pk=receipt_id).prefetch_related("lines").first()
    if receipt is None:
        raise NotFound(_("No such receipt."))
    return receipt


def _live(receipts: QuerySet[Receipt]) -> QuerySet[Receipt]:
    return receipts.exclude(Exists(ReceiptCancellation.objects.filter(receipt_id=OuterRef("pk"))))


@dataclass(frozen=True)
class DonorYearTotals:
    donor_id: int
    year: int
    receipt_count: int
    total_value_eur: Decimal
    reduction: Reduction238Bis


def donor_year_totals(
    *, actor: Actor, donor_id: int, year: int, turnover_eur: Decimal | None = None
) -> DonorYearTotals:
    """The donor's gifts of `year` on its receipts that are not cancelled, and the 238 bis arithmetic on
    them: information, not advice. The reduction belongs to the year of the gift (its collection, local
    time), whenever the receipt was issued: a December gift receipted in January counts in December's
    year. The donor's people and API keys, or the operator."""
    if not actor.is_member(donor_id) and not actor.is_operator:
        raise NotFound(_("No such organisation."))
    gifts = ReceiptLine.objects.filter(receipt__in=_live(Receipt.objects.filter(donor_id=donor_id)))
    sums = gifts.filter(**gifts_of_year(year)).aggregate(
        count=Count("receipt_id", distinct=True), total=Sum("value_eur")
    )
    total = sums["total"] or Decimal("0.00")
    return DonorYearTotals(
        donor_id=donor_id,
        year=year,
        receipt_count=sums["count"],
        total_value_eur=total,
        reduction=reduction_238_bis(total, turnover_eur),
    )


@dataclass(frozen=True)
class AssociationYearTotals:
    association_id: int
    year: int
    receipt_count: int
    total_value_eur: Decimal
    cancelled_count: int


def association_year_totals(*, actor: Actor, association_id: int, year: int) -> AssociationYearTotals:
    """The number and total of the receipts the association issued in `year` (not cancelled), and how
    many it cancelled: its yearly declaration. The association's people, or the operator."""
    if association_id not in issuer_organisation_ids(actor) and not actor.is_operator:
        raise NotFound(_("No such organisation."))
    issued = Receipt.objects.filter(association_id=association_id, year=year)
    sums = _live(issued).aggregate(count=Count("id"), total=Sum("total_value_eur"))
    return AssociationYearTotals(
        association_id=association_id,
        year=year,
        receipt_count=sums["count"],
        total_value_eur=sums["total"] or Decimal("0.00"),
        cancelled_count=issued.filter(cancellation__isnull=False).count(),
    )


def receipt_year_totals(
    *, actor: Actor, organisation_id: int, year: int, turnover_eur: Decimal | None = None
) -> DonorYearTotals | AssociationYearTotals:
    """An association's declaration totals, or any other organisation's totals as a donor."""
    kind = Organisation.objects.filter(pk=organisation_id).values_list("kind", flat=True).first()
    if kind is None:
        raise NotFound(_("No such organisation."))
    if kind == OrganisationKind.ASSOCIATION:
        return association_year_totals(actor=actor, association_id=organisation_id, year=year)
    return donor_year_totals(actor=actor, donor_id=organisation_id, year=year, turnover_eur=turnover_eur)


DONOR_TOTAL_COLUMNS: list[Column] = columns_of(
    ("donor_id", "Donateur", "Donor"),
    ("year", "Année", "Year"),
    ("receipt_count", "Reçus", "Receipts"),
    ("total_value_eur", "Total des dons (€)", "Total of gifts (EUR)"),
    ("turnover_eur", "Chiffre d'affaires HT (€)", "Turnover excl. tax (EUR)", "reduction.turnover_eur"),
    ("ceiling_eur", "Plafond (€)", "Ceiling (EUR)", "reduction.ceiling_eur"),
    ("eligible_eur", "Dons retenus (€)", "Gifts within the ceiling (EUR)", "reduction.eligible_eur"),
    ("reduction_eur", "Réduction indicative (€)", "Indicative reduction (EUR)", "reduction.reduction_eur"),
    (
        "carried_over_eur",
        "Excédent reportable (€)",
        "Excess carried over (EUR)",
        "reduction.carried_over_eur",
    ),
    ("carry_over_years", "Années de report", "Years of carry-over", "reduction.carry_over_years"),
)
ASSOCIATION_TOTAL_COLUMNS: list[Column] = columns_of(
    ("association_id", "Association", "Association"),
    ("year", "Année", "Year"),
    ("receipt_count", "Reçus émis", "Receipts issued"),
    ("total_value_eur", "Montant total (€)", "Total amount (EUR)"),
    ("cancelled_count", "Reçus annulés", "Receipts cancelled"),
)


def totals_row(totals: DonorYearTotals | AssociationYearTotals) -> dict[str, Any]:
    """A totals dataclass as a table row (nested parts stay nested: columns read dotted paths)."""
    return asdict(totals)

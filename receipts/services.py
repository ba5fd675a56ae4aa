"""Issuing and cancelling tax receipts. One function per change, in a transaction, taking the acting
Actor and raising core.errors.

Issue: a member of the association (or the operator) issues a receipt to a firm for its live donation
rows collected in a period (receipts/lines.py), all of them or those named; every row needs its stamped
valuation, and none may already be on a receipt that is not cancelled. Numbers come from the counter
(receipts/numbering.py); the counter row's lock is taken before the rows are checked, so two issues of
one association run one after the other and cannot put one row on two live receipts. Locks, in one
order: the counter row, the receipt replaced, then the ledger rows (in id order, as a reversal locks
its row: a row reversed meanwhile is read as reversed).

Cancel: a cancellation row (the receipt stays as issued); re-issue: a new receipt that `replaces` the
cancelled one, of the same association and donor."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import override

from claims.models import Handover
from core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from core.events import event_record
from organisations.actors import Actor
from organisations.models import Organisation, OrganisationKind, Site, TaxReceiptStatus

from .lines import line_description, receiptable_rows, rows_on_live_receipts
from .models import Receipt, ReceiptCancellation, ReceiptLine
from .numbering import receipt_number_take
from .rules import line_value, receipt_reference
from .selectors import issuer_organisation_ids, receipt_visible_to

_AFTER_POSTCODE = re.compile(r"\b\d{5}\s+([^,\d]+)$")


def _record(name: str, receipt: Receipt, actor: Actor, **payload: object) -> None:
    event_record(
        name=name,
        aggregate_type="receipt",
        aggregate_id=receipt.pk,
        actor=actor.label,
        organisation_id=receipt.association_id,
        payload={"reference": receipt.reference, "donor_id": receipt.donor_id, **payload},
    )


def _require_issuer(actor: Actor, association: Organisation) -> None:
    """A person of the association (admin or member) or the operator; anyone else does not see the
    association's receipts."""
    if association.pk not in issuer_organisation_ids(actor) and not actor.is_operator:
        raise NotFound(_("No such organisation."))
    if association.kind != OrganisationKind.ASSOCIATION:
        raise PermissionDenied(
            _("Only an association of general interest issues tax receipts."), code="not_an_association"
        )
    if association.tax_receipt_status != TaxReceiptStatus.VERIFIED:
        raise PermissionDenied(
            _("This association's right to issue tax receipts has not been verified by the operator."),
            code="tax_receipts_not_verified",
            extra={"tax_receipt_status": association.tax_receipt_status},
        )


def _require_donor(donor: Organisation) -> None:
    if donor.kind != OrganisationKind.COMPANY or not donor.siret:
        message = _("A receipt for a gift in kind goes to a company with a SIRET.")
        raise InvalidInput(message, code="donor_not_eligible", field_errors={"donor": [message]})


def _address(organisation: Organisation) -> tuple[str, str]:
    """(address, place) as printed: the organisation's first active site with an address, and its
    commune (the site's territory, else what follows the postcode in the address)."""
    site = (
        Site.objects.filter(organisation_id=organisation.pk, is_active=True)
        .exclude(address="")
        .select_related("territory")
        .order_by("id")
        .first()
    )
    if site is None:
        return "", ""
    if site.territory is not None:
        return site.address, site.territory.name
    commune = _AFTER_POSTCODE.search(site.address)
    return site.address, commune.group(1).strip() if commune else ""


def _signatory(actor: Actor, association: Organisation) -> tuple[str, str]:
    """(name, capacity) of who signs, in French: the receipt is a French document, whoever issues it."""
    with override("fr"):
        name = actor.user.get_full_name() or actor.user.email if actor.user else _("the association")
        if actor.is_admin(association.pk):
            capacity = _("administrator")
        elif actor.is_member(association.pk):
            capacity = _("member")
        else:
            capacity = _("platform operator, for the association")
        return str(name), str(capacity)


def _replaced(replaces: Receipt | None, association: Organisation, donor: Organisation) -> Receipt | None:
    if replaces is None:
        return None
    old = Receipt.objects.select_for_update(no_key=True).filter(pk=replaces.pk).first()
    if old is None or old.association_id != association.pk:
        raise NotFound(_("No such receipt."))
    if old.donor_id != donor.pk:
        raise Conflict(_("A receipt is re-issued to the same donor."), code="replaces_other_donor")
    if not ReceiptCancellation.objects.filter(receipt_id=old.pk).exists():
        raise Conflict(_("Cancel the receipt before issuing its replacement."), code="replaces_not_cancelled")
    if Receipt.objects.filter(replaces_id=old.pk).exists():
        raise Conflict(_("This receipt has already been re-issued."), code="already_replaced")
    return old


def _rows(
    *,
    association: Organisation,
    donor: Organisation,
    period_start: date,
    period_end: date,
    handover_ids: Sequence[int] | None,
) -> list[Handover]:
    """The rows the receipt holds, or the refusal naming the rows that may not be on it."""
    candidates = receiptable_rows(
        association_id=association.pk, donor_id=donor.pk, period_start=period_start, period_end=period_end
    )
    # Lock the rows (after the counter, in id order), then read them again: a reversal committed
    # meanwhile (it locks its row first, claims.services.reversal_write) takes the row off the receipt.
    list(
        Handover.objects.filter(pk__in=candidates.values("pk"))
        .select_for_update(no_key=True)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    rows = list(candidates)
    if handover_ids is not None:
        wanted = set(handover_ids)
        rows = [row for row in rows if row.pk in wanted]
        outside = sorted(wanted - {row.pk for row in rows})
        if outside:
            raise InvalidInput(
                _(
                    "These handovers cannot be on this receipt (not live donations from this donor to "
                    "this association in the period): %(ids)s."
                )
                % {"ids": ", ".join(map(str, outside))},
                code="handovers_not_eligible",
                field_errors={
                    "handover_ids": [_("Not eligible: %(ids)s.") % {"ids": ", ".join(map(str, outside))}]
                },
                extra={"handover_ids": outside},
            )
    taken = rows_on_live_receipts([row.pk for row in rows])
    if handover_ids is not None and taken:
        raise Conflict(
            _("These handovers are already on a receipt that is not cancelled: %(ids)s.")
            % {"ids": ", ".join(map(str, taken))},
            code="already_receipted",
            extra={"handover_ids": taken},
        )
    rows = [row for row in rows if row.pk not in set(taken)]
    if not rows:
        raise InvalidInput(
            _("No donation from this donor to receipt in this period."), code="nothing_to_receipt"
        )
    unvalued = [row.pk for row in rows if row.unit_value_eur is None]
    if unvalued:
        raise InvalidInput(
            _("These handovers carry no valuation (the donor's stock value or cost price): %(ids)s.")
            % {"ids": ", ".join(map(str, unvalued))},
            code="valuation_missing",
            extra={"handover_ids": unvalued},
        )
    return rows


@transaction.atomic
def receipt_issue(
    *,
    actor: Actor,
    association: Organisation,
    donor: Organisation,
    period_start: date,
    period_end: date,
    handover_ids: Sequence[int] | None = None,
    replaces: Receipt | None = None,
    now: datetime | None = None,
) -> Receipt:
    """A receipt from the association to the donor for its donations in the period (module docstring)."""
    now = actor.clock(now)
    actor.require_write()
    association = Organisation.objects.get(pk=association.pk)
    donor = Organisation.objects.get(pk=donor.pk)
    _require_issuer(actor, association)
    _require_donor(donor)
    if period_end < period_start:
        message = _("The period ends before it starts.")
        raise InvalidInput(message, field_errors={"period_end": [message]})
    year = timezone.localtime(now).year
    number = receipt_number_take(association_id=association.pk, year=year)
    old = _replaced(replaces, association, donor)
    rows = _rows(
        association=association,
        donor=donor,
        period_start=period_start,
        period_end=period_end,
        handover_ids=handover_ids,
    )
    valued = [(row, unit_value) for row in rows if (unit_value := row.unit_value_eur) is not None]
    values = [line_value(row.quantity, unit_value) for row, unit_value in valued]
    association_address, place = _address(association)
    signatory_name, signatory_capacity = _signatory(actor, association)
    try:
        with transaction.atomic():
            receipt = Receipt.objects.create(
                association=association,
                donor=donor,
                year=year,
                number=number,
                reference=receipt_reference(year, number),
                period_start=period_start,
                period_end=period_end,
                issued_at=now,
                issued_by=actor.label,
                signatory_name=signatory_name,
                signatory_capacity=signatory_capacity,
                place=place,
                association_name=association.name,
                association_siret=association.siret,
                association_rna=association.rna,
                association_address=association_address,
                association_object=association.description,
                association_evidence=association.tax_receipt_evidence,
                donor_name=donor.name,
                donor_siret=donor.siret,
                donor_address=_address(donor)[0],
                total_value_eur=sum(values, Decimal("0.00")),
                replaces=old,
            )
    except IntegrityError as exc:  # pragma: no cover - the locks above make this the last guard
        raise Conflict(_("This receipt has already been re-issued."), code="already_replaced") from exc
    ReceiptLine.objects.bulk_create(
        ReceiptLine(
            receipt=receipt,
            handover=row,
            description=line_description(row)[:400],
            quantity=row.quantity,
            unit=row.unit,
            unit_value_eur=unit_value,
            valuation_basis=row.valuation_basis,
            near_use_by=row.near_use_by,
            value_eur=value,
            collected_at=row.collected_at,
        )
        for (row, unit_value), value in zip(valued, values, strict=True)
    )
    _record(
        "receipt.issued",
        receipt,
        actor,
        total_value_eur=str(receipt.total_value_eur),
        handover_ids=[row.pk for row in rows],
        replaces_id=old.pk if old else None,
    )
    return receipt


@transaction.atomic
def receipt_cancel(*, actor: Actor, receipt: Receipt, reason: str) -> ReceiptCancellation:
    """The association (a member) or the operator cancels a receipt, for a reason; once."""
    actor.require_write()
    locked = Receipt.objects.select_for_update(no_key=True).filter(pk=receipt.pk).first()
    if locked is None or not receipt_visible_to(actor, locked):
        raise NotFound(_("No such receipt."))
    if locked.association_id not in issuer_organisation_ids(actor) and not actor.is_operator:
        raise PermissionDenied(
            _("Only the association that issued a receipt cancels it."), code="issuer_only"
        )
    if not reason.strip():
        message = _("Say why this receipt is cancelled.")
        raise InvalidInput(message, field_errors={"reason": [message]})
    if ReceiptCancellation.objects.filter(receipt_id=locked.pk).exists():
        raise Conflict(_("This receipt has already been cancelled."), code="already_cancelled")
    cancellation = ReceiptCancellation.objects.create(
        receipt=locked, reason=reason.strip(), cancelled_at=timezone.now(), cancelled_by=actor.label
    )
    _record("receipt.cancelled", locked, actor, reason=cancellation.reason)
    return cancellation

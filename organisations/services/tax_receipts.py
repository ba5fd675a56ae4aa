"""Whether an association may issue tax receipts for gifts (art. 200 and 238 bis CGI): one of its
administrators declares its general-interest status with the evidence (a rescrit fiscal reference, the
legal basis), and the operator verifies or refuses it. A new declaration starts again from `declared`.
Only a verified association issues receipts (receipts.services); a wrongly issued receipt is fined
25 % of its amount, hence the operator's check."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from core.events import event_record

from ..actors import Actor
from ..models import Organisation, OrganisationKind, TaxReceiptStatus


def _locked(organisation: Organisation | int) -> Organisation:
    pk = organisation.pk if isinstance(organisation, Organisation) else organisation
    org = Organisation.objects.select_for_update().filter(pk=pk).first()
    if org is None:
        raise NotFound(_("No such organisation."))
    return org


def _record(name: str, org: Organisation, actor: Actor) -> None:
    event_record(
        name=name,
        aggregate_type="organisation",
        aggregate_id=org.pk,
        actor=actor.label,
        organisation_id=org.pk,
        payload={"tax_receipt_status": org.tax_receipt_status},
    )


@transaction.atomic
def tax_receipt_status_declare(
    *, actor: Actor, organisation: Organisation | int, evidence: str
) -> Organisation:
    """An administrator of the association declares that it may issue tax receipts, with the evidence;
    the status is `declared` again (whatever it was) until the operator decides."""
    actor.require_write()
    pk = organisation.pk if isinstance(organisation, Organisation) else organisation
    actor.require_admin(pk)
    org = _locked(pk)
    if org.kind != OrganisationKind.ASSOCIATION:
        raise Conflict(
            _("Only an association of general interest issues tax receipts."), code="not_an_association"
        )
    if not evidence.strip():
        message = _("Give the evidence: the rescrit fiscal reference or the legal basis.")
        raise InvalidInput(message, field_errors={"evidence": [message]})
    now = timezone.now()
    org.tax_receipt_status = TaxReceiptStatus.DECLARED
    org.tax_receipt_evidence = evidence.strip()
    org.tax_receipt_declared_at = now
    org.tax_receipt_verified_at = None
    org.tax_receipt_verified_by = None
    org.save(
        update_fields=[
            "tax_receipt_status",
            "tax_receipt_evidence",
            "tax_receipt_declared_at",
            "tax_receipt_verified_at",
            "tax_receipt_verified_by",
            "updated_at",
        ]
    )
    _record("organisation.tax_receipt_declared", org, actor)
    return org


@transaction.atomic
def tax_receipt_status_verify(
    *, actor: Actor, organisation: Organisation | int, accepted: bool
) -> Organisation:
    """The operator verifies (`accepted`) or refuses a declared status; it may revise its decision."""
    pk = organisation.pk if isinstance(organisation, Organisation) else organisation
    if not actor.is_operator:
        actor.require_member(pk)
        raise PermissionDenied(
            _("Only the platform operator verifies the right to issue tax receipts."), code="operator_only"
        )
    org = _locked(pk)
    if org.tax_receipt_status == TaxReceiptStatus.NONE:
        raise Conflict(
            _("This association has declared no right to issue tax receipts."), code="nothing_declared"
        )
    org.tax_receipt_status = TaxReceiptStatus.VERIFIED if accepted else TaxReceiptStatus.REFUSED
    org.tax_receipt_verified_at = timezone.now()
    org.tax_receipt_verified_by = actor.user
    org.save(
        update_fields=[
            "tax_receipt_status",
            "tax_receipt_verified_at",
            "tax_receipt_verified_by",
            "updated_at",
        ]
    )
    _record(
        "organisation.tax_receipt_verified" if accepted else "organisation.tax_receipt_refused", org, actor
    )
    return org

"""What a collected lot became: the recipient's outcome report (people reached, of whom young people
under 26 and seniors over 60, the use, volunteer hours), one per claim, reached from any of its ledger
rows that is not a reversal.

The recipient's members and write keys (and the operator) report it and may change it for
BOUCLE_OUTCOME_EDIT_DAYS after the first report; then it is fixed. The database holds the same rules
(migration impact/0006: no update after `editable_until`, no delete; the ages within the people
reached). Whoever sees the handover (its parties, the operator) reads the report. The statistics count
reports in impact.outcome_figures."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from claims.models import Claim, Handover
from claims.selectors import handover_get
from core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from organisations.actors import Actor

from .models import OutcomeReport, OutcomeUse


@dataclass(frozen=True)
class OutcomeFigures:
    """What the recipient reports (the writable part of a report)."""

    people_reached: int
    use: str
    young_people: int = 0
    seniors: int = 0
    use_detail: str = ""
    volunteer_hours: Decimal | None = None


def outcome_figures_check(figures: OutcomeFigures) -> None:
    """The report's own rules (the database's CHECKs, told as field errors)."""
    errors: dict[str, list[str]] = {}
    if figures.use not in OutcomeUse.values:
        errors["use"] = [_("Unknown use.")]
    for name in ("people_reached", "young_people", "seniors"):
        if getattr(figures, name) < 0:
            errors[name] = [_("A count cannot be negative.")]
    if not errors and figures.young_people + figures.seniors > figures.people_reached:
        message = _("Young people and seniors together cannot be more than the people reached.")
        errors["people_reached"] = [message]
    if figures.volunteer_hours is not None and figures.volunteer_hours < 0:
        errors["volunteer_hours"] = [_("Volunteer hours cannot be negative.")]
    if errors:
        raise InvalidInput(_("The outcome report is not valid."), field_errors=errors)


def _reported_handover(actor: Actor, handover_id: int) -> Handover:
    handover = handover_get(actor=actor, handover_id=handover_id)
    if handover.reverses_id is not None:
        raise Conflict(
            _("A reversal has no outcome: report it on the handover it reverses or on its correction."),
            code="reversal_has_no_outcome",
        )
    return handover


def outcome_get(*, actor: Actor, handover_id: int) -> OutcomeReport:
    """The outcome report of the handover's claim, for whoever sees the handover; 404 when none."""
    handover = _reported_handover(actor, handover_id)
    report = OutcomeReport.objects.filter(claim_id=handover.claim_id).first()
    if report is None:
        raise NotFound(_("Nothing has been reported yet for this handover."))
    return report


@transaction.atomic
def outcome_report(
    *, actor: Actor, handover_id: int, figures: OutcomeFigures, now: datetime | None = None
) -> tuple[OutcomeReport, bool]:
    """Records or replaces what the lot of this handover became; returns the report and whether it is
    new. The recipient's side only (its members and write keys, or the operator: 403 `recipient_only`);
    409 `handover_reversed` when every row of the claim was reversed, `outcome_fixed` once the edit
    period is over."""
    given = actor.clock(now) if now is not None else None  # the system alone may give the moment
    actor.require_write()
    handover = _reported_handover(actor, handover_id)
    if not actor.is_member(handover.recipient_id) and not actor.is_operator:
        raise PermissionDenied(_("Only the recipient reports what a lot became."), code="recipient_only")
    # The claim's row is the report's lock: two reports of one claim at once are one after the other.
    claim = Claim.objects.select_for_update().get(pk=handover.claim_id)
    now = given or actor.clock()  # once the lock is held: after the moments of the report's last writer
    live = Handover.objects.filter(claim=claim, reverses__isnull=True, reversed_by__isnull=True)
    if not live.exists():
        raise Conflict(_("This handover was reversed: nothing was handed over."), code="handover_reversed")
    outcome_figures_check(figures)
    report = OutcomeReport.objects.filter(claim=claim).first()
    created = report is None
    if report is None:
        report = OutcomeReport(
            claim=claim,
            reported_at=now,
            reported_by=actor.label,
            editable_until=now + timedelta(days=settings.BOUCLE_OUTCOME_EDIT_DAYS),
        )
    elif report.editable_until < now:
        raise Conflict(
            _("This outcome report is fixed: it could be changed until %(moment)s.")
            % {"moment": timezone.localtime(report.editable_until).strftime("%Y-%m-%d %H:%M")},
            code="outcome_fixed",
        )
    for name, value in vars(figures).items():
        setattr(report, name, value)
    report.updated_at = now
    report.updated_by = actor.label
    report.save()
    return report, created

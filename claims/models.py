"""Claims on offers, and the handover ledger: the only source of tonnage figures."""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.models import TimeStampedModel
from exchange.models import ValuationBasis
from inventory.models import FactorBasis


class ClaimStatus(models.TextChoices):
    REQUESTED = "requested", _("requested")
    ACCEPTED = "accepted", _("accepted")
    COLLECTED = "collected", _("collected")
    DECLINED = "declined", _("declined")
    CANCELLED = "cancelled", _("cancelled")
    EXPIRED = "expired", _("expired (no-show)")


OPEN_CLAIM_STATUSES = (ClaimStatus.REQUESTED, ClaimStatus.ACCEPTED)


class AutoAcceptWithheld(models.TextChoices):
    """Why an offer that accepts claims automatically left this one for the donor to answer
    (claims/selectors/reveal.py)."""

    NO_HISTORY = "no_history", _("no handover vouched for by a donor yet")
    SUSPENDED = "suspended", _("suspended after claims broken once the place was revealed")
    LIMIT = "limit", _("too many automatically accepted claims not yet collected")


class RevealReason(models.TextChoices):
    """Why a claim shows its exact place and contacts, or not yet (claims/selectors/reveal.py)."""

    ACCEPTED_BY_DONOR = "accepted_by_donor", _("accepted by the donor: shown")
    PICKUP_WINDOW_OPEN = "pickup_window_open", _("accepted automatically, pickup window open: shown")
    COLLECTED = "collected", _("collected: shown")
    BEFORE_PICKUP_WINDOW = "before_pickup_window", _("accepted automatically: shown from a set time")
    AWAITING_DONOR = "awaiting_donor", _("awaiting the donor's answer")
    AWAITING_DONOR_NO_HISTORY = "awaiting_donor_no_history", _("awaiting the donor: no vouched handover yet")
    AWAITING_DONOR_AUTO_ACCEPT_SUSPENDED = (
        "awaiting_donor_auto_accept_suspended",
        _("awaiting the donor: automatic acceptance suspended"),
    )
    AWAITING_DONOR_AUTO_ACCEPT_LIMIT = (
        "awaiting_donor_auto_accept_limit",
        _("awaiting the donor: too many automatically accepted claims open"),
    )
    CLAIM_CLOSED = "claim_closed", _("closed: not shown")


class ReturnCondition(models.TextChoices):
    """The state lent equipment came back in."""

    AS_LENT = "as_lent", _("as lent")
    WORN = "worn", _("worn")
    DAMAGED = "damaged", _("damaged")
    INCOMPLETE = "incomplete", _("incomplete")


class Party(models.TextChoices):
    """Who closed a claim or recorded a ledger row: reliability counts are kept per side."""

    RECIPIENT = "recipient", _("recipient")
    DONOR = "donor", _("donor")
    OPERATOR = "operator", _("operator")
    SYSTEM = "system", _("system")


class Claim(TimeStampedModel):
    """A recipient's reservation of a quantity of an offer. The quantity leaves the offer's remaining
    quantity when the claim is accepted and comes back if it is cancelled or expires."""

    offer = models.ForeignKey("exchange.Offer", models.PROTECT, related_name="claims")
    organisation = models.ForeignKey("organisations.Organisation", models.PROTECT, related_name="claims")
    created_by = models.ForeignKey("organisations.User", models.SET_NULL, null=True, related_name="+")
    quantity = models.DecimalField(_("quantity"), max_digits=14, decimal_places=3)
    message = models.TextField(_("message to the donor"), blank=True)
    status = models.CharField(
        _("status"), max_length=10, choices=ClaimStatus.choices, default=ClaimStatus.REQUESTED
    )
    accepted_at = models.DateTimeField(null=True, blank=True)
    auto_accepted = models.BooleanField(
        _("accepted automatically"), default=False, help_text=_("By the offer's setting, not by a person.")
    )
    auto_accept_withheld = models.CharField(
        _("automatic acceptance withheld"), max_length=10, choices=AutoAcceptWithheld.choices, blank=True
    )
    # From when the parties see the exact place and the contacts (claims/selectors/reveal.py); set on
    # acceptance.
    location_revealed_at = models.DateTimeField(_("place revealed from"), null=True, blank=True)
    pickup_deadline = models.DateTimeField(_("pickup deadline"), null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    close_reason = models.CharField(max_length=200, blank=True)
    closed_by_party = models.CharField(_("closed by"), max_length=10, choices=Party.choices, blank=True)
    # Loans (offers in mode `loan`, claims/loans.py): due back by, and the return once recorded.
    loan_due_at = models.DateTimeField(_("loan due back"), null=True, blank=True)
    returned_at = models.DateTimeField(_("returned at"), null=True, blank=True)
    return_condition = models.CharField(
        _("condition on return"), max_length=10, choices=ReturnCondition.choices, blank=True
    )
    return_note = models.TextField(_("note on return"), blank=True)
    loan_reminded_at = models.DateTimeField(_("last overdue reminder"), null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("claim")
        verbose_name_plural = _("claims")
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="claim_quantity_positive"),
            models.CheckConstraint(
                condition=~Q(status=ClaimStatus.ACCEPTED) | Q(pickup_deadline__isnull=False),
                name="claim_accepted_has_deadline",
            ),
            models.CheckConstraint(
                condition=~Q(status=ClaimStatus.ACCEPTED) | Q(location_revealed_at__isnull=False),
                name="claim_accepted_has_reveal_time",
            ),
            models.CheckConstraint(
                condition=Q(auto_accepted=False) | Q(auto_accept_withheld=""),
                name="claim_auto_accepted_not_withheld",
            ),
            models.CheckConstraint(
                condition=Q(returned_at__isnull=True)
                | (Q(loan_due_at__isnull=False) & Q(status=ClaimStatus.COLLECTED) & ~Q(return_condition="")),
                name="claim_return_of_collected_loan",
            ),
        ]
        indexes = [
            models.Index(fields=["offer", "status"], name="claim_offer_status"),
            models.Index(fields=["organisation", "status"], name="claim_org_status"),
            models.Index(fields=["status", "pickup_deadline"], name="claim_status_deadline"),
        ]

    def __str__(self) -> str:
        return f"claim #{self.pk} on offer #{self.offer_id}: {self.quantity} ({self.status})"


class MassMethod(models.TextChoices):
    WEIGHED = "weighed", _("weighed at handover")
    DECLARED = "declared", _("declared on the offer")
    ESTIMATED = "estimated", _("estimated from the category's typical mass")


class ConfirmationState(models.TextChoices):
    PENDING = "pending", _("awaiting the other party")
    CONFIRMED = "confirmed", _("confirmed")
    DISPUTED = "disputed", _("disputed")


class Handover(models.Model):
    """One row of the append-only ledger. Everything a figure needs is stamped on the row, fixed
    forever; a correction is a new row with negative quantity and mass that points at `reverses`.
    The database refuses UPDATE and DELETE (trigger)."""

    claim = models.ForeignKey(Claim, models.PROTECT, related_name="handovers")
    reverses = models.OneToOneField("self", models.PROTECT, null=True, blank=True, related_name="reversed_by")
    # A corrected handover of the same claim, recorded after the row it corrects was reversed.
    corrects = models.OneToOneField(
        "self", models.PROTECT, null=True, blank=True, related_name="corrected_by"
    )
    offer = models.ForeignKey("exchange.Offer", models.PROTECT, related_name="+")
    donor = models.ForeignKey("organisations.Organisation", models.PROTECT, related_name="+")
    donor_kind = models.CharField(max_length=20)
    recipient = models.ForeignKey("organisations.Organisation", models.PROTECT, related_name="+")
    recipient_kind = models.CharField(max_length=20)
    category = models.ForeignKey("inventory.Category", models.PROTECT, related_name="+")
    territory = models.ForeignKey("territories.Territory", models.PROTECT, null=True, related_name="+")
    quantity = models.DecimalField(max_digits=14, decimal_places=3)
    unit = models.CharField(max_length=8)
    mass_kg = models.DecimalField(max_digits=14, decimal_places=3)
    mass_method = models.CharField(max_length=10, choices=MassMethod.choices)
    # What was declared or estimated for the quantity handed over, when known (claims/plausibility.py).
    expected_mass_kg = models.DecimalField(max_digits=14, decimal_places=3, null=True, blank=True)
    # The recipient (or the recording party on its behalf) confirmed a mass outside the plausible bounds.
    mass_confirmed = models.BooleanField(default=False)
    outlier = models.BooleanField(
        default=False, help_text=_("Mass outside the plausible bounds, kept because it was confirmed.")
    )
    # The offer's mode: loans are lent and returned, never counted as waste diverted (claims/loans.py).
    mode = models.CharField(max_length=10, default="donation")
    factor_version = models.CharField(max_length=32)
    factor_basis = models.CharField(max_length=8, choices=FactorBasis.choices)
    factor_kgco2e = models.DecimalField(max_digits=12, decimal_places=4)
    factor_source = models.TextField()
    factor_status = models.CharField(max_length=20)
    # For a per-item factor: the number of items it was applied to (the quantity of pieces, or the mass
    # divided by one item's typical mass); null for a per-kg factor.
    factor_items = models.DecimalField(max_digits=14, decimal_places=3, null=True, blank=True)
    co2e_avoided_kg = models.DecimalField(max_digits=16, decimal_places=3)
    # The offer's valuation when the row was written (a reversal copies its row's), for tax receipts
    # (receipts/): the value of a row is its quantity × this unit value, never a sale price.
    unit_value_eur = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    valuation_basis = models.CharField(
        max_length=12, choices=ValuationBasis.choices, blank=True, default="", db_default=""
    )
    near_use_by = models.BooleanField(default=False, db_default=False)
    collected_at = models.DateTimeField(_("collected at"))
    # Set by the service (the system's seeding path may backdate it with the collection).
    recorded_at = models.DateTimeField(_("recorded at"), default=timezone.now)
    recorded_by = models.CharField(max_length=64, help_text="user:<id>, api-key:<prefix> or system")
    # The party the recorder acted for; the *other* party confirms or disputes. Null when the operator
    # or the system recorded the row (then either party may answer).
    recorded_by_organisation = models.ForeignKey(
        "organisations.Organisation", models.PROTECT, null=True, blank=True, related_name="+"
    )
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("handover")
        verbose_name_plural = _("handovers (ledger)")
        constraints = [
            # One first handover per claim; the other rows of that claim are reversals and corrections,
            # each correction pointing at the (reversed) row it corrects.
            models.UniqueConstraint(
                fields=["claim"],
                condition=Q(reverses__isnull=True) & Q(corrects__isnull=True),
                name="handover_one_per_claim",
            ),
            models.CheckConstraint(
                condition=Q(reverses__isnull=True) | Q(corrects__isnull=True),
                name="handover_reversal_corrects_nothing",
            ),
            models.CheckConstraint(
                condition=Q(outlier=False) | Q(mass_confirmed=True), name="handover_outlier_confirmed"
            ),
            models.CheckConstraint(
                condition=~Q(mode="loan") | Q(co2e_avoided_kg=0), name="handover_loan_avoids_nothing"
            ),
            models.CheckConstraint(
                condition=(Q(reverses__isnull=True) & Q(quantity__gt=0) & Q(mass_kg__gte=0))
                | (Q(reverses__isnull=False) & Q(quantity__lt=0) & Q(mass_kg__lte=0)),
                name="handover_sign_matches_kind",
            ),
            models.CheckConstraint(condition=~Q(donor=F("recipient")), name="handover_distinct_parties"),
            models.CheckConstraint(
                condition=(Q(unit_value_eur__isnull=True) & Q(valuation_basis=""))
                | (Q(unit_value_eur__gt=0) & ~Q(valuation_basis="") & Q(mode="donation")),
                name="handover_valuation_of_donation",
            ),
        ]
        indexes = [
            models.Index(fields=["collected_at"], name="handover_collected_at"),
            models.Index(fields=["donor", "collected_at"], name="handover_donor_time"),
            models.Index(fields=["recipient", "collected_at"], name="handover_recipient_time"),
            models.Index(fields=["collected_at"], condition=Q(outlier=True), name="handover_outliers"),
        ]

    def __str__(self) -> str:
        return f"handover #{self.pk}: {self.mass_kg} kg ({self.mass_method})"


class HandoverConfirmation(models.Model):
    """The other party's answer to a ledger row: confirmed or disputed, given once.

    Kept in its own append-only table rather than as columns of the ledger, so that ledger rows are
    never touched after INSERT (no trigger exception to reason about, and rollups maintained on INSERT
    stay right). A handover without a confirmation row is pending; once the window has passed without
    an answer, the system appends a tacit confirmation. The database refuses UPDATE and DELETE here too.
    """

    handover = models.OneToOneField(
        Handover, models.PROTECT, primary_key=True, related_name="confirmation", verbose_name=_("handover")
    )
    state = models.CharField(_("state"), max_length=10, choices=ConfirmationState.choices)
    reason = models.TextField(_("reason"), blank=True)
    tacit = models.BooleanField(_("tacit"), default=False, help_text=_("No answer within the window."))
    organisation = models.ForeignKey(
        "organisations.Organisation", models.PROTECT, null=True, blank=True, related_name="+"
    )
    recorded_by = models.CharField(max_length=64)
    recorded_at = models.DateTimeField(_("recorded at"), default=timezone.now)

    class Meta:
        ordering = ["-recorded_at"]
        verbose_name = _("handover confirmation")
        verbose_name_plural = _("handover confirmations")
        constraints = [
            models.CheckConstraint(
                condition=Q(state__in=[ConfirmationState.CONFIRMED, ConfirmationState.DISPUTED]),
                name="handover_confirmation_answered",
            ),
            models.CheckConstraint(
                condition=~Q(state=ConfirmationState.DISPUTED) | ~Q(reason=""),
                name="handover_dispute_has_reason",
            ),
        ]

    def __str__(self) -> str:
        return f"handover #{self.handover_id}: {self.state}"


class HandoverProposal(models.Model):
    """A step towards settling a disputed ledger row (claims/corrections.py): one party proposes a
    corrected figure; the other agrees by proposing the same figure, or counters with another; the
    operator settles alone. The step that settles points at the correction it wrote. Append-only."""

    handover = models.ForeignKey(Handover, models.PROTECT, related_name="proposals")
    organisation = models.ForeignKey(
        "organisations.Organisation",
        models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text=_("The party proposing; empty when the operator settled."),
    )
    quantity = models.DecimalField(_("quantity"), max_digits=14, decimal_places=3)
    mass_kg = models.DecimalField(_("mass (kg)"), max_digits=14, decimal_places=3)
    reason = models.TextField(_("reason"))
    correction = models.OneToOneField(
        Handover,
        models.PROTECT,
        null=True,
        blank=True,
        related_name="settled_by",
        verbose_name=_("correction"),
    )
    recorded_by = models.CharField(max_length=64)
    recorded_at = models.DateTimeField(_("recorded at"), default=timezone.now)

    class Meta:
        ordering = ["id"]
        verbose_name = _("handover proposal")
        verbose_name_plural = _("handover proposals")
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0) & Q(mass_kg__gt=0), name="proposal_positive"),
            models.CheckConstraint(condition=~Q(reason=""), name="proposal_has_reason"),
        ]

    def __str__(self) -> str:
        return f"proposal #{self.pk} on handover #{self.handover_id}: {self.mass_kg} kg"


# E-mail notifications (claims/notifications.py) ---------------------------------------------------------


class NotificationMode(models.TextChoices):
    IMMEDIATE = "immediate", _("immediately, one e-mail per event")
    DAILY = "daily", _("in a daily digest")
    OFF = "off", _("never")


class NotificationPreference(models.Model):
    """How a person hears of their organisations' claims and handovers; no row means immediately."""

    user = models.OneToOneField(
        "organisations.User", models.CASCADE, primary_key=True, related_name="notification_preference"
    )
    mode = models.CharField(
        _("notifications"),
        max_length=10,
        choices=NotificationMode.choices,
        default=NotificationMode.IMMEDIATE,
    )
    updated_at = models.DateTimeField(auto_now=True)


class Notification(models.Model):
    """The delivery record of one event to one person, inserted before anything is sent: the unique
    (event, user) pair is what makes a person hear of an event at most once."""

    event = models.ForeignKey("core.DomainEvent", models.CASCADE, related_name="+")
    user = models.ForeignKey("organisations.User", models.CASCADE, related_name="+")
    claim = models.ForeignKey(Claim, models.CASCADE, related_name="+")
    handover = models.ForeignKey(Handover, models.CASCADE, null=True, related_name="+")
    mode = models.CharField(max_length=10, choices=NotificationMode.choices)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["event", "user"], name="notification_once_per_event_and_user"),
            models.CheckConstraint(condition=~Q(mode="off"), name="notification_mode_not_off"),
        ]
        indexes = [
            models.Index(
                fields=["user", "created_at"], name="notification_pending", condition=Q(sent_at__isnull=True)
            )
        ]

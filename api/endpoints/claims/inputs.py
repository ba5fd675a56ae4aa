"""What claim requests carry: a claim, the list's query, acceptance, return, closing and the handover."""

from __future__ import annotations

from decimal import Decimal

from rest_framework import serializers

from claims import selectors
from claims.models import ClaimStatus, Party, ReturnCondition

from ...fields import QUANTITY, BoundedDateTimeField


class ClaimCreateIn(serializers.Serializer):
    offer = serializers.IntegerField(min_value=1)
    quantity = serializers.DecimalField(
        **QUANTITY,
        min_value=Decimal("0.001"),
        help_text="In the offer's unit; whole numbers for piece and pallet.",
    )
    message = serializers.CharField(max_length=2000, required=False, default="", allow_blank=True)
    organisation = serializers.IntegerField(
        min_value=1,
        required=False,
        help_text="The claiming organisation; optional when you belong to only one.",
    )


class ClaimListQuery(serializers.Serializer):
    status = serializers.ChoiceField(choices=ClaimStatus.choices, required=False)
    role = serializers.ChoiceField(
        choices=[Party.RECIPIENT, Party.DONOR],
        required=False,
        help_text="recipient: claims your organisations made; donor: claims on your organisations' offers.",
    )
    offer = serializers.IntegerField(min_value=1, required=False)
    loan = serializers.ChoiceField(
        choices=selectors.LOAN_FILTERS,
        required=False,
        help_text="Loans only: out (collected, not returned), overdue (out past their due date), returned.",
    )
    updated_since = BoundedDateTimeField(
        required=False, help_text="Only claims changed strictly after this instant."
    )


class ClaimAcceptIn(serializers.Serializer):
    pickup_deadline = BoundedDateTimeField(
        required=False,
        help_text="Until when the recipient may collect: in the future, within 90 days. Default: "
        "BOUCLE_PICKUP_DAYS (7) days after now, or after the lot's `available_from` if later.",
    )
    loan_due_at = BoundedDateTimeField(
        required=False,
        help_text="Loans only (400 otherwise): when the equipment is due back, after the pickup deadline and "
        "within BOUCLE_LOAN_MAX_DAYS (365) days of now. Default: BOUCLE_LOAN_DAYS (14) days after the "
        "pickup deadline.",
    )


class ClaimReturnIn(serializers.Serializer):
    condition = serializers.ChoiceField(
        choices=ReturnCondition.choices, help_text="The state the equipment came back in."
    )
    returned_at = BoundedDateTimeField(
        required=False, help_text="Default: now. Not in the future, not before the equipment was collected."
    )
    note = serializers.CharField(max_length=2000, required=False, default="", allow_blank=True)


class ClaimCloseIn(serializers.Serializer):
    reason = serializers.CharField(max_length=200, required=False, default="", allow_blank=True)


class HandoverCreateIn(serializers.Serializer):
    quantity = serializers.DecimalField(
        **QUANTITY,
        min_value=Decimal("0.001"),
        required=False,
        help_text=(
            "Quantity collected, in the offer's unit (whole numbers for piece and pallet), at most the "
            "claimed one (default); the rest goes back to the offer."
        ),
    )
    mass_kg = serializers.DecimalField(
        **QUANTITY,
        min_value=Decimal("0.001"),
        required=False,
        help_text="Weighed mass. Without it the mass is declared (offer) or estimated (category).",
    )
    mass_confirmed = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Keep a weighed mass outside the plausible bounds (under half or over twice what was "
        "declared or estimated); the row is then flagged outlier.",
    )
    collected_at = BoundedDateTimeField(
        required=False, help_text="Default: now. Not in the future, not before the claim was made."
    )
    note = serializers.CharField(max_length=2000, required=False, default="", allow_blank=True)

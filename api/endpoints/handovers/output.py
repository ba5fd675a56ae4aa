"""The JSON shape of a ledger row (`HandoverOut`) and of its parts."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from claims import selectors
from claims.models import ConfirmationState, Handover, MassMethod
from exchange.models import OfferMode
from inventory.models import FactorBasis
from organisations.models import OrganisationKind

from ...fields import LEDGER_DECIMAL


def _related(obj, name: str):
    """A reverse one-to-one fetched with select_related, or None when there is none."""
    try:
        return getattr(obj, name)
    except ObjectDoesNotExist:
        return None


# ---- output -------------------------------------------------------------------------------------


class HandoverPartyOut(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    kind = serializers.ChoiceField(choices=OrganisationKind.choices, help_text="Stamped when recorded.")


class HandoverCategoryOut(serializers.Serializer):
    id = serializers.IntegerField()
    key = serializers.CharField()
    path = serializers.CharField()
    name = serializers.CharField()


class HandoverTerritoryOut(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    code = serializers.CharField()
    name = serializers.CharField()


class HandoverFactorOut(serializers.Serializer):
    version = serializers.CharField(source="factor_version", help_text="Factor version code, e.g. 2026.1.")
    basis = serializers.ChoiceField(source="factor_basis", choices=FactorBasis.choices)
    kgco2e = serializers.DecimalField(
        source="factor_kgco2e", max_digits=12, decimal_places=4, help_text="kg CO2e per kg or per item."
    )
    source = serializers.CharField(source="factor_source")  # type: ignore[assignment]  # a field named like Field.source
    status = serializers.CharField(
        source="factor_status",
        help_text="sourced, sourced-secondary, indicative (not yet checked against the official dataset), "
        "or missing (no factor applied: CO2e 0).",
    )
    items = serializers.DecimalField(
        source="factor_items",
        max_digits=14,
        decimal_places=3,
        allow_null=True,
        help_text="per_item basis: the number of items the factor was applied to (the pieces handed over, "
        "else the mass divided by one item's typical mass); null for per_kg. The tonnage is the mass.",
    )


class HandoverConfirmationOut(serializers.Serializer):
    state = serializers.ChoiceField(choices=ConfirmationState.choices)
    due_at = serializers.DateTimeField(help_text="Until when the other party may confirm or dispute.")
    answered_at = serializers.DateTimeField(allow_null=True)
    answered_by = serializers.IntegerField(allow_null=True, help_text="Organisation that answered.")
    tacit = serializers.BooleanField(help_text="Confirmed because nobody answered within the window.")
    reason = serializers.CharField(help_text="Why it was disputed.")


class HandoverProposalOut(serializers.Serializer):
    id = serializers.IntegerField()
    handover = serializers.IntegerField(source="handover_id", help_text="The disputed row.")
    organisation = serializers.IntegerField(
        source="organisation_id",
        allow_null=True,
        help_text="The proposing party; null: the operator settled.",
    )
    quantity = serializers.DecimalField(max_digits=14, decimal_places=3)
    mass_kg = serializers.DecimalField(max_digits=14, decimal_places=3)
    reason = serializers.CharField()
    correction = serializers.IntegerField(
        source="correction_id",
        allow_null=True,
        help_text="The corrected row this step wrote (agreement or settlement); null while awaiting the "
        "other party.",
    )
    recorded_at = serializers.DateTimeField()


class HandoverOut(serializers.Serializer):
    """One ledger row, fixed forever. Reversals have negative quantity, mass and CO2e."""

    id = serializers.IntegerField()
    claim = serializers.IntegerField(source="claim_id")
    offer = serializers.IntegerField(source="offer_id")
    reverses = serializers.IntegerField(source="reverses_id", allow_null=True, help_text="The row corrected.")
    reversed_by = serializers.SerializerMethodField(help_text="The row that reverses this one, if any.")
    corrects = serializers.IntegerField(
        source="corrects_id", allow_null=True, help_text="The reversed row this corrected handover replaces."
    )
    corrected_by = serializers.SerializerMethodField(help_text="The corrected row that replaces this one.")
    donor = serializers.SerializerMethodField()
    recipient = serializers.SerializerMethodField()
    category = HandoverCategoryOut()
    territory = HandoverTerritoryOut(allow_null=True, help_text="Where the site is (commune).")
    quantity = serializers.DecimalField(max_digits=14, decimal_places=3)
    unit = serializers.CharField()
    mass_kg = serializers.DecimalField(max_digits=14, decimal_places=3)
    mass_method = serializers.ChoiceField(choices=MassMethod.choices)
    expected_mass_kg = serializers.DecimalField(
        max_digits=14,
        decimal_places=3,
        allow_null=True,
        help_text="What was declared or estimated for the quantity handed over; null when unknown.",
    )
    mass_confirmed = serializers.BooleanField(help_text="The recording party confirmed the mass explicitly.")
    outlier = serializers.BooleanField(
        help_text="The mass is outside the plausible bounds and was kept because it was confirmed."
    )
    mode = serializers.ChoiceField(
        choices=OfferMode.choices, help_text="loan: lent and returned, never counted as waste diverted."
    )
    factor = HandoverFactorOut(source="*")
    co2e_avoided_kg = serializers.DecimalField(**LEDGER_DECIMAL)
    collected_at = serializers.DateTimeField()
    recorded_at = serializers.DateTimeField()
    recorded_by = serializers.CharField(help_text="user:<id>, api-key:<prefix> or system.")
    updated_at = serializers.SerializerMethodField(
        help_text="When this row's representation last changed: the latest of `recorded_at` and the "
        "recording of its confirmation or dispute (`confirmation.answered_at`), of the row reversing it, "
        "of the corrected row replacing it, and of its dispute proposals. The row itself never changes."
    )
    note = serializers.CharField()
    confirmation = serializers.SerializerMethodField(help_text="Null for reversal rows.")
    proposals = HandoverProposalOut(
        many=True, help_text="Steps settling a dispute of this row, oldest first (empty for most rows)."
    )

    @extend_schema_field(serializers.DateTimeField())
    def get_updated_at(self, handover: Handover) -> str:
        return serializers.DateTimeField().to_representation(selectors.handover_updated_at(handover))

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_reversed_by(self, handover: Handover) -> int | None:
        reversal = _related(handover, "reversed_by")
        return reversal.pk if reversal else None

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_corrected_by(self, handover: Handover) -> int | None:
        correction = _related(handover, "corrected_by")
        return correction.pk if correction else None

    @extend_schema_field(HandoverPartyOut)
    def get_donor(self, handover: Handover) -> dict:
        return {"id": handover.donor_id, "name": handover.donor.name, "kind": handover.donor_kind}

    @extend_schema_field(HandoverPartyOut)
    def get_recipient(self, handover: Handover) -> dict:
        return {"id": handover.recipient_id, "name": handover.recipient.name, "kind": handover.recipient_kind}

    @extend_schema_field(HandoverConfirmationOut(allow_null=True))
    def get_confirmation(self, handover: Handover) -> dict | None:
        if handover.reverses_id is not None:
            return None
        answer = _related(handover, "confirmation")
        due = handover.recorded_at + timedelta(days=settings.BOUCLE_HANDOVER_CONFIRM_DAYS)
        return HandoverConfirmationOut(
            {
                "state": answer.state if answer else ConfirmationState.PENDING,
                "due_at": due,
                "answered_at": answer.recorded_at if answer else None,
                "answered_by": answer.organisation_id if answer else None,
                "tacit": answer.tacit if answer else False,
                "reason": answer.reason if answer else "",
            }
        ).data

"""What a collected lot became: `GET` and `PUT handovers/{id}/outcome/` (impact.outcomes)."""

from __future__ import annotations

from decimal import Decimal

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from impact.models import OutcomeUse
from impact.outcomes import OutcomeFigures, outcome_get, outcome_report

from ...actors import actor_of
from ...created import created
from ...inputs import validated

MAX_PEOPLE = 1_000_000


class OutcomeIn(serializers.Serializer):
    people_reached = serializers.IntegerField(
        min_value=0, max_value=MAX_PEOPLE, help_text="People the lot reached (a family of four: 4)."
    )
    young_people = serializers.IntegerField(
        min_value=0, max_value=MAX_PEOPLE, required=False, default=0, help_text="Of them, under 26."
    )
    seniors = serializers.IntegerField(
        min_value=0, max_value=MAX_PEOPLE, required=False, default=0, help_text="Of them, over 60."
    )
    use = serializers.ChoiceField(choices=OutcomeUse.choices, help_text="What the lot became.")
    use_detail = serializers.CharField(
        max_length=300, required=False, default="", allow_blank=True, help_text="In a few words."
    )
    volunteer_hours = serializers.DecimalField(
        max_digits=7,
        decimal_places=1,
        min_value=Decimal("0"),
        required=False,
        allow_null=True,
        default=None,
        help_text="Volunteer hours the lot's use took, if counted.",
    )


class OutcomeOut(serializers.Serializer):
    claim = serializers.IntegerField(source="claim_id", help_text="The claim whose lot this reports.")
    people_reached = serializers.IntegerField()
    young_people = serializers.IntegerField()
    seniors = serializers.IntegerField()
    use = serializers.ChoiceField(choices=OutcomeUse.choices)
    use_detail = serializers.CharField()
    volunteer_hours = serializers.DecimalField(max_digits=7, decimal_places=1, allow_null=True)
    reported_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    editable_until = serializers.DateTimeField(help_text="After this moment the report is fixed.")


class HandoverOutcomeView(APIView):
    @extend_schema(
        operation_id="handovers_outcome_retrieve",
        summary="What a collected lot became",
        description=(
            "The recipient's report of what the lot of this handover became, for whoever sees the "
            "handover. One per claim: the same report from the claim's first row and from its correction. "
            "404 when nothing is reported yet; 409 `reversal_has_no_outcome` on a reversal row."
        ),
        responses={200: OutcomeOut},
    )
    def get(self, request, handover_id: int):
        report = outcome_get(actor=actor_of(request), handover_id=handover_id)
        return Response(OutcomeOut(report).data)

    @extend_schema(
        operation_id="handovers_outcome_update",
        summary="Report what a collected lot became (the recipient)",
        description=(
            "People reached, of whom young people (under 26) and seniors (over 60), the use and, if "
            "counted, volunteer hours. 201 for the first report, 200 when it replaces it. It may be changed "
            "for BOUCLE_OUTCOME_EDIT_DAYS (30) after the first report, then it is fixed: 409 "
            "`outcome_fixed`. The recipient's members and write keys and the operator report (403 "
            "`recipient_only` for the donor); 409 `handover_reversed` when the handover was reversed and "
            "not corrected, `reversal_has_no_outcome` on a reversal row. 400 when young people and "
            "seniors together are more than the people reached."
        ),
        request=OutcomeIn,
        responses={200: OutcomeOut, 201: OutcomeOut},
    )
    def put(self, request, handover_id: int):
        data = validated(OutcomeIn, request)
        report, new = outcome_report(
            actor=actor_of(request), handover_id=handover_id, figures=OutcomeFigures(**data)
        )
        body = OutcomeOut(report).data
        if new:
            return created(request, body, "handover-outcome", handover_id=handover_id)
        return Response(body)

"""Organisations: list/detail/update by their members and admins, verification by the operator,
invitations by admins."""

from __future__ import annotations

from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from claims.selectors import reliability_of
from organisations import selectors, services
from organisations.models import Invitation, MembershipRole, Organisation, OrganisationKind

from ..actors import actor_of
from ..created import created
from ..inputs import validated
from .auth import OrganisationDetailsIn
from .claims import ReliabilityOut

READ_ONLY_FIELDS = (
    "id",
    "kind",
    "verified",
    "verified_at",
    "verified_by",
    "tax_receipts",
    "created_at",
    "updated_at",
)
# An association's right to issue tax receipts, as read (the model's blank status reads `none`).
TAX_RECEIPT_STATUSES = ["none", "declared", "verified", "refused"]


class TaxReceiptsOut(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=TAX_RECEIPT_STATUSES,
        help_text="none: never declared; declared: waiting for the operator; verified: the association "
        "issues receipts; refused.",
    )
    evidence = serializers.CharField(help_text="The rescrit fiscal reference or legal basis declared.")
    declared_at = serializers.DateTimeField(allow_null=True)
    decided_at = serializers.DateTimeField(
        allow_null=True, help_text="When the operator verified or refused."
    )


def tax_receipts_of(organisation: Organisation) -> dict | None:
    if organisation.kind != OrganisationKind.ASSOCIATION:
        return None
    return TaxReceiptsOut(
        {
            "status": organisation.tax_receipt_status or "none",
            "evidence": organisation.tax_receipt_evidence,
            "declared_at": organisation.tax_receipt_declared_at,
            "decided_at": organisation.tax_receipt_verified_at,
        }
    ).data


class OrganisationOut(serializers.ModelSerializer):
    verified = serializers.BooleanField(source="is_verified", help_text="Verified by the operator.")
    # Plain strings: blank when not given (an e-mail or URL format would make "" ambiguous in the schema).
    email = serializers.CharField(help_text="Contact e-mail address; empty when not given.")
    website = serializers.CharField(help_text="Website URL; empty when not given.")
    tax_receipts = serializers.SerializerMethodField(
        help_text="An association's right to issue tax receipts for gifts (declared by its "
        "administrators, verified by the operator); null for other kinds."
    )

    class Meta:
        model = Organisation
        fields = [
            "id",
            "name",
            "kind",
            "siret",
            "rna",
            "description",
            "email",
            "phone",
            "website",
            "verified",
            "verified_at",
            "tax_receipts",
            "created_at",
            "updated_at",
        ]

    @extend_schema_field(TaxReceiptsOut(allow_null=True))
    def get_tax_receipts(self, organisation: Organisation) -> dict | None:
        return tax_receipts_of(organisation)


class OrganisationDetailOut(OrganisationOut):
    """An organisation with how it kept its word on claims (handovers, no-shows, cancellations, declines)."""

    reliability = serializers.SerializerMethodField()

    class Meta(OrganisationOut.Meta):
        fields = [*OrganisationOut.Meta.fields, "reliability"]

    @extend_schema_field(ReliabilityOut)
    def get_reliability(self, organisation: Organisation) -> dict:
        return reliability_of(organisation.pk).as_dict()


class OrganisationUpdateIn(OrganisationDetailsIn):
    def validate(self, attrs):
        # Say so, rather than silently ignore an attempt to change what only the operator decides.
        sent = self.initial_data if isinstance(self.initial_data, dict) else {}
        fixed = sorted(field for field in READ_ONLY_FIELDS if field in sent)
        if fixed:
            raise serializers.ValidationError(
                {field: [_("This field cannot be changed.")] for field in fixed}
            )
        return attrs


class OrganisationListView(ListAPIView):
    serializer_class = OrganisationOut

    def get_queryset(self):
        return selectors.organisations_visible_to(actor=actor_of(self.request))

    @extend_schema(
        operation_id="organisations_list",
        summary="Your organisations (every organisation, for the operator)",
    )
    def get(self, request):
        return self.list(request)


class OrganisationDetailView(APIView):
    @extend_schema(
        operation_id="organisations_retrieve",
        summary="An organisation, with how it kept its word on claims",
        responses=OrganisationDetailOut,
    )
    def get(self, request, organisation_id: int):
        organisation = selectors.organisation_get(actor=actor_of(request), organisation_id=organisation_id)
        return Response(OrganisationDetailOut(organisation).data)

    @extend_schema(
        operation_id="organisations_update",
        summary="Edit your organisation (administrators)",
        description=(
            "The kind and the verification cannot be changed. Once the organisation is verified, only the "
            "operator changes its SIRET or RNA number (403 `verified_identity`)."
        ),
        request=OrganisationUpdateIn,
        responses={200: OrganisationOut},
    )
    def patch(self, request, organisation_id: int):
        actor = actor_of(request)
        selectors.organisation_get(actor=actor, organisation_id=organisation_id)
        data = validated(OrganisationUpdateIn, request, partial=True)
        organisation = services.organisation_update(actor=actor, organisation_id=organisation_id, **data)
        return Response(OrganisationOut(organisation).data)


class OrganisationVerifyView(APIView):
    @extend_schema(
        operation_id="organisations_verify",
        summary="Verify an organisation (operator)",
        description="Idempotent. Its administrators are told by e-mail, in their preferred language.",
        request=None,
        responses={200: OrganisationOut},
    )
    def post(self, request, organisation_id: int):
        # Members of the organisation learn they may not (403); anyone else that there is nothing (404).
        organisation = services.organisation_verify(actor=actor_of(request), organisation_id=organisation_id)
        return Response(OrganisationOut(organisation).data)


class TaxReceiptDeclareIn(serializers.Serializer):
    evidence = serializers.CharField(
        max_length=2000, help_text="The rescrit fiscal reference, or the legal basis of the status."
    )


class TaxReceiptVerifyIn(serializers.Serializer):
    accepted = serializers.BooleanField(help_text="true: verified; false: refused.")


class TaxReceiptDeclareView(APIView):
    @extend_schema(
        operation_id="organisations_tax_receipts_declare",
        summary="Declare that your association may issue tax receipts (administrators)",
        description=(
            "An association of general interest declares its status with the evidence (a rescrit fiscal "
            "reference, the legal basis); `tax_receipts.status` is `declared` again, whatever it was, "
            "until the operator decides. Administrators only (members 403, others 404); an organisation "
            "that is not an association is a 409 `not_an_association`; a blank `evidence` a 400."
        ),
        request=TaxReceiptDeclareIn,
        responses={200: OrganisationOut},
    )
    def post(self, request, organisation_id: int):
        data = validated(TaxReceiptDeclareIn, request)
        organisation = services.tax_receipt_status_declare(
            actor=actor_of(request), organisation=organisation_id, evidence=data["evidence"]
        )
        return Response(OrganisationOut(organisation).data)


class TaxReceiptVerifyView(APIView):
    @extend_schema(
        operation_id="organisations_tax_receipts_verify",
        summary="Verify or refuse an association's right to issue tax receipts (operator)",
        description=(
            "`accepted` true makes the status `verified` (the association may issue receipts), false "
            "`refused`; the operator may revise its decision. 409 `nothing_declared` when the association "
            "declared nothing. The operator only: the organisation's members 403 `operator_only`, "
            "anyone else 404."
        ),
        request=TaxReceiptVerifyIn,
        responses={200: OrganisationOut},
    )
    def post(self, request, organisation_id: int):
        data = validated(TaxReceiptVerifyIn, request)
        organisation = services.tax_receipt_status_verify(
            actor=actor_of(request), organisation=organisation_id, accepted=data["accepted"]
        )
        return Response(OrganisationOut(organisation).data)


INVITATION_STATUSES = ["pending", "accepted", "expired"]


class InvitationOut(serializers.ModelSerializer):
    status = serializers.SerializerMethodField()

    class Meta:
        model = Invitation
        fields = [
            "id",
            "organisation",
            "email",
            "role",
            "status",
            "invited_by",
            "created_at",
            "expires_at",
            "accepted_at",
        ]

    @extend_schema_field(serializers.ChoiceField(choices=INVITATION_STATUSES))
    def get_status(self, invitation: Invitation) -> str:
        if invitation.accepted_at is not None:
            return "accepted"
        return "expired" if invitation.expires_at <= timezone.now() else "pending"


class InvitationCreateIn(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    role = serializers.ChoiceField(choices=MembershipRole.choices, default=MembershipRole.MEMBER)


class InvitationListView(ListAPIView):
    serializer_class = InvitationOut
    queryset = Invitation.objects.none()  # for the schema generator; get_queryset scopes the real one

    def get_queryset(self):
        return selectors.invitations_of(
            actor=actor_of(self.request), organisation_id=self.kwargs["organisation_id"]
        )

    @extend_schema(operation_id="organisations_invitations_list", summary="Invitations (administrators)")
    def get(self, request, organisation_id: int):
        return self.list(request)

    @extend_schema(
        operation_id="organisations_invitations_create",
        summary="Invite someone by e-mail (administrators)",
        description="The code is e-mailed to the invited address and valid 7 days; it is never shown here.",
        request=InvitationCreateIn,
        responses={201: InvitationOut},
    )
    def post(self, request, organisation_id: int):
        actor = actor_of(request)
        selectors.organisation_get(actor=actor, organisation_id=organisation_id)
        data = validated(InvitationCreateIn, request)
        invitation = services.invitation_create(actor=actor, organisation_id=organisation_id, **data)
        return created(request, InvitationOut(invitation).data)  # no route of its own


urlpatterns = [
    path("organisations/", OrganisationListView.as_view(), name="organisations"),
    path(
        "organisations/<int:organisation_id>/", OrganisationDetailView.as_view(), name="organisation-detail"
    ),
    path(
        "organisations/<int:organisation_id>/verify/",
        OrganisationVerifyView.as_view(),
        name="organisation-verify",
    ),
    path(
        "organisations/<int:organisation_id>/tax-receipts/declare/",
        TaxReceiptDeclareView.as_view(),
        name="organisation-tax-receipts-declare",
    ),
    path(
        "organisations/<int:organisation_id>/tax-receipts/verify/",
        TaxReceiptVerifyView.as_view(),
        name="organisation-tax-receipts-verify",
    ),
    path(
        "organisations/<int:organisation_id>/invitations/",
        InvitationListView.as_view(),
        name="organisation-invitations",
    ),
]

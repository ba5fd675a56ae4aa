"""The catalogue: `GET categories/`, the category tree with units, typical masses and CO2e factors.

Public reference data: anonymous callers may read it (a token, if sent, must still be valid)."""

from __future__ import annotations

from django.urls import path
from django.utils.cache import patch_vary_headers
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from inventory import selectors
from inventory.models import Category, FactorBasis, FactorStatus, Unit
from inventory.plausibility import RANGE_BASIS_CHOICES, plausible_mass_range

from ..inputs import validated_query


class CategoryFactorOut(serializers.Serializer):
    version = serializers.CharField(source="factor.version.code", help_text="Factor version, e.g. 2026.1.")
    basis = serializers.ChoiceField(
        source="factor.basis",
        choices=FactorBasis.choices,
        help_text="per_kg: per kg reused; per_item: per piece.",
    )
    kgco2e = serializers.DecimalField(
        source="factor.kgco2e",
        max_digits=12,
        decimal_places=4,
        coerce_to_string=False,
        help_text="kg CO2e avoided per kg or per item reused.",
    )
    source = serializers.CharField(source="factor.source")  # type: ignore[assignment]  # a declared field, not Field.source
    status = serializers.ChoiceField(
        source="factor.status",
        choices=FactorStatus.choices,
        help_text="`indicative` values are not yet checked against the official dataset.",
    )
    inherited_from = serializers.CharField(
        allow_null=True,
        help_text="Key of the category the factor is defined on, when it is not this one (an ancestor, or "
        "the fallback `mixed_household_reuse`); null for the category's own factor.",
    )


class PlausibleMassOut(serializers.Serializer):
    min_kg = serializers.DecimalField(max_digits=12, decimal_places=3, coerce_to_string=False)
    max_kg = serializers.DecimalField(max_digits=12, decimal_places=3, coerce_to_string=False)
    basis = serializers.ChoiceField(
        choices=RANGE_BASIS_CHOICES,
        help_text="category: set by the operator; typical: a quarter to four times the typical mass; unit: "
        "the physical bounds of the unit.",
    )


class CategoryOut(serializers.ModelSerializer):
    name = serializers.CharField(help_text="In the request's language (Accept-Language: fr, default, or en).")
    default_unit = serializers.ChoiceField(choices=Unit.choices)
    typical_mass_kg = serializers.DecimalField(
        max_digits=12, decimal_places=3, coerce_to_string=False, allow_null=True
    )
    factor = serializers.SerializerMethodField()
    plausible_mass_per_unit = serializers.SerializerMethodField(
        help_text="What one unit of the default unit may weigh: a declared mass per unit outside it is "
        "refused, and a weighed mass far from it needs confirming. Null for kg and t."
    )

    class Meta:
        model = Category
        fields = [
            "id",
            "key",
            "path",
            "name",
            "name_fr",
            "name_en",
            "default_unit",
            "typical_mass_kg",
            "typical_mass_source",
            "list_of_waste_code",
            "plausible_mass_per_unit",
            "factor",
            "children",
        ]

    @extend_schema_field(PlausibleMassOut(allow_null=True))
    def get_plausible_mass_per_unit(self, category: Category) -> dict | None:
        found = plausible_mass_range(category, category.default_unit)
        if found is None:
            return None
        return PlausibleMassOut({"min_kg": found.min_kg, "max_kg": found.max_kg, "basis": found.basis}).data

    @extend_schema_field(CategoryFactorOut(allow_null=True))
    def get_factor(self, category: Category) -> dict | None:
        resolved = category.resolved_factor
        if resolved is None:
            return None
        inherited_from = resolved.category.key if resolved.inherited_by(category) else None
        return CategoryFactorOut({"factor": resolved.factor, "inherited_from": inherited_from}).data


# The tree is recursive: children are categories of the same shape.
CategoryOut._declared_fields["children"] = CategoryOut(many=True, source="tree_children", read_only=True)


class CategoryTreeIn(serializers.Serializer):
    factor_version = serializers.CharField(
        required=False, max_length=32, help_text="Factors of this version instead of the current one."
    )


class CategoryTreeView(APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="categories_tree",
        summary="The category catalogue, as a tree",
        description=(
            "Every active category with its children, its default unit, typical mass per unit (with its "
            "source, where one gives it), European List of Waste code and the CO2e factor of the current "
            "factor version (or of `factor_version`), resolved up the tree. Not paginated. Public."
        ),
        parameters=[
            CategoryTreeIn,
            OpenApiParameter(
                "Accept-Language",
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                # No enum: an HTTP language preference, not a parameter a value outside a list breaks.
                description="Language of `name`: `en` for English; French otherwise (the default).",
            ),
        ],
        responses={200: CategoryOut(many=True)},
    )
    def get(self, request):
        params = validated_query(CategoryTreeIn, request)
        roots = selectors.categories_tree(version=params.get("factor_version"))
        response = Response(CategoryOut(roots, many=True).data)
        patch_vary_headers(response, ["Accept-Language"])
        return response


urlpatterns = [
    path("categories/", CategoryTreeView.as_view(), name="categories"),
]

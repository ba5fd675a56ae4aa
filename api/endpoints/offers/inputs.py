"""What offer requests carry: one offer's fields, the list's query, the bulk envelope and its items, a
photo."""

from __future__ import annotations

from decimal import Decimal
from typing import cast

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.fields import empty

from core.errors import NotFound
from exchange import bulk
from exchange.models import OfferCondition, OfferMode, OfferStatus, ValuationBasis
from inventory.models import Category, Unit

from ...errors import problem_of
from ...fields import QUANTITY, BoundedDateTimeField
from ...inputs import data_validator


class OfferFieldsIn(serializers.Serializer):
    site = serializers.IntegerField(min_value=1, help_text="An active site of the offering organisation.")
    category = serializers.IntegerField(min_value=1, help_text="A category id (see GET categories/).")
    title = serializers.CharField(max_length=200)
    description = serializers.CharField(max_length=5000, allow_blank=True)
    quantity = serializers.DecimalField(**QUANTITY, min_value=Decimal("0.001"))
    unit = serializers.ChoiceField(choices=Unit.choices)
    mass_per_unit_kg = serializers.DecimalField(
        **QUANTITY,
        min_value=Decimal("0.001"),
        allow_null=True,
        help_text="Mass of one unit. Implied for kg (1) and t (1000): leave it out, or send that value.",
    )
    condition = serializers.ChoiceField(choices=OfferCondition.choices)
    mode = serializers.ChoiceField(choices=OfferMode.choices)
    price_eur = serializers.DecimalField(
        max_digits=10,
        decimal_places=2,
        min_value=Decimal("0"),
        allow_null=True,
        help_text="Required for a sale, absent otherwise.",
    )
    available_from = BoundedDateTimeField(help_text="Default: now.")
    available_until = BoundedDateTimeField(
        allow_null=True, help_text="After available_from; in the future to publish. The offer expires then."
    )
    pickup_instructions = serializers.CharField(max_length=2000, allow_blank=True)
    external_ref = serializers.CharField(
        max_length=100,
        allow_blank=True,
        help_text="Your own reference, held by at most one live offer (draft, published, exhausted) of "
        "your organisation; an ended offer keeps it as history and frees it.",
    )
    auto_accept_claims = serializers.BooleanField()
    unit_value_eur = serializers.DecimalField(
        max_digits=12,
        decimal_places=2,
        allow_null=True,
        help_text="A donation's value of one unit for a tax receipt, above zero: your stock value or cost "
        "price, never a sale price. With `valuation_basis`; seen only by your organisation and the operator.",
    )
    valuation_basis = serializers.ChoiceField(
        choices=ValuationBasis.choices,
        allow_blank=True,
        help_text="How `unit_value_eur` was found; blank (with a null value) when there is none.",
    )
    near_use_by = serializers.BooleanField(
        help_text="Food close to its use-by date (valued at half by the tax doctrine): recorded, not applied."
    )


class OfferCreateIn(OfferFieldsIn):
    organisation = serializers.IntegerField(
        required=False, help_text="The offering organisation; optional when you belong to only one."
    )
    publish = serializers.BooleanField(
        default=False, help_text="Publish at once (the organisation must be verified)."
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        optional = {
            "description": "",
            "mass_per_unit_kg": None,
            "mode": OfferMode.DONATION,
            "price_eur": None,
            "available_until": None,
            "pickup_instructions": "",
            "external_ref": "",
            "auto_accept_claims": False,
            "unit_value_eur": None,
            "valuation_basis": "",
            "near_use_by": False,
        }
        for name, default in optional.items():
            self.fields[name].required = False
            self.fields[name].default = default
        self.fields["available_from"].required = False


class OfferUpdateIn(OfferFieldsIn):
    """Any subset of the fields. Site, category, unit and mode cannot change once published."""


class OfferListQuery(serializers.Serializer):
    status = serializers.ChoiceField(choices=OfferStatus.choices, required=False)
    category = serializers.IntegerField(
        min_value=1,
        required=False,
        help_text="A category id, its descendants included; 404 when none has it.",
    )
    site = serializers.IntegerField(min_value=1, required=False)
    organisation = serializers.IntegerField(min_value=1, required=False)
    external_ref = serializers.CharField(max_length=100, required=False)
    updated_since = BoundedDateTimeField(
        required=False, help_text="Only offers changed strictly after this instant."
    )

    def validate_category(self, value: int) -> Category:
        category = Category.objects.filter(pk=value).first()
        if category is None:
            # What the list is asked for names nothing: 404, as everywhere a read names something absent.
            raise NotFound(str(_("No such category.")))
        return category


BULK_ITEM_STATUSES = [(target.value, target.label) for target in bulk.TARGET_STATUSES]


def _bulk_status_field() -> serializers.ChoiceField:
    return serializers.ChoiceField(
        choices=BULK_ITEM_STATUSES,
        required=False,
        help_text="published: publish it too (a draft after its changes). withdrawn: withdraw it after "
        "its changes; nothing happens when no live offer holds the reference.",
    )


def _keyed_by_reference(serializer: serializers.Serializer) -> None:
    """An item of a batch names its offer by `external_ref`: required, not blank."""
    field = cast(serializers.CharField, serializer.fields["external_ref"])
    field.required, field.allow_blank = True, False
    field.default = empty  # type: ignore[assignment]  # DRF's "no default" sentinel
    field.help_text = "Your own reference: the key of the item (your live offer holding it, else a new one)."


class OfferBulkCreateItemIn(OfferCreateIn):
    """An item that creates an offer: the fields of POST offers/ (the organisation is the batch's)."""

    # A field set to None is removed from the subclass (DRF); the stubs see a type change.
    organisation = None  # type: ignore[assignment]
    publish = None  # type: ignore[assignment]
    status = _bulk_status_field()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _keyed_by_reference(self)


class OfferBulkUpdateItemIn(OfferUpdateIn):
    """An item that changes the live offer holding its reference: any subset of the fields of PATCH."""

    status = _bulk_status_field()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _keyed_by_reference(self)


class OfferBulkItemIn(OfferBulkCreateItemIn):
    """One offer of a batch. When no live offer of yours holds `external_ref`, the item creates one, and
    the fields required by POST offers/ are required; otherwise it is a change (any subset, as PATCH).
    Each item is validated on its own: what this schema or a rule refuses is that item's `error`."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, field in self.fields.items():
            field.required = name == "external_ref"


class OfferBulkIn(serializers.Serializer):
    """Up to 1,000 offers, each keyed by your own `external_ref`."""

    organisation = serializers.IntegerField(
        required=False, help_text="The offering organisation; optional when you belong to only one."
    )
    items = serializers.ListField(child=OfferBulkItemIn(), min_length=1, max_length=bulk.MAX_ITEMS)


class OfferBulkEnvelopeIn(serializers.Serializer):
    """The batch as read: the items are checked later, each on its own (_bulk_item_validator)."""

    organisation = serializers.IntegerField(required=False)
    items = serializers.ListField(child=serializers.DictField(), min_length=1, max_length=bulk.MAX_ITEMS)


class OfferBulkResultOut(serializers.Serializer):
    index = serializers.IntegerField(help_text="The item's position in `items`, from 0.")
    external_ref = serializers.CharField(allow_null=True, help_text="Null when the item had none.")
    result = serializers.ChoiceField(choices=[bulk.CREATED, bulk.UPDATED, bulk.UNCHANGED, bulk.ERROR])
    offer = serializers.IntegerField(
        source="offer_id",
        allow_null=True,
        help_text="The offer created or changed (for an error: the live offer the item would have "
        "changed); null when there is none.",
    )
    error = serializers.SerializerMethodField(
        help_text="For `error`: the problem the item alone would have been answered with (its `status`, "
        "`code`, `detail` and field `errors`, as POST offers/ or PATCH offers/{id}/ answer); else null."
    )

    @extend_schema_field({"oneOf": [{"$ref": "#/components/schemas/Problem"}, {"type": "null"}]})
    def get_error(self, result: bulk.UpsertResult) -> dict | None:
        return None if result.error is None else problem_of(result.error)


class OfferBulkOut(serializers.Serializer):
    results = OfferBulkResultOut(many=True, help_text="One per item, in the order of `items`.")
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    errors = serializers.IntegerField()  # type: ignore[assignment]  # the body's key; shadows Serializer.errors


def _bulk_item_validator(request):
    """Each item checked on its own, as POST offers/ (creating) or PATCH offers/{id}/ would check it; one
    serializer of each kind serves the whole batch (api.inputs.data_validator)."""
    context = {"request": request}
    validators = {
        True: data_validator(OfferBulkCreateItemIn, context=context),
        False: data_validator(OfferBulkUpdateItemIn, context=context, partial=True),
    }

    def validate(item, creating: bool) -> dict:
        try:
            return validators[creating](item)
        except serializers.ValidationError as refusal:
            raise bulk.ItemRefused(refusal) from refusal

    return validate


class OfferPhotoIn(serializers.Serializer):
    image = serializers.FileField(help_text="JPEG, PNG or WebP, at most BOUCLE_MAX_PHOTO_BYTES (4 MiB).")

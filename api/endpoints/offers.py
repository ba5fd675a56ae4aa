"""Offers: a firm's lots of surplus. Members and API keys of companies and public authorities create,
edit, publish, withdraw and close them; everyone authenticated reads offers that have been public, with
an approximate location unless they own the offer or hold a claim on it that reveals the place (see
claims/selectors.py)."""

from __future__ import annotations

from decimal import Decimal

from django.http import FileResponse
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.fields import empty
from rest_framework.generics import GenericAPIView, ListAPIView
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from claims.selectors import offers_shown_exactly
from core.errors import NotFound
from exchange import bulk, selectors, services
from exchange.models import Offer, OfferCondition, OfferMode, OfferPhoto, OfferStatus
from exchange.photos import PhotoRejected
from exchange.rules import offer_mass_for
from inventory.models import Category, Unit
from organisations.models import OrganisationKind

from ..actors import actor_of
from ..conditional import (
    ETAG_HEADER,
    IF_MATCH_PARAMETER,
    PRECONDITION_FAILED_RESPONSE,
    if_match_versions,
    with_etag,
)
from ..created import created
from ..errors import problem_of, problem_response
from ..fields import POINT_SCHEMA, QUANTITY, BoundedDateTimeField, GeoJSONPointField
from ..idempotency import idempotent
from ..inputs import data_validator, validated, validated_query
from ..pagination import SyncCursorPage

DECIMAL_OUT_SCHEMA = {
    "type": ["string", "null"],
    "format": "decimal",
    "pattern": r"^-?\d{0,11}(?:\.\d{0,3})?$",
}


# ---- output -------------------------------------------------------------------------------------


class OfferOrganisationOut(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    kind = serializers.ChoiceField(choices=OrganisationKind.choices)


class OfferCategoryOut(serializers.Serializer):
    id = serializers.IntegerField()
    key = serializers.CharField()
    path = serializers.CharField()
    name = serializers.CharField()


class OfferSiteOut(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    address = serializers.CharField()


class OfferContactOut(serializers.Serializer):
    email = serializers.CharField(source="organisation.email", help_text="Empty when none was given.")
    phone = serializers.CharField(source="organisation.phone")
    website = serializers.CharField(source="organisation.website")


class OfferPhotoOut(serializers.Serializer):
    id = serializers.IntegerField()
    url = serializers.SerializerMethodField(help_text="Where the bytes are served (authenticated).")
    content_type = serializers.CharField()
    width = serializers.IntegerField(allow_null=True)
    height = serializers.IntegerField(allow_null=True)
    size_bytes = serializers.IntegerField()
    created_at = serializers.DateTimeField()

    @extend_schema_field(OpenApiTypes.URI)
    def get_url(self, photo: OfferPhoto) -> str:
        url = reverse("api:offer-photo", kwargs={"offer_id": photo.offer_id, "photo_id": photo.pk})
        request = self.context.get("request")
        return request.build_absolute_uri(url) if request else url


class OfferOut(serializers.Serializer):
    """An offer. `site`, `contact`, `pickup_instructions` and `external_ref` are null, and `location` is
    approximate, unless the caller owns the offer or holds a claim on it that reveals the place (the
    claim's `location_revealed_at` has come; `external_ref` stays the owner's)."""

    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=OfferStatus.choices)
    organisation = OfferOrganisationOut()
    category = OfferCategoryOut()
    title = serializers.CharField()
    description = serializers.CharField()
    quantity = serializers.DecimalField(**QUANTITY)
    unit = serializers.ChoiceField(choices=Unit.choices)
    remaining_quantity = serializers.DecimalField(
        **QUANTITY, help_text="Not yet reserved by an accepted claim nor collected."
    )
    reserved_quantity = serializers.DecimalField(
        **QUANTITY, help_text="Held by accepted claims not yet collected."
    )
    collected_quantity = serializers.DecimalField(
        **QUANTITY,
        help_text="Handed over (for a loan: out on loan now). quantity = remaining_quantity + "
        "reserved_quantity + collected_quantity, always.",
    )
    mass_per_unit_kg = serializers.DecimalField(
        **QUANTITY, allow_null=True, help_text="Declared by the donor; 1 for kg and 1000 for t."
    )
    total_mass_kg = serializers.SerializerMethodField(
        help_text="quantity × mass per unit; else the category's typical mass × quantity (then "
        "`total_mass_is_estimated`); null when neither is known."
    )
    total_mass_is_estimated = serializers.SerializerMethodField()
    condition = serializers.ChoiceField(choices=OfferCondition.choices)
    mode = serializers.ChoiceField(choices=OfferMode.choices)
    price_eur = serializers.DecimalField(max_digits=10, decimal_places=2, allow_null=True)
    available_from = serializers.DateTimeField()
    available_until = serializers.DateTimeField(allow_null=True)
    auto_accept_claims = serializers.BooleanField()
    location = serializers.SerializerMethodField()
    location_is_approximate = serializers.SerializerMethodField(
        help_text="True: the centre of a ~550 m grid cell around the site, the same on every request."
    )
    site = serializers.SerializerMethodField()
    contact = serializers.SerializerMethodField(help_text="The donor's contact.")
    pickup_instructions = serializers.SerializerMethodField()
    external_ref = serializers.SerializerMethodField(help_text="The donor's own reference.")
    photos = OfferPhotoOut(many=True)
    published_at = serializers.DateTimeField(allow_null=True)
    closed_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def _exact(self, offer: Offer) -> bool:
        return offer.pk in self.context["exact_ids"]

    @extend_schema_field(DECIMAL_OUT_SCHEMA)
    def get_total_mass_kg(self, offer: Offer) -> str | None:
        mass = offer_mass_for(offer, offer.quantity).mass_kg
        return None if mass is None else str(mass)

    @extend_schema_field(OpenApiTypes.BOOL)
    def get_total_mass_is_estimated(self, offer: Offer) -> bool:
        return offer_mass_for(offer, offer.quantity).is_estimated

    @extend_schema_field(POINT_SCHEMA)
    def get_location(self, offer: Offer) -> dict:
        point = offer.location if self._exact(offer) else offer.public_location
        return GeoJSONPointField().to_representation(point)

    @extend_schema_field(OpenApiTypes.BOOL)
    def get_location_is_approximate(self, offer: Offer) -> bool:
        return not self._exact(offer)

    @extend_schema_field(OfferSiteOut(allow_null=True))
    def get_site(self, offer: Offer) -> dict | None:
        return OfferSiteOut(offer.site).data if self._exact(offer) else None

    @extend_schema_field(OfferContactOut(allow_null=True))
    def get_contact(self, offer: Offer) -> dict | None:
        return OfferContactOut(offer).data if self._exact(offer) else None

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_pickup_instructions(self, offer: Offer) -> str | None:
        return offer.pickup_instructions if self._exact(offer) else None

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_external_ref(self, offer: Offer) -> str | None:
        return offer.external_ref if offer.organisation_id in self.context["actor"].organisation_ids else None


def offer_out(request, offers: Offer | list[Offer]) -> dict | list:
    actor = actor_of(request)
    many = isinstance(offers, list)
    items = offers if many else [offers]
    exact_ids = offers_shown_exactly(actor=actor, offers=items)
    context = {"request": request, "actor": actor, "exact_ids": exact_ids}
    return OfferOut(offers, many=many, context=context).data


# ---- input --------------------------------------------------------------------------------------


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
            raise NotFound(_("No such category."))
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
    field = serializer.fields["external_ref"]
    field.required, field.default, field.allow_blank = True, empty, False
    field.help_text = "Your own reference: the key of the item (your live offer holding it, else a new one)."


class OfferBulkCreateItemIn(OfferCreateIn):
    """An item that creates an offer: the fields of POST offers/ (the organisation is the batch's)."""

    organisation = None
    publish = None
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
    errors = serializers.IntegerField()


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


# ---- views --------------------------------------------------------------------------------------


class OfferListView(ListAPIView):
    serializer_class = OfferOut
    pagination_class = SyncCursorPage
    filter_backends: list = []

    def get_queryset(self):
        filters = validated_query(OfferListQuery, self.request)
        return selectors.offers_of_organisations(actor=actor_of(self.request), filters=filters)

    @extend_schema(
        operation_id="offers_list",
        summary="Your organisations' offers",
        description=(
            "Every offer of your organisations (all offers for the operator), oldest change first: "
            "store the last `updated_at` and pass it as `updated_since`, or follow `next`, to sync. "
            "`external_ref` finds at most one live offer (draft, published, exhausted) and the ended ones "
            "that held the reference before, in that same order (oldest change first): add "
            "`status=` or read `status` to tell the live one."
        ),
        parameters=[OfferListQuery],
    )
    def get(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(offer_out(request, list(page)))

    @extend_schema(
        operation_id="offers_create",
        summary="Post an offer",
        description=(
            "Companies and public authorities only (403 `organisation_kind_cannot_offer`). Created as a "
            "draft, or published when `publish` is true (403 `organisation_not_verified` if your "
            "organisation is not verified yet). A site or category that is unknown, retired or another "
            "organisation's is a 400 `validation_error` on that field. An `external_ref` one of your live "
            "offers (draft, published, exhausted) already holds is a 409 `external_ref_taken` naming that "
            "`offer_id`; the reference of an offer that ended (closed, withdrawn, expired) is free again, "
            "and the ended offer keeps it as history. Pieces and pallets count in whole "
            "numbers; a declared `mass_per_unit_kg` outside the category's plausible range is refused "
            "(400 `validation_error` on that field, naming the range)."
        ),
        request=OfferCreateIn,
        responses={201: OfferOut},
    )
    @idempotent
    def post(self, request):
        data = validated(OfferCreateIn, request)
        offer = services.offer_create(
            actor=actor_of(request), organisation_id=data.pop("organisation", None), **data
        )
        offer = selectors.offer_get(actor=actor_of(request), offer_id=offer.pk)
        return created(request, offer_out(request, offer), "offer-detail", offer_id=offer.pk)


class OfferBulkView(APIView):
    @extend_schema(
        operation_id="offers_bulk",
        summary="Create or update many offers by your references",
        description=(
            "Up to 1,000 offers keyed by your `external_ref`, for an integration syncing its stock. Who may: "
            "as for POST offers/. Each item, in order: when none of your live offers (draft, published, "
            "exhausted) holds its reference, it creates one (`created`; the fields of POST offers/); "
            "otherwise it changes that offer (`updated`, or `unchanged` when nothing differs; the fields "
            "of PATCH offers/{id}/). `status` in an item publishes it (`published`) or withdraws it "
            "(`withdrawn`) in the same step. An offer that ended (closed, withdrawn, expired) keeps its "
            "reference as history, and an item with that reference creates a new offer: that is how a "
            "withdrawn SKU comes back. Each item is validated and applied on its own, all or nothing for "
            "that item: an item the schema or a rule refuses (field errors, 409 "
            "`quantity_below_reserved` when the quantity would drop below what claims reserve and "
            "handovers collected, `offer_status_conflict`, a reference repeated in the batch...) is "
            "`error` with the problem it would have had alone, and the others still apply; the answer "
            "is then 200. Only the batch itself is refused: 400 when `items` is not a list of 1 to 1,000 "
            "objects, and as POST offers/ for who acts for which organisation. Another organisation's "
            "references are never read nor touched. Send an `Idempotency-Key` to retry safely: the "
            "first answer is replayed."
        ),
        request=OfferBulkIn,
        responses={200: OfferBulkOut},
    )
    @idempotent
    def post(self, request):
        data = validated(OfferBulkEnvelopeIn, request)
        results = bulk.offers_upsert(
            actor=actor_of(request),
            organisation_id=data.get("organisation"),
            items=data["items"],
            validate=_bulk_item_validator(request),
        )
        counts = {outcome: 0 for outcome in (bulk.CREATED, bulk.UPDATED, bulk.UNCHANGED, bulk.ERROR)}
        for result in results:
            counts[result.result] += 1
        body = {
            "results": results,
            "created": counts[bulk.CREATED],
            "updated": counts[bulk.UPDATED],
            "unchanged": counts[bulk.UNCHANGED],
            "errors": counts[bulk.ERROR],
        }
        return Response(OfferBulkOut(body).data)


class OfferDetailView(GenericAPIView):
    serializer_class = OfferOut

    @extend_schema(
        operation_id="offers_retrieve",
        summary="An offer",
        description=(
            "With its version in `ETag` (strong, opaque, the same for every reader; it changes whenever "
            "the offer changes, as `updated_at` does): send it in `If-Match` on PATCH."
        ),
        parameters=[ETAG_HEADER],
    )
    def get(self, request, offer_id: int):
        offer = selectors.offer_get(actor=actor_of(request), offer_id=offer_id)
        return with_etag(Response(offer_out(request, offer)), selectors.offer_version(offer))

    @extend_schema(
        operation_id="offers_update",
        summary="Edit an offer",
        description=(
            "Draft, published or exhausted offers (409 `offer_status_conflict` otherwise). Site, category, "
            "unit and mode are fixed once published (400 on those fields). The quantity cannot drop "
            "below what accepted claims reserve and handovers collected: 409 `quantity_below_reserved` with "
            "`reserved_quantity` and `collected_quantity`. Pieces and pallets count in whole numbers; a "
            "declared mass per unit outside the category's plausible range is refused (400, naming the "
            "range). With `If-Match`, the change applies only if the offer's current ETag is one of those "
            "given (checked under the row lock, so two editors cannot both win): 412 "
            "`precondition_failed` otherwise, and nothing changes. The answer carries the new `ETag`."
        ),
        request=OfferUpdateIn,
        parameters=[IF_MATCH_PARAMETER, ETAG_HEADER],
        responses={200: OfferOut, 412: PRECONDITION_FAILED_RESPONSE},
    )
    def patch(self, request, offer_id: int):
        actor = actor_of(request)
        offer = selectors.offer_get(actor=actor, offer_id=offer_id)
        data = validated(OfferUpdateIn, request, partial=True)
        services.offer_update(actor=actor, offer=offer, expected_versions=if_match_versions(request), **data)
        offer = selectors.offer_get(actor=actor, offer_id=offer_id)
        return with_etag(Response(offer_out(request, offer)), selectors.offer_version(offer))


class _OfferTransitionView(APIView):
    """POST with no body: one service moves the offer to its next status."""

    def transition(self, request, offer_id: int, service) -> Response:
        actor = actor_of(request)
        offer = selectors.offer_get(actor=actor, offer_id=offer_id)
        service(actor=actor, offer=offer)
        return Response(offer_out(request, selectors.offer_get(actor=actor, offer_id=offer_id)))


class OfferPublishView(_OfferTransitionView):
    @extend_schema(
        operation_id="offers_publish",
        summary="Publish a draft",
        description=(
            "Verified organisations only (403 `organisation_not_verified`). 409 `offer_window_over` when "
            "`available_until` has passed, `site_retired` when the site was retired, "
            "`offer_status_conflict` when the offer is not a draft. Records `offer.published`, which "
            "alerts the needs it matches."
        ),
        request=None,
        responses={200: OfferOut},
    )
    @idempotent
    def post(self, request, offer_id: int):
        return self.transition(request, offer_id, services.offer_publish)


class OfferWithdrawView(_OfferTransitionView):
    @extend_schema(
        operation_id="offers_withdraw",
        summary="Withdraw an offer",
        description=(
            "A draft or published offer that no accepted claim holds part of (409 "
            "`offer_has_reservations` with `reserved_quantity` otherwise: close it instead). Other "
            "organisations no longer see it."
        ),
        request=None,
        responses={200: OfferOut},
    )
    @idempotent
    def post(self, request, offer_id: int):
        return self.transition(request, offer_id, services.offer_withdraw)


class OfferCloseView(_OfferTransitionView):
    @extend_schema(
        operation_id="offers_close",
        summary="Close an offer",
        description="No new claims on a published or exhausted offer; accepted claims stay collectable.",
        request=None,
        responses={200: OfferOut},
    )
    @idempotent
    def post(self, request, offer_id: int):
        return self.transition(request, offer_id, services.offer_close)


PHOTO_STATUS = {"too_large": 413, "not_an_image": 400, "unsupported_type": 415}
IMAGE_RESPONSES = {
    (200, content_type): OpenApiResponse(OpenApiTypes.BINARY, description="The photo's bytes.")
    for content_type in ("image/jpeg", "image/png", "image/webp")
}


class OfferPhotoListView(APIView):
    parser_classes = [MultiPartParser]

    @extend_schema(
        operation_id="offers_photos_create",
        summary="Add a photo",
        description=(
            "multipart/form-data with the file in `image`. The type is read from the bytes: JPEG, PNG "
            "or WebP (415 `unsupported_image_type`; 400 `not_an_image`); at most BOUCLE_MAX_PHOTO_BYTES "
            "(413 `photo_too_large`), at most 60 million pixels (413 `photo_too_large`); at most 8 "
            "photos per offer (409 `too_many_photos`). The photo is stored re-encoded from its pixels "
            "alone: turned upright by its EXIF orientation, colours converted to sRGB, and without any "
            "metadata (no EXIF, GPS position, XMP, IPTC, ICC profile, comment or PNG text); an animated "
            "image keeps its first frame. `size_bytes`, `width` and `height` describe the stored photo."
        ),
        request={"multipart/form-data": OfferPhotoIn},
        responses={201: OfferPhotoOut},
    )
    @idempotent
    def post(self, request, offer_id: int):
        actor = actor_of(request)
        offer = selectors.offer_get(actor=actor, offer_id=offer_id)
        data = validated(OfferPhotoIn, request)
        try:
            photo = services.offer_photo_add(actor=actor, offer=offer, image=data["image"])
        except PhotoRejected as exc:
            return problem_response(
                request,
                PHOTO_STATUS[exc.reason],
                exc.code,
                exc.message,
                errors=[{"field": "image", "code": exc.code, "message": exc.message}],
                extra=exc.extra,
            )
        data = OfferPhotoOut(photo, context={"request": request}).data
        return created(request, data, "offer-photo", offer_id=offer.pk, photo_id=photo.pk)


class OfferPhotoDetailView(APIView):
    def perform_content_negotiation(self, request, force=False):
        # The bytes go out whatever the client accepts (an <img> asks for image/*).
        return super().perform_content_negotiation(request, force=True)

    @extend_schema(
        operation_id="offers_photos_retrieve", summary="A photo's bytes", responses=IMAGE_RESPONSES
    )
    def get(self, request, offer_id: int, photo_id: int):
        photo = selectors.offer_photo_get(actor=actor_of(request), offer_id=offer_id, photo_id=photo_id)
        response = FileResponse(photo.image.open("rb"), content_type=photo.content_type)
        response["Cache-Control"] = "private, max-age=86400"
        return response

    @extend_schema(operation_id="offers_photos_destroy", summary="Remove a photo", responses={204: None})
    def delete(self, request, offer_id: int, photo_id: int):
        actor = actor_of(request)
        offer = selectors.offer_get(actor=actor, offer_id=offer_id)
        services.offer_photo_delete(actor=actor, offer=offer, photo_id=photo_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


urlpatterns = [
    path("offers/", OfferListView.as_view(), name="offers"),
    path("offers/bulk/", OfferBulkView.as_view(), name="offers-bulk"),
    path("offers/<int:offer_id>/", OfferDetailView.as_view(), name="offer-detail"),
    path("offers/<int:offer_id>/publish/", OfferPublishView.as_view(), name="offer-publish"),
    path("offers/<int:offer_id>/withdraw/", OfferWithdrawView.as_view(), name="offer-withdraw"),
    path("offers/<int:offer_id>/close/", OfferCloseView.as_view(), name="offer-close"),
    path("offers/<int:offer_id>/photos/", OfferPhotoListView.as_view(), name="offer-photos"),
    path("offers/<int:offer_id>/photos/<int:photo_id>/", OfferPhotoDetailView.as_view(), name="offer-photo"),
]

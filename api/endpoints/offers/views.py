"""The offer routes: list, bulk, detail, the status transitions and photos."""

from __future__ import annotations

from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView, ListAPIView
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from exchange import bulk, selectors, services
from exchange.photos import PhotoRejected

from ...actors import actor_of
from ...conditional import (
    ETAG_HEADER,
    IF_MATCH_PARAMETER,
    PRECONDITION_FAILED_RESPONSE,
    if_match_versions,
    with_etag,
)
from ...created import created
from ...errors import problem_response
from ...idempotency import idempotent
from ...inputs import validated, validated_query
from ...pagination import SyncCursorPage
from .inputs import (
    OfferBulkEnvelopeIn,
    OfferBulkIn,
    OfferBulkOut,
    OfferCreateIn,
    OfferListQuery,
    OfferPhotoIn,
    OfferUpdateIn,
    _bulk_item_validator,
)
from .output import (
    OfferOut,
    OfferPhotoOut,
    offer_out,
)


class OfferListView(ListAPIView):
    serializer_class = OfferOut
    pagination_class = SyncCursorPage

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

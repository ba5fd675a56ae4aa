"""Offers: a firm's lots of surplus. Members and API keys of companies and public authorities create,
edit, publish, withdraw and close them; everyone authenticated reads offers that have been public, with
an approximate location unless they own the offer or hold a claim on it that reveals the place (see
claims/selectors/reveal.py)."""

from __future__ import annotations

from django.urls import path

from .inputs import (
    BULK_ITEM_STATUSES,
    OfferBulkCreateItemIn,
    OfferBulkEnvelopeIn,
    OfferBulkIn,
    OfferBulkItemIn,
    OfferBulkOut,
    OfferBulkResultOut,
    OfferBulkUpdateItemIn,
    OfferCreateIn,
    OfferFieldsIn,
    OfferListQuery,
    OfferPhotoIn,
    OfferUpdateIn,
)
from .output import (
    DECIMAL_OUT_SCHEMA,
    OfferCategoryOut,
    OfferContactOut,
    OfferOrganisationOut,
    OfferOut,
    OfferPhotoOut,
    OfferSiteOut,
    offer_out,
)
from .views import (
    IMAGE_RESPONSES,
    PHOTO_STATUS,
    OfferBulkView,
    OfferCloseView,
    OfferDetailView,
    OfferListView,
    OfferPhotoDetailView,
    OfferPhotoListView,
    OfferPublishView,
    OfferWithdrawView,
)

__all__ = [
    "BULK_ITEM_STATUSES",
    "DECIMAL_OUT_SCHEMA",
    "IMAGE_RESPONSES",
    "OfferBulkCreateItemIn",
    "OfferBulkEnvelopeIn",
    "OfferBulkIn",
    "OfferBulkItemIn",
    "OfferBulkOut",
    "OfferBulkResultOut",
    "OfferBulkUpdateItemIn",
    "OfferBulkView",
    "OfferCategoryOut",
    "OfferCloseView",
    "OfferContactOut",
    "OfferCreateIn",
    "OfferDetailView",
    "OfferFieldsIn",
    "OfferListQuery",
    "OfferListView",
    "OfferOrganisationOut",
    "OfferOut",
    "OfferPhotoDetailView",
    "OfferPhotoIn",
    "OfferPhotoListView",
    "OfferPhotoOut",
    "OfferPublishView",
    "OfferSiteOut",
    "OfferUpdateIn",
    "OfferWithdrawView",
    "PHOTO_STATUS",
    "offer_out",
    "urlpatterns",
]

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

"""Tax receipts for gifts in kind over HTTP (receipts/): the list and issue (`receipts/`), a receipt, its
PDF and its cancellation, and the yearly totals (`receipts/totals/`, JSON or CSV).

- `inputs`: what the requests carry; `output`: how a receipt and the totals read; `views`: the routes."""

from __future__ import annotations

from django.urls import path

from .views import (
    ReceiptCancelView,
    ReceiptDetailView,
    ReceiptListView,
    ReceiptPdfView,
    ReceiptTotalsView,
)

urlpatterns = [
    path("receipts/", ReceiptListView.as_view(), name="receipts"),
    path("receipts/totals/", ReceiptTotalsView.as_view(), name="receipt-totals"),
    path("receipts/<int:receipt_id>/", ReceiptDetailView.as_view(), name="receipt-detail"),
    path("receipts/<int:receipt_id>/pdf/", ReceiptPdfView.as_view(), name="receipt-pdf"),
    path("receipts/<int:receipt_id>/cancel/", ReceiptCancelView.as_view(), name="receipt-cancel"),
]

__all__ = [
    "ReceiptCancelView",
    "ReceiptDetailView",
    "ReceiptListView",
    "ReceiptPdfView",
    "ReceiptTotalsView",
    "urlpatterns",
]

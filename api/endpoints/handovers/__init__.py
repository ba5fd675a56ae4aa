"""The handover ledger: rows visible to the caller (its organisations as donor or recipient; every row
for the operator), as paginated JSON or streamed CSV; confirm, dispute and reverse a row; what the
collected lot became (`outcome/`, the recipient's report).

Rows are append-only: a correction is a new reversing row (negative quantity, mass and CO2e) that
points at the row it reverses (`reverses`), dated with the same collection time, then, when the true
figure is known, a corrected row that points at the reversed one (`corrects`). A disputed row is settled
by the parties' proposals (`proposals/`) or by the operator (admin)."""

from __future__ import annotations

from django.urls import path

from .export import HANDOVER_COLUMNS, handover_record
from .outcome import HandoverOutcomeView, OutcomeIn, OutcomeOut
from .output import HandoverOut, HandoverProposalOut
from .views import (
    HandoverConfirmView,
    HandoverDetailView,
    HandoverDisputeView,
    HandoverListQuery,
    HandoverListView,
    HandoverProposalView,
    HandoverReverseView,
)

__all__ = [
    "HANDOVER_COLUMNS",
    "HandoverConfirmView",
    "HandoverDetailView",
    "HandoverDisputeView",
    "HandoverListQuery",
    "HandoverListView",
    "HandoverOutcomeView",
    "HandoverOut",
    "HandoverProposalOut",
    "HandoverProposalView",
    "HandoverReverseView",
    "OutcomeIn",
    "OutcomeOut",
    "handover_record",
    "urlpatterns",
]

urlpatterns = [
    path("handovers/", HandoverListView.as_view(), name="handovers"),
    path("handovers/<int:handover_id>/", HandoverDetailView.as_view(), name="handover-detail"),
    path("handovers/<int:handover_id>/confirm/", HandoverConfirmView.as_view(), name="handover-confirm"),
    path("handovers/<int:handover_id>/dispute/", HandoverDisputeView.as_view(), name="handover-dispute"),
    path("handovers/<int:handover_id>/reverse/", HandoverReverseView.as_view(), name="handover-reverse"),
    path("handovers/<int:handover_id>/proposals/", HandoverProposalView.as_view(), name="handover-proposals"),
    path("handovers/<int:handover_id>/outcome/", HandoverOutcomeView.as_view(), name="handover-outcome"),
]

"""Claims: a verified association or project reserves part or all of a published offer; the donor
accepts or declines (or the offer accepts by itself); either side cancels before pickup; a party records
the handover. Only the two parties (and the operator) see a claim; others read it as absent (404)."""

from __future__ import annotations

from django.urls import path

from .inputs import (
    ClaimAcceptIn,
    ClaimCloseIn,
    ClaimCreateIn,
    ClaimListQuery,
    ClaimReturnIn,
    HandoverCreateIn,
)
from .output import (
    ClaimLoanOut,
    ClaimOfferOut,
    ClaimOut,
    ClaimPartyOut,
    ClaimPickupOut,
    PickupContactOut,
    PickupSiteOut,
    ReliabilityOut,
    claim_out,
)
from .views import (
    ClaimAcceptView,
    ClaimCancelView,
    ClaimDeclineView,
    ClaimDetailView,
    ClaimHandoverView,
    ClaimListView,
    ClaimReturnView,
)

__all__ = [
    "ClaimAcceptIn",
    "ClaimAcceptView",
    "ClaimCancelView",
    "ClaimCloseIn",
    "ClaimCreateIn",
    "ClaimDeclineView",
    "ClaimDetailView",
    "ClaimHandoverView",
    "ClaimListQuery",
    "ClaimListView",
    "ClaimLoanOut",
    "ClaimOfferOut",
    "ClaimOut",
    "ClaimPartyOut",
    "ClaimPickupOut",
    "ClaimReturnIn",
    "ClaimReturnView",
    "HandoverCreateIn",
    "PickupContactOut",
    "PickupSiteOut",
    "ReliabilityOut",
    "claim_out",
    "urlpatterns",
]

urlpatterns = [
    path("claims/", ClaimListView.as_view(), name="claims"),
    path("claims/<int:claim_id>/", ClaimDetailView.as_view(), name="claim-detail"),
    path("claims/<int:claim_id>/accept/", ClaimAcceptView.as_view(), name="claim-accept"),
    path("claims/<int:claim_id>/decline/", ClaimDeclineView.as_view(), name="claim-decline"),
    path("claims/<int:claim_id>/cancel/", ClaimCancelView.as_view(), name="claim-cancel"),
    path("claims/<int:claim_id>/handover/", ClaimHandoverView.as_view(), name="claim-handover"),
    path("claims/<int:claim_id>/return/", ClaimReturnView.as_view(), name="claim-return"),
]

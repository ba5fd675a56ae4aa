"""Matches: live offers ranked for one of your needs (computed on request), and the matches recorded when
offers were published (what the alerts announced)."""

from __future__ import annotations

from django.urls import path
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from exchange.models import OfferStatus
from matching import selectors
from matching.selectors import RankedOffer

from ..actors import actor_of
from ..fields import GeoJSONPointField
from ..inputs import validated_query
from ..shapes import OfferPlainOut

MAX_MATCH_LIMIT = 100


class MatchScorePartsOut(serializers.Serializer):
    distance = serializers.FloatField(help_text="1 at the need's point, 0 at the edge of its radius.")
    category = serializers.FloatField(help_text="1 for the category named; halves per level below it.")
    quantity = serializers.FloatField(
        help_text="Share of the wanted quantity covered; 0.5 when not comparable."
    )
    urgency = serializers.FloatField(
        help_text="Rises to 1 as the offer's availability ends (14-day horizon)."
    )
    freshness = serializers.FloatField(help_text="Halves every week since publication.")


class MatchOfferCategoryOut(serializers.Serializer):
    id = serializers.IntegerField()
    key = serializers.CharField()
    path = serializers.CharField()
    name = serializers.CharField()


class MatchOfferOrganisationOut(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class MatchOfferOut(OfferPlainOut):
    """An offer as a recipient sees it: its plain fields (the read shape, api/shapes.py); its location
    is the approximate public point."""

    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=OfferStatus.choices)
    category = MatchOfferCategoryOut()
    published_at = serializers.DateTimeField(allow_null=True)
    organisation = MatchOfferOrganisationOut()
    location = GeoJSONPointField(
        source="public_location", help_text="Approximate (centre of a ~550 m cell), stable across requests."
    )


class NeedMatchOut(serializers.Serializer):
    offer = MatchOfferOut()
    distance_m = serializers.SerializerMethodField(
        help_text="From the need's point to the offer's approximate public point, metres."
    )
    score = serializers.FloatField(source="score.total", help_text="Weighted sum of the parts, in [0, 1].")
    parts = MatchScorePartsOut(source="score.parts")

    @extend_schema_field(serializers.FloatField())
    def get_distance_m(self, ranked: RankedOffer) -> float:
        return round(ranked.distance_m, 1)


class NeedMatchesOut(serializers.Serializer):
    count = serializers.IntegerField(help_text="Number of results (at most `limit`).")
    results = NeedMatchOut(many=True)


class NeedMatchesQuery(serializers.Serializer):
    limit = serializers.IntegerField(required=False, default=20, min_value=1, max_value=MAX_MATCH_LIMIT)


class NeedMatchesView(APIView):
    @extend_schema(
        operation_id="needs_matches",
        summary="Live offers for one of your needs, best first",
        description=(
            "Published offers with something left, whose approximate public point lies within the need's "
            "radius, in the need's categories or below them, from other organisations; ranked by score "
            "(ties: nearest first)."
        ),
        parameters=[NeedMatchesQuery],
        responses=NeedMatchesOut,
    )
    def get(self, request, need_id: int):
        actor = actor_of(request)
        query = validated_query(NeedMatchesQuery, request)
        need = selectors.need_get(actor=actor, need_id=need_id)
        ranked = selectors.live_offers_for_need(actor=actor, need=need, limit=query["limit"])
        return Response(NeedMatchesOut({"count": len(ranked), "results": ranked}).data)


class MatchNeedOut(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()


class MatchOut(serializers.Serializer):
    id = serializers.IntegerField()
    need = MatchNeedOut()
    offer = MatchOfferOut()
    score = serializers.FloatField(help_text="Score when the match was recorded, in [0, 1].")
    parts = MatchScorePartsOut()
    distance_m = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    notified_at = serializers.DateTimeField(
        allow_null=True, help_text="When the alert or digest told the organisation."
    )


class MatchListQuery(serializers.Serializer):
    need = serializers.IntegerField(required=False, min_value=1, help_text="Only the matches of this need.")


class MatchListView(ListAPIView):
    serializer_class = MatchOut

    def get_queryset(self):
        query = validated_query(MatchListQuery, self.request)
        return selectors.matches_visible_to(actor=actor_of(self.request), need_id=query.get("need"))

    @extend_schema(
        operation_id="matches_list",
        summary="Matches recorded for your organisations' needs, newest first",
        parameters=[MatchListQuery],
    )
    def get(self, request):
        return self.list(request)


urlpatterns = [
    path("needs/<int:need_id>/matches/", NeedMatchesView.as_view(), name="need-matches"),
    path("matches/", MatchListView.as_view(), name="matches"),
]

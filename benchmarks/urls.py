"""The project's routes, plus the framework floor of the search: `bench/search-floor/` goes through
exactly the search's request path (the same view class: authentication, permission, throttling, content
negotiation, the query's validation, rendering) but answers a body built once, by the real search, on
its first request. What remains between it and `offers/search/` is the query and the serialization of
the hits: the bench measures both in the same run and compares."""

from __future__ import annotations

from django.urls import path
from rest_framework.response import Response

from api.endpoints.search import OfferSearchIn, OfferSearchView
from api.inputs import validated_query
from config.urls import urlpatterns as project_urlpatterns

_BODIES: dict[str, object] = {}


class SearchFloorView(OfferSearchView):
    def get(self, request):
        validated_query(OfferSearchIn, request)
        key = request.get_full_path()
        if key not in _BODIES:
            _BODIES[key] = super().get(request).data  # the real answer, once
        return Response(_BODIES[key])


urlpatterns = [path("bench/search-floor/", SearchFloorView.as_view()), *project_urlpatterns]

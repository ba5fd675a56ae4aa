from django.urls import include, path

from .endpoints import (
    api_keys,
    auth,
    catalogue,
    claims,
    handovers,
    impact,
    imports,
    matches,
    me,
    needs,
    offers,
    organisations,
    receipts,
    search,
    sites,
    stats,
    territories,
    webhooks,
)

app_name = "api"

urlpatterns = [
    path("", include(search.urlpatterns)),  # offers/search/ before any offers/<id>/ route
    path("", include(sites.urlpatterns)),
    path("", include(auth.urlpatterns)),
    path("", include(me.urlpatterns)),
    path("", include(organisations.urlpatterns)),
    path("", include(api_keys.urlpatterns)),
    path("", include(catalogue.urlpatterns)),
    path("", include(territories.urlpatterns)),
    path("", include(offers.urlpatterns)),
    path("", include(imports.urlpatterns)),
    path("", include(needs.urlpatterns)),
    path("", include(matches.urlpatterns)),
    path("", include(claims.urlpatterns)),
    path("", include(handovers.urlpatterns)),
    path("", include(receipts.urlpatterns)),
    path("", include(stats.urlpatterns)),
    path("", include(impact.urlpatterns)),
    path("", include(webhooks.urlpatterns)),
]

from django.urls import include, path

from .endpoints import sites

app_name = "api"

urlpatterns = [
    path("", include(sites.urlpatterns)),
]

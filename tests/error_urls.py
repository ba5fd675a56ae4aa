"""A URLconf for tests/test_error_pages.py: the project's routes plus views that crash, one under the API,
one plain Django view, one among the dashboard's pages (namespace of app `web`). Importable by a fresh
process with the production settings, so it imports nothing from pytest."""

from django.urls import include, path
from rest_framework.permissions import AllowAny
from rest_framework.views import APIView

from config.urls import handler400, handler403, handler404, handler500
from config.urls import urlpatterns as project_urlpatterns

SECRET_IN_EXCEPTION = "s3cr3t-password-4711"


def crash(request):
    raise RuntimeError(f"database password is {SECRET_IN_EXCEPTION}")


class ApiCrash(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]

    def get(self, request):
        crash(request)


urlpatterns = [
    *project_urlpatterns,
    path("api/v1/test/crash/", ApiCrash.as_view()),
    path("api/v1/test/plain-crash/", crash),
    # app_name "web" as the dashboard's pages; its own instance name keeps reverse("web:…") on the real ones.
    path("dashboard/test/", include(([path("crash/", crash)], "web"), namespace="web-test")),
]
__all__ = ["handler400", "handler403", "handler404", "handler500", "urlpatterns"]

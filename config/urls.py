from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from api.endpoints.health import HealthView


class SchemaView(SpectacularAPIView):
    # Writing the document costs about a second of CPU and anyone may ask: a budget of its own per
    # caller, on top of the others (api.throttling).
    throttle_scope = "schema"


urlpatterns = [
    path("api/v1/", include("api.urls")),
    path("api/schema/", SchemaView.as_view(), name="schema"),
    # The split view serves Swagger UI's init script as a file (?script): no inline script, so the
    # Content-Security-Policy can stay script-src 'self'.
    path(
        "api/docs/",
        SpectacularSwaggerSplitView.as_view(url_name="schema", template_name="api/swagger_ui.html"),
        name="docs",
    ),
    path("admin/", admin.site.urls),
    path("dashboard/", include("web.urls")),
    path("healthz", HealthView.as_view(), name="healthz"),
]

if settings.DEBUG:
    from django.conf.urls.static import static

    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)

handler400 = "api.errors.handler400"
handler403 = "api.errors.handler403"
handler404 = "api.errors.handler404"
# A crash on a page for people (dashboard, admin) gets a page, elsewhere the problem.
handler500 = "web.errors.handler500"

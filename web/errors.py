"""The last-resort answer to a crash (config.urls handler500), in the form the asker reads: api.errors
decides the status (500, or 503 with Retry-After for a statement the database cancelled) and answers
the API, /healthz and the rest with its problem; the dashboard and the admin, pages for people, get a
page with that status instead. Neither shows a traceback or the exception; Django has logged it
(django.request)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.template import loader

from api import errors as api_errors

# URL namespaces of the pages for people: web.urls and admin.site.urls.
PAGE_APPS = ("web", "admin")


def handler500(request: HttpRequest) -> HttpResponse:
    problem = api_errors.handler500(request)
    match = getattr(request, "resolver_match", None)
    if match is None or match.app_name not in PAGE_APPS:
        return problem
    # No request context: the session, the user or the database may be what failed.
    page = HttpResponse(loader.render_to_string("web/server_error.html"), status=problem.status_code)
    if "Retry-After" in problem:
        page["Retry-After"] = problem["Retry-After"]
    return page

from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext as _

from .errors import PROBLEM_CONTENT_TYPE, PROBLEM_ONLY_PREFIXES, handler404, problem_response


class RequestSizeLimitMiddleware:
    """Refuses a body larger than BOUCLE_MAX_REQUEST_BYTES before anything reads it (413).

    Django only checks DATA_UPLOAD_MAX_MEMORY_SIZE when `request.body` is read; DRF's parsers read the
    stream, so the limit is enforced here, once, for JSON and uploads alike. This runs before
    LocaleMiddleware, so the answer is translated here from the request's own Accept-Language (the
    thread may still hold the language of a previous request)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
            if length < 0:
                raise ValueError(length)
        except ValueError:
            with translation.override(translation.get_language_from_request(request)):
                return problem_response(request, 400, "bad_request", _("Invalid Content-Length header."))
        if length > settings.BOUCLE_MAX_REQUEST_BYTES:
            with translation.override(translation.get_language_from_request(request)):
                return problem_response(
                    request,
                    413,
                    "request_too_large",
                    _("The request body is larger than this API accepts."),
                    extra={"max_bytes": settings.BOUCLE_MAX_REQUEST_BYTES},
                )
        return self.get_response(request)


class ProblemNotFoundMiddleware:
    """An unknown URL under /api/ or /healthz answers the problem 404 whatever DEBUG says.

    With DEBUG on (the development profile), Django answers a URL no pattern matches with its technical
    HTML page and never calls handler404; the API's clients and its contract know only problems. The
    dashboard and the admin keep Django's page there. Placed after LocaleMiddleware, so the problem is
    in the request's language, and before CommonMiddleware, whose slash-appending redirects pass."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (
            response.status_code == 404
            and request.path_info.startswith(PROBLEM_ONLY_PREFIXES)
            and response.get("Content-Type", "").split(";")[0] != PROBLEM_CONTENT_TYPE
        ):
            return handler404(request)
        return response

"""Security headers on every response: a Content-Security-Policy and a Permissions-Policy, which Django 5.2
has no setting for, and X-Frame-Options on the answers no view gave.

It lives in config, not api: it covers the dashboard (web), the admin, the docs and the static files as
much as the API. Django's SecurityMiddleware keeps the headers it has settings for (nosniff,
Referrer-Policy, Cross-Origin-Opener-Policy, HSTS in production).

HTML pages may load scripts, styles, images and fonts from this origin only; no inline script, style
or event handler runs (the templates keep theirs in static files, and the docs use drf-spectacular's
split Swagger UI view, whose init script is a file), no plugin, no <base>, no framing, forms post here
only. Everything else (JSON, CSV, GeoJSON, photos, static files) may load nothing: opened by itself in
a browser, an answer runs nothing and embeds nothing."""

from __future__ import annotations

from django.conf import settings

HTML_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        # Swagger UI and the admin draw some icons from data: URIs in their stylesheets.
        "img-src 'self' data:",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
        "form-action 'self'",
    ]
)
OTHER_POLICY = "default-src 'none'; frame-ancestors 'none'"
# No page of Boucle asks for these; a script that got in cannot either.
PERMISSIONS_POLICY = "camera=(), geolocation=(), microphone=(), payment=(), usb=()"


class SecurityHeadersMiddleware:
    """Placed right after SecurityMiddleware so that answers given by the middleware below it (WhiteNoise's
    static files, the request size limit) get the headers too."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        is_html = response.get("Content-Type", "").split(";")[0].strip().lower() == "text/html"
        response.headers.setdefault("Content-Security-Policy", HTML_POLICY if is_html else OTHER_POLICY)
        response.headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        # XFrameOptionsMiddleware only sees what reached the views.
        if not getattr(response, "xframe_options_exempt", False):
            response.headers.setdefault("X-Frame-Options", settings.X_FRAME_OPTIONS)
        return response

"""The ?lang= switch of the dashboard's pages. Without it, Django's LocaleMiddleware decides (language
cookie, then Accept-Language, then French); with it, the page is in that language and the cookie
remembers the choice for the next pages and the CSV downloads."""

from __future__ import annotations

from functools import wraps
from urllib.parse import urlencode

from django.conf import settings
from django.utils import translation

LANGUAGE_COOKIE_SECONDS = 365 * 24 * 3600


def requested_language(request) -> str | None:
    lang = request.GET.get("lang")
    return lang if lang in dict(settings.LANGUAGES) else None


def with_language_switch(view):
    @wraps(view)
    def wrapped(request, *args, **kwargs):
        lang = requested_language(request)
        if lang:
            # activate, not override: a TemplateResponse renders after the view returns.
            translation.activate(lang)
            request.LANGUAGE_CODE = lang
        response = view(request, *args, **kwargs)
        if lang:
            response.set_cookie(
                settings.LANGUAGE_COOKIE_NAME, lang, max_age=LANGUAGE_COOKIE_SECONDS, samesite="Lax"
            )
        return response

    return wrapped


def language_links(request) -> list[dict]:
    """One link per language to the same page with the same query, `lang` replaced."""
    current = translation.get_language() or settings.LANGUAGE_CODE
    query = [(k, v) for k, v in request.GET.items() if k != "lang"]
    return [
        {
            "code": code,
            "name": translation.get_language_info(code)["name_local"],
            "url": f"{request.path}?{urlencode([*query, ('lang', code)])}",
            "active": current.startswith(code),
        }
        for code, _name in settings.LANGUAGES
    ]

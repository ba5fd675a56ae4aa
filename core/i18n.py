"""The one test of the request's language. Boucle speaks French first: every bilingual value (a
category's name, a factor's label, a CSV header row) is English only when the active language is
English, and French otherwise (no language, or any other one)."""

from __future__ import annotations

from django.utils import translation


def english() -> bool:
    """Whether the active language is English (en, en-gb, ...)."""
    return (translation.get_language() or "fr").startswith("en")


def localized(fr: str, en: str) -> str:
    """`en` when the active language is English, else `fr`."""
    return en if english() else fr

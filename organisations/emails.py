"""Plain-text e-mails, one template per language (templates/emails/<lang>/<name>.txt and
<name>.subject.txt), rendered in the recipient's preferred language."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.utils import translation

LANGUAGES = ("fr", "en")


def render_email(name: str, *, language: str, context: dict[str, Any]) -> tuple[str, str]:
    """(subject, body) of e-mail `name` in `language` (French when the language is unknown)."""
    language = language if language in LANGUAGES else LANGUAGES[0]
    with translation.override(language):
        subject = render_to_string(f"emails/{language}/{name}.subject.txt", context)
        body = render_to_string(f"emails/{language}/{name}.txt", context)
    return " ".join(subject.split()), body


def send_email(name: str, *, to: str, language: str, context: dict[str, Any]) -> None:
    """One e-mail to one person: recipients never see each other's addresses."""
    subject, body = render_email(name, language=language, context=context)
    send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [to], fail_silently=False)


def operator_language() -> str:
    return settings.LANGUAGE_CODE.split("-")[0]

"""What the organisation services share: the field lists, the one shape of a field error, the
after-commit hand-off to tasks, and the checks and saves that turn a lost unique constraint into the
same field error as the check that preceded it."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.db.models import Model
from django.utils.translation import gettext as _

from core.errors import InvalidInput

from ..models import Organisation, User
from ..validators import IdentifierErrors, organisation_identifiers

ORGANISATION_FIELDS = ("name", "siret", "rna", "description", "email", "phone", "website")
LANGUAGES = ("fr", "en")

# Unique constraints the database enforces, and the input field each one is about.
_UNIQUE_FIELDS = {"org_siret_unique": "siret", "org_rna_unique": "rna", "user_email_ci_unique": "email"}


def _invalid(field_errors: dict[str, list[str]]) -> InvalidInput:
    """Business-rule failures on fields read exactly like the serializer's own (one code for clients)."""
    return InvalidInput(
        _("The request has invalid fields."), code="validation_error", field_errors=field_errors
    )


def _after_commit(task: Any, **kwargs: Any) -> None:
    """Enqueue a task once the transaction commits. Robust: a broker outage must not turn a committed
    registration into an error; the daily reminder and re-sent invitations cover a lost message."""
    transaction.on_commit(lambda: task.delay(**kwargs), robust=True)


def _constraint_of(exc: IntegrityError) -> str:
    diag = getattr(exc.__cause__, "diag", None)
    return getattr(diag, "constraint_name", None) or ""


def _unique_field_of(exc: IntegrityError) -> str | None:
    name = _constraint_of(exc)
    if name in _UNIQUE_FIELDS:
        return _UNIQUE_FIELDS[name]
    return "email" if "email" in name else None


def _duplicate_message(field: str) -> str:
    return {
        "email": _("An account already exists for this e-mail address."),
        "siret": _(
            "An organisation with this SIRET is already registered; ask its administrator to invite you."
        ),
        "rna": _(
            "An association with this RNA number is already registered; ask its administrator to invite you."
        ),
    }[field]


def _password_errors(password: str, user: User) -> list[str]:
    try:
        validate_password(password, user=user)
    except DjangoValidationError as exc:
        return list(exc.messages)
    return []


def _identifier_errors(
    *, kind: str, siret: str, rna: str, exclude_id: int | None = None
) -> tuple[tuple[str, str], dict[str, list[str]]]:
    """((siret, rna) normalised, field errors) — format per kind, then uniqueness."""
    try:
        clean_siret, clean_rna = organisation_identifiers(kind=kind, siret=siret, rna=rna)
    except IdentifierErrors as exc:
        return (siret, rna), exc.errors
    errors: dict[str, list[str]] = {}
    others = Organisation.objects.exclude(pk=exclude_id) if exclude_id else Organisation.objects.all()
    if clean_siret and others.filter(siret=clean_siret).exists():
        errors["siret"] = [_duplicate_message("siret")]
    if clean_rna and others.filter(rna=clean_rna).exists():
        errors["rna"] = [_duplicate_message("rna")]
    return (clean_siret, clean_rna), errors


def _save_or_field_error(obj: Model, *, prefix: str = "") -> None:
    """Save; a unique constraint lost to a concurrent request becomes the same field error as the
    check that preceded it."""
    try:
        with transaction.atomic():
            obj.save()
    except IntegrityError as exc:
        field = _unique_field_of(exc)
        if field is None:
            raise
        raise _invalid({f"{prefix}{field}": [_duplicate_message(field)]}) from exc


def _user_new(
    *,
    email: str,
    password: str | None,
    first_name: str,
    last_name: str,
    preferred_language: str,
    is_active: bool = True,
) -> User:
    user = User(
        email=User.objects.normalize_email(email).lower(),
        first_name=first_name,
        last_name=last_name,
        preferred_language=preferred_language if preferred_language in LANGUAGES else "fr",
        is_active=is_active,
    )
    if password:
        user.set_password(password)
    else:
        user.set_unusable_password()
    _save_or_field_error(user)
    return user

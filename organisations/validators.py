"""French organisation identifiers: SIRET (INSEE) and RNA (répertoire national des associations).

Pure functions, no database: services, admin forms and commands share them."""

from __future__ import annotations

import re

from django.utils.translation import gettext as _

from .models import OrganisationKind

# La Poste's establishments share one SIREN and their SIRETs do not follow Luhn: INSEE checks them by
# "the sum of the 14 digits is a multiple of 5" instead (the head office, 356 000 000 00048, passes both).
LA_POSTE_SIREN = "356000000"

_SEPARATORS = re.compile(r"[\s.\-]")
_RNA = re.compile(r"^W[0-9]{9}$")


class IdentifierError(ValueError):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class IdentifierErrors(ValueError):
    """Several identifier problems at once, keyed by field name ("siret", "rna")."""

    def __init__(self, errors: dict[str, list[str]]):
        super().__init__("; ".join(m for messages in errors.values() for m in messages))
        self.errors = errors


def luhn_valid(digits: str) -> bool:
    """Luhn (mod 10) check over a string of digits."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def validate_siret(value: str) -> str:
    """The SIRET without spaces, dots or dashes; raises IdentifierError when it cannot be one."""
    siret = _SEPARATORS.sub("", value or "")
    if not re.fullmatch(r"[0-9]{14}", siret):
        raise IdentifierError(_("A SIRET is 14 digits (e.g. 732 829 320 00074)."))
    if siret.startswith(LA_POSTE_SIREN):
        if luhn_valid(siret) or sum(int(c) for c in siret) % 5 == 0:
            return siret
        raise IdentifierError(_("This SIRET fails its check digit; check for a typing error."))
    if not luhn_valid(siret[:9]):
        raise IdentifierError(_("The SIREN part (first 9 digits) fails its check digit."))
    if not luhn_valid(siret):
        raise IdentifierError(_("This SIRET fails its check digit; check for a typing error."))
    return siret


def validate_rna(value: str) -> str:
    """The RNA number in canonical form (upper-case W + 9 digits); raises IdentifierError otherwise."""
    rna = _SEPARATORS.sub("", value or "").upper()
    if not _RNA.fullmatch(rna):
        raise IdentifierError(_("An RNA number is the letter W followed by 9 digits (e.g. W595012345)."))
    return rna


def organisation_identifiers(*, kind: str, siret: str = "", rna: str = "") -> tuple[str, str]:
    """Normalised (siret, rna) for an organisation of this kind, or IdentifierErrors by field.

    A company carries a SIRET; an association an RNA number or a SIRET; projects, public authorities
    and operators may give either or none. Whatever is given must be well-formed."""
    errors: dict[str, list[str]] = {}
    clean = {"siret": "", "rna": ""}
    for field, raw, validator in (("siret", siret, validate_siret), ("rna", rna, validate_rna)):
        if raw and raw.strip():
            try:
                clean[field] = validator(raw)
            except IdentifierError as exc:
                errors[field] = [exc.message]
    if kind == OrganisationKind.COMPANY and not (siret and siret.strip()) and "siret" not in errors:
        errors["siret"] = [_("A company must give its SIRET.")]
    if kind == OrganisationKind.ASSOCIATION and not errors and not (clean["siret"] or clean["rna"]):
        errors["rna"] = [_("An association must give its RNA number or its SIRET.")]
    if errors:
        raise IdentifierErrors(errors)
    return clean["siret"], clean["rna"]

"""What an import may fill and how much it may hold: the target fields, the bounds, the refusal."""

from __future__ import annotations

import inspect
from typing import Any

from django.utils.translation import gettext as _

from core.errors import InvalidInput

from .. import bulk, services
from ..models import (
    OfferCondition,
    OfferMode,
)
from ..rules import EDITABLE_FIELDS

# What a column (or a default) may fill: the fields of an offer, and the status an upsert item may ask.
TARGET_FIELDS = (*EDITABLE_FIELDS, "status")
KEY_FIELD = "external_ref"
# The fields an offer cannot be created without: offer_create's own required arguments.
REQUIRED_TO_CREATE = tuple(
    name
    for name, parameter in inspect.signature(services.offer_create).parameters.items()
    if parameter.kind is inspect.Parameter.KEYWORD_ONLY
    and parameter.default is inspect.Parameter.empty
    and name != "actor"
)
CHOICES = {
    "condition": OfferCondition.values,
    "mode": OfferMode.values,
    "status": [target.value for target in bulk.TARGET_STATUSES],
}
MAX_COLUMNS = 500
MAX_HEADER_LENGTH = 200
# Row errors kept on the import (all are counted in error_count): enough to fix a file, bounded.
MAX_STORED_ERRORS = 1000
# An XLSX is a zip: what it may inflate to, against decompression bombs.
MAX_INFLATION = 20
TRUE_WORDS = frozenset({"true", "1", "yes", "y", "oui", "o", "vrai", "x"})
FALSE_WORDS = frozenset({"false", "0", "no", "n", "non", "faux"})
# The field a row's conflict is about, for the spreadsheet user who has to find the cell.
CONFLICT_FIELDS = {
    "quantity_below_reserved": "quantity",
    "external_ref_taken": "external_ref",
    "offer_status_conflict": "status",
    "offer_has_reservations": "status",
    "organisation_not_verified": "status",
    "offer_window_over": "available_until",
    "site_retired": "site",
}


class ImportRejected(InvalidInput):
    """The file cannot be imported at all. `reason`: too_large, unsupported_type or invalid (the HTTP
    layer answers 413, 415 and 400)."""

    def __init__(self, message: str, *, reason: str = "invalid", field: str = "file", **kwargs: Any):
        super().__init__(message, field_errors={field: [message]}, **kwargs)
        self.reason = reason


def _invalid(field_errors: dict[str, list[str]]) -> InvalidInput:
    return InvalidInput(
        _("The request has invalid fields."), code="validation_error", field_errors=field_errors
    )


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()

"""State changes of organisations, sign-ups, memberships, sites, API keys, passwords and sessions. One
function per change, in a transaction, called alike by views, the admin, commands and tasks.

- `sites`: an organisation's places (a move is announced by `organisations.signals.site_moved`).
- `registration`: sign-ups, their confirmation and the pruning of those left unconfirmed.
- `organisations`: organisations created, edited, verified and provisioned; a person's own profile.
- `members`: invitations, memberships and API keys.
- `sessions`: refresh tokens and their revocation, logout, passwords and their resets.
- `tax_receipts`: an association's right to issue tax receipts, declared and verified.
- `_common`: the helpers they share (field errors, after-commit tasks, identifier checks).
"""

from __future__ import annotations

from ._common import LANGUAGES, ORGANISATION_FIELDS, _save_or_field_error
from .members import (
    API_KEY_LABEL,
    INVITATION_LIFETIME,
    api_key_create,
    api_key_revoke,
    invitation_accept,
    invitation_create,
    membership_remove,
)
from .organisations import (
    organisation_create,
    organisation_provision,
    organisation_update,
    organisation_verify,
    user_update,
)
from .registration import organisation_register, registration_confirm, registrations_prune
from .sessions import (
    REVOCATION_REASONS,
    SessionRefused,
    flush_expired_tokens,
    password_reset_confirm,
    password_reset_request,
    refresh_token_use,
    session_logout,
    user_change_password,
    user_revoke_tokens,
)
from .sites import SITE_FIELDS, site_create, site_delete, site_update
from .tax_receipts import tax_receipt_status_declare, tax_receipt_status_verify

__all__ = [
    "API_KEY_LABEL",
    "INVITATION_LIFETIME",
    "LANGUAGES",
    "ORGANISATION_FIELDS",
    "REVOCATION_REASONS",
    "SITE_FIELDS",
    "SessionRefused",
    "_save_or_field_error",  # tests/test_auth.py imports it
    "api_key_create",
    "api_key_revoke",
    "flush_expired_tokens",
    "invitation_accept",
    "invitation_create",
    "membership_remove",
    "organisation_create",
    "organisation_provision",
    "organisation_register",
    "organisation_update",
    "organisation_verify",
    "password_reset_confirm",
    "password_reset_request",
    "refresh_token_use",
    "registration_confirm",
    "registrations_prune",
    "session_logout",
    "site_create",
    "site_delete",
    "site_update",
    "tax_receipt_status_declare",
    "tax_receipt_status_verify",
    "user_change_password",
    "user_revoke_tokens",
    "user_update",
]

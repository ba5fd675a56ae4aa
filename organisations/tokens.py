"""Secrets handed to people or systems (invitation and sign-up confirmation codes, API keys) are stored
as their SHA-256 only. They carry 256 random bits, so a fast hash is enough. API-key authentication
(api.authentication) looks keys up by this hash too, and records refresh tokens by theirs."""

from __future__ import annotations

import hashlib


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()

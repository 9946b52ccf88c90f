"""Secrets out of what the console shows: a step's request and answer, audit details.

Pure: a copy of the value with the value of every key that names a secret (password,
token, authorization, api key, client secret, ...) replaced by ``REDACTED``, and bearer
or basic credentials inside strings masked.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

REDACTED = "***"
# a key is secret when, lower-cased with - and space as _, it contains one of these
_SECRET_PARTS = (
    "password",
    "passwd",
    "secret",
    "token",
    "authorization",
    "api_key",
    "apikey",
    "private_key",
    "cookie",
    "signature",
    "credential",
    "session",
)
_IN_TEXT = re.compile(r"(?i)\b(bearer|basic|token)\s+[A-Za-z0-9._~+/=\-]{8,}")
_URL_PASSWORD = re.compile(r"(?i)(\b[a-z][a-z0-9+.\-]*://[^/\s:@]+:)[^@\s/]+@")


def is_secret_key(key: str) -> bool:
    norm = key.lower().replace("-", "_").replace(" ", "_")
    return any(part in norm for part in _SECRET_PARTS)


def redact_text(text: str) -> str:
    """Mask credentials written inline: ``Bearer x``, ``user:password@`` in URLs."""
    text = _IN_TEXT.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    return _URL_PASSWORD.sub(lambda m: f"{m.group(1)}{REDACTED}@", text)


def redact(value: Any) -> Any:
    """``value`` with secrets masked, at any depth (dicts, lists, strings)."""
    if isinstance(value, Mapping):
        return {
            str(k): (REDACTED if is_secret_key(str(k)) and v not in (None, "") else redact(v))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    if isinstance(value, str):
        return redact_text(value)
    return value


def restore_redacted(edited: Any, original: Any) -> Any:
    """``edited`` with each ``REDACTED`` left where ``original`` had a secret put back:
    an operator edits the redacted input; the secrets they could not see are kept."""
    if isinstance(edited, dict) and isinstance(original, Mapping):
        return {
            k: (
                original[k]
                if v == REDACTED and k in original and is_secret_key(str(k))
                else restore_redacted(v, original.get(k))
            )
            for k, v in edited.items()
        }
    if isinstance(edited, list) and isinstance(original, list):
        return [
            restore_redacted(v, original[i] if i < len(original) else None)
            for i, v in enumerate(edited)
        ]
    return edited

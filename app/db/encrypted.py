"""Column types that store values encrypted by the keyring (``revflow.security.keyring``).

- ``SecretText``: always encrypted (stored secrets, TOTP seeds); writing one without
  a keyring fails.
- ``PayloadJSON`` / ``PayloadText``: order payloads kept for retries and audit;
  encrypted when ``REVFLOW_KEYRING__ENCRYPT_PAYLOADS`` is on, as ``{"$enc": token}``
  and a bare token.  Reading tells by the value's shape, so rows written before the
  setting changed stay readable either way.

The process's keyring is set once by ``configure`` (the service and CLI do, from the
settings).  ``revflow secrets rotate-key`` finds every column of these types, and any
column declared with ``info={"encrypted": True}`` holding tokens, by ``encrypted_columns``.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import JSON, Column, MetaData, Text
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from revflow.security.keyring import Keyring, KeyringError, is_token

ENVELOPE = "$enc"


class _State:
    keyring: Keyring | None = None
    encrypt_payloads: bool = False


_state = _State()


def configure(keyring: Keyring | None, *, encrypt_payloads: bool = False) -> None:
    """Set the keyring this process encrypts and decrypts with."""
    if encrypt_payloads and keyring is None:
        raise KeyringError("encrypt_payloads needs a keyring")
    _state.keyring, _state.encrypt_payloads = keyring, encrypt_payloads


def current_keyring() -> Keyring:
    if _state.keyring is None:
        raise KeyringError(
            "an encrypted value needs the keyring: set REVFLOW_KEYRING__KEYS "
            "or REVFLOW_KEYRING__KEYS_FILE"
        )
    return _state.keyring


def is_envelope(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get(ENVELOPE), str)


class SecretText(TypeDecorator[str]):
    """Text stored as a keyring token, always."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else current_keyring().encrypt(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else current_keyring().decrypt(value)


class PayloadText(TypeDecorator[str]):
    """Text encrypted when payload encryption is on."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        if value is None or not _state.encrypt_payloads:
            return value
        return current_keyring().encrypt(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        if value is not None and is_token(value):
            return current_keyring().decrypt(value)
        return value


class PayloadJSON(TypeDecorator[Any]):
    """JSON encrypted (as ``{"$enc": token}``) when payload encryption is on."""

    impl = JSON
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None or not _state.encrypt_payloads:
            return value
        return {ENVELOPE: current_keyring().encrypt(json.dumps(value))}

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if is_envelope(value):
            return json.loads(current_keyring().decrypt(value[ENVELOPE]))
        return value


def encrypted_columns(metadata: MetaData) -> list[Column[Any]]:
    """Every column that may hold keyring tokens, table by table."""
    kinds = (SecretText, PayloadText, PayloadJSON)
    return [
        col
        for table in metadata.sorted_tables
        for col in table.columns
        if isinstance(col.type, kinds) or col.info.get("encrypted")
    ]

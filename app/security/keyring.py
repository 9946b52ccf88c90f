"""Encryption of what Revflow stores: envelope encryption with Fernet keys.

Every value gets a fresh data key (a Fernet key of its own); the value is encrypted
with it, and the data key is wrapped by the keyring's key-encryption keys
(``MultiFernet``: the first key encrypts, every key decrypts).  A token reads

    rf1.<key id>.<wrapped data key>.<ciphertext>

where ``key id`` is a short fingerprint of the key that wrapped the data key, so a
rotation can tell which tokens are current without decrypting them.  Rotating a token
re-wraps its data key under the newest key and leaves the ciphertext as it is.

Keys come from ``REVFLOW_KEYRING__KEYS`` (Fernet keys separated by commas or
whitespace, newest first) or ``REVFLOW_KEYRING__KEYS_FILE`` (one key a line, newest
first, ``#`` comments).  To rotate: put a new key first, keep the old ones after it,
restart, run ``revflow secrets rotate-key``, then drop the old keys.
"""

from __future__ import annotations

import binascii
import hashlib
from pathlib import Path
from typing import Protocol

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from pydantic import BaseModel, ConfigDict, SecretStr, model_validator

PREFIX = "rf1"
KEYS_ENV = "REVFLOW_KEYRING__KEYS"
KEYS_FILE_ENV = "REVFLOW_KEYRING__KEYS_FILE"


class KeyringError(Exception):
    """No usable key, a bad key, or a token this keyring cannot decrypt (never shows a key)."""


class KeyringSettings(BaseModel):
    """Where the key-encryption keys come from (``REVFLOW_KEYRING__*``)."""

    model_config = ConfigDict(extra="forbid")

    keys: SecretStr = SecretStr("")
    keys_file: Path | None = None
    # encrypt order payloads kept for retries and audit (snapshots, step input and
    # output, connector attempt errors, outbox fields, signals, dead letters)
    encrypt_payloads: bool = False

    @property
    def configured(self) -> bool:
        return bool(self.keys.get_secret_value().strip() or self.keys_file)

    @model_validator(mode="after")
    def _payloads_need_a_key(self) -> KeyringSettings:
        if self.encrypt_payloads and not self.configured:
            raise ValueError("encrypt_payloads needs keys or keys_file")
        return self


class _HasKeyring(Protocol):
    @property
    def keyring(self) -> KeyringSettings: ...


def generate_key() -> str:
    """A new random Fernet key (url-safe base64 of 32 bytes)."""
    return Fernet.generate_key().decode()


def key_id(key: str) -> str:
    """A short fingerprint of ``key`` (not reversible; safe to log)."""
    return hashlib.sha256(key.encode()).hexdigest()[:8]


def is_token(value: str) -> bool:
    """Whether ``value`` looks like a token of this module (not plaintext)."""
    parts = value.split(".")
    return len(parts) == 4 and parts[0] == PREFIX


class Keyring:
    """Key-encryption keys, newest first; encrypts, decrypts and rotates tokens."""

    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise KeyringError(
                f"no encryption key: set {KEYS_ENV} or {KEYS_FILE_ENV} "
                "(`revflow secrets generate-key` prints a new one)"
            )
        self._ids = [key_id(k) for k in keys]
        self._by_id = {key_id(k): Fernet(k) for k in keys}
        self._multi = MultiFernet([Fernet(k) for k in keys])

    @classmethod
    def from_settings(cls, settings: KeyringSettings | _HasKeyring) -> Keyring:
        """The keyring of ``settings`` (the whole ``Settings`` or its ``keyring`` section)."""
        section = settings if isinstance(settings, KeyringSettings) else settings.keyring
        return cls(load_keys(section))

    @property
    def primary_id(self) -> str:
        """The id of the key new tokens are wrapped with."""
        return self._ids[0]

    @property
    def key_ids(self) -> list[str]:
        return list(self._ids)

    def encrypt(self, plaintext: str) -> str:
        data_key = Fernet.generate_key()
        ciphertext = Fernet(data_key).encrypt(plaintext.encode()).decode()
        wrapped = self._by_id[self.primary_id].encrypt(data_key).decode()
        return f"{PREFIX}.{self.primary_id}.{wrapped}.{ciphertext}"

    def decrypt(self, token: str) -> str:
        kid, wrapped, ciphertext = self._split(token)
        try:
            data_key = self._multi.decrypt(wrapped.encode())
            return Fernet(data_key).decrypt(ciphertext.encode()).decode()
        except InvalidToken:
            raise KeyringError(self._unknown_key(kid)) from None

    def needs_rotation(self, token: str) -> bool:
        """Whether ``token`` is wrapped by a key other than the newest."""
        return self._split(token)[0] != self.primary_id

    def rotate(self, token: str) -> str:
        """``token`` with its data key re-wrapped under the newest key (same plaintext)."""
        kid, wrapped, ciphertext = self._split(token)
        try:
            data_key = self._multi.decrypt(wrapped.encode())
            Fernet(data_key).decrypt(ciphertext.encode())  # a corrupt value fails here, not later
        except InvalidToken:
            raise KeyringError(self._unknown_key(kid)) from None
        rewrapped = self._by_id[self.primary_id].encrypt(data_key).decode()
        return f"{PREFIX}.{self.primary_id}.{rewrapped}.{ciphertext}"

    def _split(self, token: str) -> tuple[str, str, str]:
        if not is_token(token):
            raise KeyringError("not an encrypted value (expected rf1.<key id>.<key>.<data>)")
        _, kid, wrapped, ciphertext = token.split(".")
        return kid, wrapped, ciphertext

    def _unknown_key(self, kid: str) -> str:
        if kid in self._by_id:
            return f"encrypted value under key {kid} is corrupt or was altered"
        return (
            f"encrypted value is under key {kid}, which is not in the keyring "
            f"(keys: {', '.join(self._ids)}); add the old key after the new one"
        )


def load_keys(settings: KeyringSettings) -> list[str]:
    """The keys of ``settings``, newest first, each checked; errors name where a key is."""
    text = settings.keys.get_secret_value()
    if text.strip() and settings.keys_file:
        raise KeyringError(f"set {KEYS_ENV} or {KEYS_FILE_ENV}, not both")
    if settings.keys_file:
        return _keys_from_file(settings.keys_file)
    keys = text.replace(",", " ").split()
    for n, key in enumerate(keys, 1):
        _check_key(key, f"{KEYS_ENV} key {n}")
    return keys


def _keys_from_file(path: Path) -> list[str]:
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise KeyringError(f"{KEYS_FILE_ENV} {path}: {exc.strerror or exc}") from None
    keys = []
    for line_no, line in enumerate(lines, 1):
        key = line.split("#", 1)[0].strip()
        if key:
            _check_key(key, f"{path} line {line_no}")
            keys.append(key)
    if not keys:
        raise KeyringError(f"{KEYS_FILE_ENV} {path} holds no key")
    return keys


def _check_key(key: str, where: str) -> None:
    try:
        Fernet(key)
    except (binascii.Error, ValueError):
        raise KeyringError(
            f"{where} is not a Fernet key (32 bytes in url-safe base64, 44 characters)"
        ) from None

"""What Revflow keeps encrypted at rest: stored secrets, payloads, key rotation.

``configure(settings)`` gives the process its keyring (``revflow.db.encrypted``); the
service, the demo and every CLI command that opens the database call it first.
"""

from __future__ import annotations

from revflow.config import ConfigError, Settings
from revflow.db import encrypted
from revflow.security.keyring import Keyring, KeyringError


def configure(settings: Settings) -> Keyring | None:
    """Set this process's keyring from ``settings`` (None when no key is configured).

    A bad key or key file is a ``ConfigError`` naming the setting or file and line.
    """
    try:
        ring = Keyring.from_settings(settings) if settings.keyring.configured else None
    except KeyringError as exc:
        raise ConfigError(str(exc)) from None
    encrypted.configure(ring, encrypt_payloads=settings.keyring.encrypt_payloads)
    return ring

"""Who may call the API, and the secrets Revflow keeps (``app/security``).

- ``api_keys``, ``local_users``, ``recovery_codes`` and ``auth_sessions``: secrets in
  them are hashes or ciphertext only.
- ``oidc_logins`` are OpenID Connect logins under way (state, nonce, PKCE verifier).
- ``stored_secrets`` holds secrets Revflow keeps itself, encrypted (``revflow.security``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    ForeignKey,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from revflow.clock import utcnow
from revflow.db.base import Base
from revflow.db.encrypted import SecretText


class StoredSecret(Base):
    """A secret Revflow keeps (a rotated OAuth refresh token, a webhook secret being
    rolled out), always encrypted by the keyring."""

    __tablename__ = "stored_secrets"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    value: Mapped[str] = mapped_column(SecretText)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ApiKey(Base):
    """A machine client's key: shown once, kept as a SHA-256 of its secret part."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    prefix: Mapped[str] = mapped_column(String(16), unique=True)  # public: key:<prefix>
    secret_hash: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100))
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    revoked_by: Mapped[str | None] = mapped_column(String(100))
    last_used_at: Mapped[datetime | None]


class LocalUser(Base):
    """A person without an identity provider: argon2id password and mandatory TOTP."""

    __tablename__ = "local_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(String(16))
    # a keyring token (revflow.security.keyring); `revflow secrets rotate-key` re-wraps it
    totp_seed_ciphertext: Mapped[str] = mapped_column(Text, info={"encrypted": True})
    totp_last_step: Mapped[int | None] = mapped_column(Integer)  # a code is used once
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100))
    disabled_at: Mapped[datetime | None]
    last_login_at: Mapped[datetime | None]


class RecoveryCode(Base):
    """A one-time second factor for a local user who lost the authenticator."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("local_users.id", ondelete="CASCADE"), index=True
    )
    code_hash: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[datetime | None]


class AuthSession(Base):
    """A browser session: the cookie's token and CSRF token kept as SHA-256 hashes."""

    __tablename__ = "auth_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    csrf_hash: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(100), index=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]  # the absolute timeout
    ended_at: Mapped[datetime | None]
    ended_reason: Mapped[str | None] = mapped_column(String(32))


class OidcLogin(Base):
    """An OpenID Connect login sent to the provider and not back yet (``app/security/oidc``);
    used once, by the browser holding its state cookie, within ``login_timeout_s``."""

    __tablename__ = "oidc_logins"

    state_hash: Mapped[str] = mapped_column(String(64), primary_key=True)  # SHA-256 of state
    nonce: Mapped[str] = mapped_column(String(64))
    code_verifier: Mapped[str] = mapped_column(String(128))  # PKCE
    return_to: Mapped[str] = mapped_column(String(500), default="/")
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)

"""API keys for machine clients: created, listed, revoked and expired from the CLI.

A key reads ``rfk_<prefix>_<secret>``.  The prefix is public (it names the key in
lists and in the audit log as ``key:<prefix>``); only a SHA-256 of the secret is
stored, so a key is shown once, when it is created.  Clients send it as
``Authorization: Bearer rfk_...``.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from revflow import audit
from revflow.clock import aware, utcnow
from revflow.db.models import ApiKey
from revflow.orchestration.errors import BadRequest, Conflict, NotFound
from revflow.security import repository
from revflow.security.identity import Identity, Method, Role
from revflow.security.tokens import digest, matches, new_token

KEY_PREFIX = "rfk_"
_KEY = re.compile(r"^rfk_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")
_DURATION = re.compile(r"^(\d{1,5})([mhdw])$")
_UNIT_S = {"m": 60, "h": 3600, "d": 86400, "w": 604800}
TOUCH_EVERY_S = 60.0  # last_used_at is written at most this often per key
NAME_MAX = 100


@dataclass(frozen=True)
class NewKey:
    """A key just created: ``secret`` is the whole key, shown once and never again."""

    row: ApiKey
    secret: str


def parse_duration(text: str) -> timedelta:
    """``90d``, ``12h``, ``30m``, ``2w`` as a timedelta; BadRequest otherwise."""
    m = _DURATION.match(text.strip())
    if not m or int(m.group(1)) == 0:
        raise BadRequest(f"{text[:20]!r} is not a duration like 90d, 12h, 30m or 2w")
    return timedelta(seconds=int(m.group(1)) * _UNIT_S[m.group(2)])


def parse_role(text: str) -> Role:
    try:
        return Role(text)
    except ValueError:
        raise BadRequest(f"{text[:20]!r} is not a role (one of {', '.join(Role)})") from None


async def create_key(
    session: AsyncSession,
    *,
    name: str,
    role: Role,
    actor: str,
    expires_in: timedelta | None = None,
) -> NewKey:
    """Create a key (audited as ``key.create``); its secret is in the result only."""
    if not name.strip() or len(name) > NAME_MAX or not name.isprintable():
        raise BadRequest(f"a key name has 1 to {NAME_MAX} printable characters")
    now = utcnow()
    prefix = secrets.token_hex(6)
    secret = new_token()
    row = ApiKey(
        prefix=prefix,
        secret_hash=digest(secret),
        name=name,
        role=str(Role(role)),
        created_at=now,
        created_by=actor,
        expires_at=now + expires_in if expires_in else None,
    )
    session.add(row)
    await session.flush()
    audit.record(
        session,
        actor,
        "key.create",
        key=f"key:{prefix}",
        name=name,
        role=row.role,
        expires_at=row.expires_at.isoformat() if row.expires_at else None,
    )
    return NewKey(row, f"{KEY_PREFIX}{prefix}_{secret}")


async def revoke_key(session: AsyncSession, prefix: str, *, actor: str) -> ApiKey:
    """Revoke a key by its prefix (``key:`` and ``rfk_`` are accepted in front)."""
    prefix = prefix.removeprefix("key:").removeprefix(KEY_PREFIX)
    row = await repository.key_by_prefix(session, prefix)
    if row is None:
        raise NotFound(f"no API key {prefix[:20]!r}")
    if row.revoked_at is not None:
        raise Conflict(f"API key {prefix} was revoked already")
    row.revoked_at = utcnow()
    row.revoked_by = actor
    audit.record(session, actor, "key.revoke", key=f"key:{prefix}", name=row.name)
    return row


async def list_keys(session: AsyncSession, *, include_revoked: bool = False) -> Sequence[ApiKey]:
    return await repository.list_keys(session, include_revoked=include_revoked)


def key_state(row: ApiKey, now: datetime | None = None) -> str:
    """``active``, ``expired`` or ``revoked``."""
    if row.revoked_at is not None:
        return "revoked"
    if row.expires_at is not None and aware(row.expires_at) <= (now or utcnow()):
        return "expired"
    return "active"


def key_prefix(presented: str) -> str | None:
    """The prefix of a well-formed key (safe to log), else None."""
    m = _KEY.match(presented)
    return m.group(1) if m else None


@dataclass(frozen=True)
class KeyCheck:
    """A presented key that is valid: who it is, and whether ``last_used_at`` is due."""

    identity: Identity
    key_id: int
    touch: bool


async def check_key(session: AsyncSession, presented: str) -> KeyCheck | str:
    """The identity of a presented key, or why it is refused (one word, for the audit).

    Reads only; the caller writes ``last_used_at`` when ``touch`` says so (at most
    every ``TOUCH_EVERY_S``), in a write transaction of its own.
    """
    m = _KEY.match(presented)
    if not m:
        return "malformed"
    row = await repository.key_by_prefix(session, m.group(1))
    if row is None or not matches(m.group(2), row.secret_hash):
        return "unknown"
    now = utcnow()
    state = key_state(row, now)
    if state != "active":
        return state
    last = aware(row.last_used_at)
    touch = last is None or (now - last).total_seconds() >= TOUCH_EVERY_S
    identity = Identity(
        subject=f"key:{row.prefix}", name=row.name, role=Role(row.role), method=Method.API_KEY
    )
    return KeyCheck(identity, row.id, touch)

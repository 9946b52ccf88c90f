"""Named queries on API keys, local users, recovery codes and browser sessions.

Every function takes the caller's session and neither commits nor rolls back.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from revflow.db.models import ApiKey, AuthSession, LocalUser, RecoveryCode

# -- API keys ------------------------------------------------------------------------


async def key_by_prefix(s: AsyncSession, prefix: str) -> ApiKey | None:
    return (await s.scalars(select(ApiKey).where(ApiKey.prefix == prefix))).one_or_none()


async def list_keys(s: AsyncSession, *, include_revoked: bool = False) -> Sequence[ApiKey]:
    q = select(ApiKey).order_by(ApiKey.id)
    if not include_revoked:
        q = q.where(ApiKey.revoked_at.is_(None))
    return (await s.scalars(q)).all()


async def touch_key(s: AsyncSession, key_id: int, at: datetime) -> None:
    await s.execute(update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=at))


# -- local users ---------------------------------------------------------------------


async def user_by_name(s: AsyncSession, username: str) -> LocalUser | None:
    q = select(LocalUser).where(LocalUser.username == username)
    return (await s.scalars(q)).one_or_none()


async def lock_user(s: AsyncSession, username: str) -> LocalUser | None:
    """The user row, locked on PostgreSQL so two logins count failures one at a time."""
    q = select(LocalUser).where(LocalUser.username == username)
    if s.get_bind().dialect.name != "sqlite":
        q = q.with_for_update()
    return (await s.scalars(q)).one_or_none()


async def list_users(s: AsyncSession) -> Sequence[LocalUser]:
    return (await s.scalars(select(LocalUser).order_by(LocalUser.username))).all()


async def unused_recovery_codes(s: AsyncSession, user_id: int) -> Sequence[RecoveryCode]:
    q = select(RecoveryCode).where(RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None))
    return (await s.scalars(q)).all()


async def drop_recovery_codes(s: AsyncSession, user_id: int) -> None:
    """Remove a user's recovery codes (before new ones are issued)."""
    await s.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))


# -- browser sessions ----------------------------------------------------------------


async def session_by_token(s: AsyncSession, token_hash: str) -> AuthSession | None:
    q = select(AuthSession).where(AuthSession.token_hash == token_hash)
    return (await s.scalars(q)).one_or_none()


async def touch_session(s: AsyncSession, session_id: int, at: datetime) -> None:
    await s.execute(update(AuthSession).where(AuthSession.id == session_id).values(last_seen_at=at))


async def end_session(s: AsyncSession, session_id: int, at: datetime, reason: str) -> None:
    await s.execute(
        update(AuthSession)
        .where(AuthSession.id == session_id, AuthSession.ended_at.is_(None))
        .values(ended_at=at, ended_reason=reason)
    )


async def end_sessions_of(s: AsyncSession, subject: str, at: datetime, reason: str) -> int:
    """End every open session of ``subject`` (a role change, a disabled user)."""
    result = await s.execute(
        update(AuthSession)
        .where(AuthSession.subject == subject, AuthSession.ended_at.is_(None))
        .values(ended_at=at, ended_reason=reason)
    )
    return int(getattr(result, "rowcount", 0) or 0)

"""Named queries on OpenID Connect logins under way (``oidc_logins``).

Every function takes the caller's session and neither commits nor rolls back.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from revflow.db.models import OidcLogin


def add_login(s: AsyncSession, login: OidcLogin) -> None:
    s.add(login)


async def take_login(s: AsyncSession, state_hash: str) -> OidcLogin | None:
    """The login with this state, deleted in the same statement: a state is used once,
    even by two callbacks racing (only one of them gets the row back)."""
    q = delete(OidcLogin).where(OidcLogin.state_hash == state_hash).returning(OidcLogin)
    return (await s.scalars(q)).one_or_none()


async def drop_logins_before(s: AsyncSession, before: datetime) -> None:
    """Forget logins started before ``before`` (the browser never came back)."""
    await s.execute(delete(OidcLogin).where(OidcLogin.created_at < before))

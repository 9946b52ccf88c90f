"""Secrets Revflow keeps itself, by name, encrypted by the keyring (``stored_secrets``).

Names say what a secret is for: ``connector:<name>:refresh_token`` for an OAuth
refresh token the provider rotated.  Values never reach a log line or an answer;
the audit log records that a secret changed, never the value.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from revflow.db.models import StoredSecret
from revflow.vault import repository


async def get(s: AsyncSession, name: str) -> str | None:
    row = await repository.get_secret(s, name)
    return None if row is None else row.value


async def put(s: AsyncSession, name: str, value: str) -> None:
    row = await repository.get_secret(s, name)
    if row is None:
        s.add(StoredSecret(name=name, value=value))
    else:
        row.value = value


async def remove(s: AsyncSession, name: str) -> bool:
    return await repository.delete_secret(s, name)


async def names(s: AsyncSession) -> list[str]:
    return await repository.secret_names(s)

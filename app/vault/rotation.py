"""Key rotation: re-wrap every stored token under the keyring's newest key, in place.

Without downtime: every process runs with the new key first and the old ones after
it (both decrypt, new values use the new key), then ``revflow secrets rotate-key``
walks each encrypted column in short transactions (a page of rows, locked, re-wrapped,
committed), then ``revflow secrets status`` shows nothing left under an old key and
the old key can go.  Only data keys are re-wrapped; payload ciphertexts stay as they
are and no plaintext is read.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Column
from sqlalchemy.ext.asyncio import AsyncSession

from revflow.db.encrypted import ENVELOPE, encrypted_columns, is_envelope
from revflow.db.models import Base
from revflow.security.keyring import Keyring, is_token
from revflow.vault import repository


@dataclass
class ColumnKeys:
    """Which keys wrap a column's values (``plain``: values stored unencrypted)."""

    name: str
    by_key: Counter[str] = field(default_factory=Counter)
    plain: int = 0
    rotated: int = 0


def columns() -> list[Column[Any]]:
    return encrypted_columns(Base.metadata)


def _token(stored: Any) -> str | None:
    if is_envelope(stored):
        return str(stored[ENVELOPE])
    if isinstance(stored, str) and is_token(stored):
        return stored
    return None


def _rewrap(stored: Any, token: str) -> Any:
    return {ENVELOPE: token} if isinstance(stored, dict) else token


async def rotate_page(
    s: AsyncSession, ring: Keyring, col: Column[Any], after: Any, limit: int, tally: ColumnKeys
) -> Any:
    """Re-wrap one page of ``col`` (rows locked); the last primary key, None at the end."""
    page = await repository.raw_page(s, col, after, limit, lock=True)
    rewrapped = {}
    for key, stored in page:
        token = _token(stored)
        if token is None:
            tally.plain += stored is not None  # a JSON null is no payload
            continue
        if ring.needs_rotation(token):
            rewrapped[key] = _rewrap(stored, ring.rotate(token))
        tally.by_key[ring.primary_id] += 1
    await repository.raw_update(s, col, rewrapped)
    tally.rotated += len(rewrapped)
    return page[-1][0] if len(page) == limit else None


async def key_status(s: AsyncSession, col: Column[Any], page_size: int = 1000) -> ColumnKeys:
    """Count ``col``'s values by the key that wraps them."""
    tally, after = ColumnKeys(f"{col.table.name}.{col.name}"), None
    while page := await repository.raw_page(s, col, after, page_size, lock=False):
        for _key, stored in page:
            token = _token(stored)
            if token is None:
                tally.plain += stored is not None
            else:
                tally.by_key[token.split(".")[1]] += 1
        after = page[-1][0]
    return tally

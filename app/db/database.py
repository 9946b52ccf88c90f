"""One handle on the database: engine, sessions, and write transactions.

``write()`` opens a transaction that commits on success and rolls back on error.
On SQLite, write transactions are serialised within the process (SQLite has one
writer; letting transactions queue on its file lock gives 'database is locked'
errors), and claiming work needs no row locks.  On PostgreSQL they run
concurrently and claims use ``FOR UPDATE SKIP LOCKED``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, nullcontext
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from revflow.db.engine import is_sqlite, make_engine, make_sessionmaker, normalize_url


class Database:
    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = normalize_url(url)
        self.is_sqlite = is_sqlite(self.url)
        self.engine = make_engine(self.url, **engine_kwargs)
        self.sessions = make_sessionmaker(self.engine)
        self._write_lock = asyncio.Lock() if self.is_sqlite else None

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        lock = self._write_lock or nullcontext()
        async with lock, self.sessions() as session, session.begin():
            yield session

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        async with self.sessions() as session:
            yield session

    async def dispose(self) -> None:
        await self.engine.dispose()


async def ping(session: AsyncSession) -> None:
    """One round trip to the database (``SELECT 1``); raises if it does not answer."""
    await session.execute(text("SELECT 1"))

"""The pool's liveness check against a real PostgreSQL (skipped on SQLite)."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from revflow.db.database import Database
from revflow.db.engine import hide_password, normalize_url

pytestmark = pytest.mark.timeout(60)


async def backend_pid(db: Database) -> int:
    async with db.read() as s:
        return int((await s.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def terminated(database_url: str, idle_s: float) -> tuple[int, Database]:
    """A one-connection pool whose connection the server ended while it sat idle
    (as a restart does); idle for at least ``ping_after_idle_s`` when that is 0."""
    db = Database(database_url, pool_size=1, max_overflow=0, ping_after_idle_s=idle_s)
    pid = await backend_pid(db)
    other = Database(database_url, pool_size=1, max_overflow=0)
    async with other.write() as s:
        await s.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    await other.dispose()
    return pid, db


async def test_a_connection_idle_past_the_threshold_is_tested_and_replaced(
    database_url: str,
) -> None:
    if database_url.startswith("sqlite"):
        pytest.skip("a PostgreSQL server ends the connection")
    pid, db = await terminated(database_url, idle_s=0.0)
    try:
        assert await backend_pid(db) != pid  # a new connection; no statement failed
    finally:
        await db.dispose()


async def test_a_connection_used_a_moment_ago_is_not_tested(database_url: str) -> None:
    if database_url.startswith("sqlite"):
        pytest.skip("a PostgreSQL server ends the connection")
    _pid, db = await terminated(database_url, idle_s=3600.0)
    try:
        with pytest.raises(DBAPIError):  # the hot path pays no round trip: the statement fails
            await backend_pid(db)
        await backend_pid(db)  # and the pool replaced the dead connection
    finally:
        await db.dispose()


def test_urls_pick_the_async_driver_and_hide_the_password() -> None:
    assert normalize_url("postgres://u:p@h/d") == "postgresql+asyncpg://u:p@h/d"
    assert hide_password("postgresql://u:secret@h/d") == "postgresql+asyncpg://u:***@h/d"

"""Which database errors are an outage (kept and retried) and which are the statement's."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, ProgrammingError

from revflow.db.database import Database
from revflow.db.errors import unavailable
from revflow.sandbox.tcp_proxy import TcpProxy
from tests.conftest import PG_URL


async def test_a_wrong_statement_is_not_an_outage(db: Database) -> None:
    with pytest.raises(Exception) as caught:
        async with db.read() as s:
            await s.execute(text("SELECT * FROM no_such_table"))
    assert not unavailable(caught.value)
    assert not unavailable(IntegrityError("INSERT", {}, ValueError("duplicate key")))
    assert not unavailable(ProgrammingError("SELECT", {}, ValueError("syntax error")))
    assert not unavailable(RuntimeError("a bug"))


async def test_a_locked_sqlite_file_is_an_outage() -> None:
    from sqlalchemy.exc import OperationalError

    locked = OperationalError("UPDATE", {}, Exception("database is locked"))
    assert unavailable(locked)


@pytest.mark.skipif(not PG_URL, reason="cutting a connection needs PostgreSQL")
async def test_a_cut_connection_and_a_refused_one_are_outages(database_url: str) -> None:
    proxy = TcpProxy.for_url(database_url)
    await proxy.start()
    db = Database(proxy.proxied(database_url))
    try:

        async def slow() -> None:
            async with db.read() as s:
                await s.execute(text("SELECT pg_sleep(5)"))

        task = asyncio.create_task(slow())
        await asyncio.sleep(0.5)  # the query is under way (and if not, the cut is at connect)
        await proxy.cut()
        with pytest.raises(Exception) as mid_query:
            await task
        assert unavailable(mid_query.value), repr(mid_query.value)
        with pytest.raises(Exception) as refused:
            async with db.read() as s:
                await s.execute(text("SELECT 1"))
        assert unavailable(refused.value), repr(refused.value)
        await proxy.restore()
        async with db.read() as s:  # the pool's dead connections are replaced
            assert await s.scalar(text("SELECT 1")) == 1
    finally:
        await db.dispose()
        await proxy.close()

"""Benches' scratch databases are removed when the bench ends, also when it fails."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from bench.scratch import scratch_database
from revflow.db.database import Database
from tests.conftest import PG_URL


class Boom(Exception):
    pass


def test_a_sqlite_scratch_folder_is_removed_even_when_the_bench_fails() -> None:
    with pytest.raises(Boom), scratch_database(None, "t") as url:
        path = Path(str(make_url(url).database))
        path.write_text("data")
        raise Boom
    assert not path.parent.exists()


async def _databases_named(url: str, name: str) -> int:
    db = Database(url)
    try:
        async with db.read() as s:
            n = await s.scalar(
                text("SELECT count(*) FROM pg_database WHERE datname = :n"), {"n": name}
            )
            return int(n or 0)
    finally:
        await db.dispose()


async def _fill(url: str) -> None:
    db = Database(url)
    try:
        async with db.write() as s:
            await s.execute(text("CREATE TABLE filled (id int)"))
    finally:
        await db.dispose()


@pytest.mark.skipif(not PG_URL, reason="needs REVFLOW_TEST_DATABASE_URL (PostgreSQL)")
def test_a_postgresql_scratch_database_is_dropped_even_when_the_bench_fails() -> None:
    assert PG_URL is not None
    with pytest.raises(Boom), scratch_database(PG_URL, "t") as url:
        name = str(make_url(url).database)
        assert name != make_url(PG_URL).database  # beside the named one, not it
        asyncio.run(_fill(url))
        assert asyncio.run(_databases_named(PG_URL, name)) == 1
        raise Boom
    assert asyncio.run(_databases_named(PG_URL, name)) == 0

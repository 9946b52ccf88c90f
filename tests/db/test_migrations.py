"""The Alembic migrations build exactly the schema the models describe.

Each test migrates an empty database of its own (a fresh SQLite file; on PostgreSQL,
when ``REVFLOW_TEST_DATABASE_URL`` names a server, a fresh database created beside
the test database and dropped afterwards) and asks Alembic's autogenerate comparison
what it would change.  It compares as ``migrations/env.py`` configures autogenerate:
tables, columns, types, nullability, indexes and unique constraints (server defaults
are not compared, Alembic's default).
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, Integer, MetaData, text
from sqlalchemy.engine import Connection, make_url

from revflow.db.engine import make_engine
from revflow.db.migrate import upgrade
from revflow.db.models import Base

PG_URL = os.environ.get("REVFLOW_TEST_DATABASE_URL", "")


async def _admin(url: str, statement: str) -> None:
    """Run CREATE/DROP DATABASE on the server's ``postgres`` database (outside a txn)."""
    admin = make_url(url).set(database="postgres").render_as_string(hide_password=False)
    engine = make_engine(admin, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty database of the test's own."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path}/migrations.sqlite"
        return
    if not PG_URL.startswith("postgresql"):
        pytest.skip("needs REVFLOW_TEST_DATABASE_URL (PostgreSQL)")
    name = f"{make_url(PG_URL).database}_migrations_{uuid.uuid4().hex[:8]}"
    asyncio.run(_admin(PG_URL, f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(_admin(PG_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _differences(url: str, metadata: MetaData) -> list[Any]:
    """What autogenerate would put in a new migration for ``metadata`` (empty: nothing)."""

    def compare(conn: Connection) -> list[Any]:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))

    async def run() -> list[Any]:
        engine = make_engine(url)
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(compare)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def test_migrations_produce_the_models_schema(empty_database: str) -> None:
    upgrade(empty_database)
    assert _differences(empty_database, Base.metadata) == []


def test_a_model_change_without_a_migration_is_found(empty_database: str) -> None:
    """The comparison sees a column the migrations do not create (so the test above can fail)."""
    upgrade(empty_database)
    changed = MetaData()
    for table in Base.metadata.sorted_tables:
        table.to_metadata(changed)
    changed.tables["plans"].append_column(Column("not_migrated", Integer))

    found = _differences(empty_database, changed)

    assert [(d[0], d[2], d[3].name) for d in found] == [("add_column", "plans", "not_migrated")]

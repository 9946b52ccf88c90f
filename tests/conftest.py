"""Shared fixtures.

Tests that need a database take ``database_url``: a fresh SQLite file per test, or,
when ``REVFLOW_TEST_DATABASE_URL`` names a PostgreSQL database (as ``.ci/run``
sets it), that database with its schema dropped and migrated anew.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from revflow.db.database import Database
from revflow.db.engine import make_engine
from revflow.db.migrate import upgrade
from revflow.sandbox.org import SandboxOrg
from revflow.sandbox.server import start_org

PG_URL = os.environ.get("REVFLOW_TEST_DATABASE_URL")


async def _reset_postgres(url: str) -> None:
    engine = make_engine(url)
    async with engine.begin() as conn:
        await conn.execute(text("DROP SCHEMA public CASCADE"))
        await conn.execute(text("CREATE SCHEMA public"))
    await engine.dispose()


@pytest.fixture
async def database_url(tmp_path: Path) -> str:
    if PG_URL:
        await _reset_postgres(PG_URL)
        url = PG_URL
    else:
        url = f"sqlite+aiosqlite:///{tmp_path}/test.sqlite"
    await asyncio.to_thread(upgrade, url)
    return url


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    yield database
    await database.dispose()


@pytest.fixture
async def org() -> AsyncIterator[SandboxOrg]:
    """A sandbox org served on a loopback port (its instance_url is set)."""
    sandbox = SandboxOrg()
    server = await start_org(sandbox)
    yield sandbox
    await server.close()


@pytest.fixture(autouse=True)
def _clean_revflow_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests build their settings explicitly; the developer's REVFLOW_* must not leak in."""
    for key in list(os.environ):
        if key.startswith("REVFLOW_") and key != "REVFLOW_TEST_DATABASE_URL":
            monkeypatch.delenv(key)


@pytest.fixture(autouse=True)
def _no_keyring() -> Iterator[None]:
    """Each test starts without a process keyring (``revflow.db.encrypted``) and ends so."""
    from revflow.db import encrypted

    encrypted.configure(None)
    yield
    encrypted.configure(None)


@pytest.fixture(autouse=True)
def _no_alert_rules() -> Iterator[None]:
    """Each test starts without alert rules (``revflow.alerts.runtime``) and ends so."""
    from revflow.alerts import runtime

    runtime.install(None)
    yield
    runtime.install(None)

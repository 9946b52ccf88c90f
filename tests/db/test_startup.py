"""Start-up checks of the database, through the real CLI and real databases.

The CLI tests run ``python -m revflow`` as a child process so that what the operator sees
(exit code, every line on stderr) is what the test sees.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from revflow.connectors.signing import generate_secret
from revflow.db.engine import make_engine
from revflow.db.migrate import upgrade
from revflow.db.startup import (
    DatabaseStartupError,
    check_schema,
    head_revisions,
    prepare_database,
    wait_for_database,
)

ROOT = Path(__file__).resolve().parents[2]
PG_URL = os.environ.get("REVFLOW_TEST_DATABASE_URL", "")
on_postgres = pytest.mark.skipif(
    not PG_URL.startswith("postgresql"), reason="needs REVFLOW_TEST_DATABASE_URL (PostgreSQL)"
)


def free_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def revflow(*args: str, database_url: str, wait_s: float = 1.0) -> subprocess.CompletedProcess[str]:
    """``revflow ARGS`` with an org and ERP configured (nothing listens there)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("REVFLOW_")}
    env.update(
        REVFLOW_DATABASE_URL=database_url,
        REVFLOW_DATABASE_WAIT_S=str(wait_s),
        REVFLOW_SALESFORCE__INSTANCE_URL=f"http://127.0.0.1:{free_port()}",
        REVFLOW_SALESFORCE__AUTH="client_credentials",
        REVFLOW_SALESFORCE__CLIENT_ID="cid",
        REVFLOW_SALESFORCE__CLIENT_SECRET="cs",
        REVFLOW_ERP__URL=f"http://127.0.0.1:{free_port()}/hook",
        REVFLOW_ERP__SECRETS=f'["{generate_secret()}"]',
        REVFLOW_API_PORT="0",
    )
    return subprocess.run(
        [sys.executable, "-m", "revflow", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,  # a hang fails the test instead of blocking the suite
    )


async def drop_schema(url: str) -> None:
    engine = make_engine(url)
    async with engine.begin() as conn:
        await conn.execute(text("DROP SCHEMA public CASCADE"))
        await conn.execute(text("CREATE SCHEMA public"))
    await engine.dispose()


@pytest.fixture
async def empty_url(tmp_path: Path) -> str:
    """A database without any table: PostgreSQL's public schema emptied, or a new file."""
    if PG_URL.startswith("postgresql"):
        await drop_schema(PG_URL)
        return PG_URL
    return f"sqlite+aiosqlite:///{tmp_path}/empty.sqlite"


@pytest.mark.parametrize("command", [["run"], ["db", "upgrade"]])
def test_unreachable_database_is_one_line_naming_the_setting(command):
    url = f"postgresql+asyncpg://revflow:pg-s3cret@127.0.0.1:{free_port()}/revflow"
    result = revflow(*command, database_url=url, wait_s=1.5)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    (line,) = lines
    assert line.startswith("error: database unreachable: REVFLOW_DATABASE_URL=")
    assert "revflow:***@127.0.0.1" in line and "pg-s3cret" not in line
    assert "did not answer in 1.5s" in line and "attempt(s)" in line
    assert "ConnectionRefusedError" in line or "OSError" in line
    assert result.stdout == ""


@on_postgres
async def test_wait_retries_until_the_database_answers():
    """Nothing listens at first; a TCP proxy to the real database opens later."""
    target = make_url(PG_URL)
    port = free_port()

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()

    async def forward(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(
            target.host or "127.0.0.1", target.port or 5432
        )
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    waiting = asyncio.create_task(
        wait_for_database(target.set(port=port).render_as_string(False), 60.0)
    )
    await asyncio.sleep(1.0)
    assert not waiting.done()  # still retrying: nothing listens yet
    proxy = await asyncio.start_server(forward, "127.0.0.1", port)
    try:
        await waiting
    finally:
        proxy.close()


async def test_an_empty_database_is_told_to_run_db_upgrade(empty_url):
    with pytest.raises(DatabaseStartupError) as err:
        await check_schema(empty_url)
    assert "has no Revflow schema: run `revflow db upgrade`" in str(err.value)
    assert "REVFLOW_DATABASE_URL=" in str(err.value)


async def test_a_schema_behind_the_code_names_both_revisions(empty_url):
    await asyncio.to_thread(upgrade, empty_url, "0005")
    with pytest.raises(DatabaseStartupError) as err:
        await check_schema(empty_url)
    heads = ", ".join(sorted(head_revisions(empty_url)))
    assert f"is at schema revision 0005, this Revflow needs {heads}" in str(err.value)
    assert str(err.value).endswith("run `revflow db upgrade`")
    await asyncio.to_thread(upgrade, empty_url)
    await check_schema(empty_url)  # at the head: no error


async def test_a_schema_from_a_newer_revflow_is_not_called_behind(empty_url):
    await asyncio.to_thread(upgrade, empty_url)
    engine = make_engine(empty_url)
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    await engine.dispose()
    with pytest.raises(DatabaseStartupError, match="9999, which this Revflow does not know"):
        await check_schema(empty_url)


def test_sqlite_is_still_migrated_by_run(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path}/auto.sqlite"
    prepare_database(url, 1.0)
    asyncio.run(check_schema(url))


@on_postgres
async def test_cli_on_an_empty_postgresql_database(empty_url):
    result = await asyncio.to_thread(revflow, "run", database_url=empty_url)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"error: database {_shown(empty_url)} has no Revflow schema: run `revflow db upgrade`"
    ]
    upgraded = await asyncio.to_thread(revflow, "db", "upgrade", database_url=empty_url)
    assert upgraded.returncode == 0, upgraded.stderr
    assert "database is at the newest schema" in upgraded.stdout
    await check_schema(empty_url)


def _shown(url: str) -> str:
    from revflow.db.engine import hide_password

    return f"REVFLOW_DATABASE_URL={hide_password(url)}"


def test_an_sqlite_file_that_cannot_be_opened_is_reported_at_once(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path}/no/such/folder/revflow.sqlite"
    result = revflow("run", database_url=url, wait_s=600)  # no waiting for a local file
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"error: database cannot be opened: REVFLOW_DATABASE_URL={url}: "
        "OperationalError: unable to open database file"
    ]


def test_operator_commands_check_the_schema_too(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path}/unmigrated.sqlite"
    result = revflow("fallout", "list", database_url=url)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"error: database REVFLOW_DATABASE_URL={url} has no Revflow schema: "
        "run `revflow db upgrade`"
    ]

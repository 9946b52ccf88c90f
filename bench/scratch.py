"""Scratch databases for benches: made fresh for one run and removed afterwards.

``scratch_database(url, tag)`` yields the URL of an empty database and removes it when
the block ends, also on error, Ctrl-C or ``kill``:

- no URL or a SQLite URL: a SQLite file in a temporary folder, the folder deleted;
- a PostgreSQL URL: a new database ``<that database>_<tag>_<pid>`` on the same server,
  dropped ``WITH (FORCE)``.  The database the URL names is only connected to, never
  changed, so pointing a bench at a database holds no risk for its data.

``reset`` empties a database in place (PostgreSQL: its public schema is dropped and
recreated; SQLite: its file is removed), for benches that are given one to fill.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import tempfile
import threading
from collections.abc import Iterator

from sqlalchemy import text
from sqlalchemy.engine import make_url

from revflow.db.database import Database
from revflow.db.engine import normalize_url


def is_postgresql(url: str | None) -> bool:
    return bool(url) and str(url).startswith("postgresql")


@contextlib.contextmanager
def scratch_database(url: str | None, tag: str) -> Iterator[str]:
    """An empty database on the server of ``url`` (or SQLite), removed afterwards."""
    _stop_on_sigterm()
    if not is_postgresql(url):
        with tempfile.TemporaryDirectory(prefix=f"revflow-{tag}-") as folder:
            yield f"sqlite+aiosqlite:///{folder}/bench.sqlite"
        return
    assert url is not None
    base = make_url(normalize_url(url))
    name = f"{base.database or 'revflow'}_{tag}_{os.getpid()}"
    asyncio.run(admin(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    asyncio.run(admin(url, f'CREATE DATABASE "{name}"'))
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        drop_database(url, name)


def _stop_on_sigterm() -> None:
    """``kill`` (SIGTERM) unwinds like Ctrl-C, so the ``finally`` that drops the scratch
    database runs; left alone, SIGTERM ends the process without running it."""
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, signal.default_int_handler)


def drop_database(url: str, name: str) -> None:
    """Drop ``name`` on the server of ``url``; says so instead of raising when it cannot."""
    try:
        asyncio.run(admin(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    except Exception as exc:  # the bench's own error (if any) matters more
        print(f"scratch: could not drop database {name}: {type(exc).__name__}: {exc}")


async def admin(url: str, statement: str) -> None:
    """Run a statement outside a transaction (CREATE/DROP DATABASE)."""
    db = Database(normalize_url(url))
    try:
        async with db.engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(statement))
    finally:
        await db.dispose()


async def reset(url: str) -> None:
    """An empty database: PostgreSQL's schema dropped, SQLite's file removed."""
    if is_postgresql(url):
        db = Database(url)
        async with db.engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
        await db.dispose()
        return
    path = make_url(url).database
    if path and path != ":memory:":
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.remove(path + suffix)

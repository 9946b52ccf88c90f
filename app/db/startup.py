"""Start-up checks of the database: reachable, and migrated to this code's schema.

``revflow run`` and ``revflow db upgrade`` call ``prepare_database`` before anything
else touches the database, so an unreachable server or an unmigrated schema is one
line naming ``REVFLOW_DATABASE_URL`` (password hidden) instead of a traceback per loop.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection, make_url

from revflow.db.engine import hide_password, is_sqlite, make_engine, normalize_url
from revflow.db.migrate import alembic_config, upgrade
from revflow.plans.retry import forever

SETTING = "REVFLOW_DATABASE_URL"
FIRST_DELAY_S = 0.25
MAX_DELAY_S = 5.0
# doubling from FIRST_DELAY_S up to MAX_DELAY_S; each wait 50-100 % of that (0.75 +- 1/3)
WAIT_BACKOFF = forever(0.75 * FIRST_DELAY_S, 0.75 * MAX_DELAY_S, jitter=1 / 3)


class DatabaseStartupError(Exception):
    """The database cannot be used; the message is the one line for the operator."""


def _cause(exc: BaseException) -> str:
    """The root cause in one line: ``ConnectionRefusedError: [Errno 111] ...``."""
    root: BaseException = exc
    while getattr(root, "orig", None) is not None:
        root = root.orig  # type: ignore[attr-defined]
    message = " ".join(str(root).split()) or "no message"
    return f"{type(root).__name__}: {message}"


async def _ping(url: str, timeout_s: float) -> None:
    """One connection and ``SELECT 1`` (PostgreSQL; asyncpg's connect timeout)."""
    engine = make_engine(url, connect_args={"timeout": max(1.0, timeout_s)})
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    finally:
        await engine.dispose()


async def wait_for_database(url: str, wait_s: float) -> None:
    """Return once the database answers; retry with backoff and jitter for ``wait_s``.

    An SQLite file is tried once: waiting does not make a missing folder appear.
    """
    if is_sqlite(url):
        try:
            # the stdlib driver: aiosqlite's worker thread outlives a failed connect
            path = make_url(normalize_url(url)).database or ":memory:"
            sqlite3.connect(path).close()
            return
        except sqlite3.Error as exc:
            raise DatabaseStartupError(
                f"database cannot be opened: {SETTING}={hide_password(url)}: {_cause(exc)}"
            ) from None
    deadline = time.monotonic() + wait_s
    attempts = 0
    while True:
        attempts += 1
        try:
            await _ping(url, min(10.0, max(deadline - time.monotonic(), 1.0)))
            return
        except Exception as exc:  # any driver error: refused, DNS, auth, timeout ...
            left = deadline - time.monotonic()
            if left <= 0:
                raise DatabaseStartupError(
                    f"database unreachable: {SETTING}={hide_password(url)} did not answer "
                    f"in {wait_s:g}s ({attempts} attempt(s)); last error: {_cause(exc)}"
                ) from None
        await asyncio.sleep(min(left, WAIT_BACKOFF.backoff_s(attempts)))


def head_revisions(url: str) -> set[str]:
    """The schema revision(s) this code's migrations end at."""
    return set(ScriptDirectory.from_config(alembic_config(url)).get_heads())


def _current(conn: Connection) -> tuple[str, ...]:
    return tuple(MigrationContext.configure(conn).get_current_heads())


async def current_revisions(url: str) -> set[str]:
    """The revision(s) recorded in the database's ``alembic_version`` (empty: none)."""
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            return set(await conn.run_sync(_current))
    finally:
        await engine.dispose()


async def check_schema(url: str) -> None:
    """Fail unless the database's schema is exactly this code's head revision."""
    heads = head_revisions(url)
    current = await current_revisions(url)
    if current == heads:
        return
    where = f"{SETTING}={hide_password(url)}"
    if not current:
        raise DatabaseStartupError(
            f"database {where} has no Revflow schema: run `revflow db upgrade`"
        )
    script = ScriptDirectory.from_config(alembic_config(url))
    known = {rev.revision for rev in script.walk_revisions()}
    if current - known:
        raise DatabaseStartupError(
            f"database {where} is at schema revision {', '.join(sorted(current))}, which "
            f"this Revflow does not know (a newer version migrated it); upgrade Revflow"
        )
    raise DatabaseStartupError(
        f"database {where} is at schema revision {', '.join(sorted(current))}, this Revflow "
        f"needs {', '.join(sorted(heads))}: run `revflow db upgrade`"
    )


def prepare_database(url: str, wait_s: float, *, migrate_sqlite: bool = True) -> None:
    """Wait for the database, then migrate SQLite (``migrate_sqlite``) or check the schema.

    Raises ``DatabaseStartupError`` with the one line to show.  Call outside an event
    loop: Alembic's migration environment runs its own.
    """
    asyncio.run(wait_for_database(url, wait_s))
    if is_sqlite(url) and migrate_sqlite:
        upgrade(url)
        return
    asyncio.run(check_schema(url))


def upgrade_database(url: str, wait_s: float) -> None:
    """``revflow db upgrade``: wait for the database, then migrate it to the head."""
    asyncio.run(wait_for_database(url, wait_s))
    try:
        upgrade(url)
    except Exception as exc:
        raise DatabaseStartupError(
            f"database upgrade failed for {SETTING}={hide_password(url)}: {_cause(exc)}"
        ) from None

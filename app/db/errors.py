"""Database errors that mean "unreachable" rather than "this statement is wrong"."""

from __future__ import annotations

import asyncpg.exceptions as pg
from sqlalchemy.exc import DBAPIError, InterfaceError
from sqlalchemy.exc import TimeoutError as PoolTimeout

# raised by asyncpg itself while connecting (SQLAlchemy does not wrap those)
_CONNECT_ERRORS = (
    pg.PostgresConnectionError,
    pg.OperatorInterventionError,  # shutting down, starting up
    pg.TooManyConnectionsError,
    pg.InterfaceError,
)
# SQLite reports these as OperationalError, like a missing table: told apart by text
_SQLITE_AWAY = ("database is locked", "unable to open database file", "disk i/o error")


def unavailable(exc: BaseException) -> bool:
    """True for a lost or refused connection, a database going down, a locked SQLite
    file, or a pool timeout: errors that waiting cures, so the work is kept and
    retried, not dropped."""
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated or isinstance(exc, InterfaceError):
            return True
        cause = getattr(exc.orig, "__cause__", None) or exc.orig
        if isinstance(cause, (OSError, *_CONNECT_ERRORS)):
            return True
        return str(exc.orig).lower().startswith(_SQLITE_AWAY)
    return isinstance(exc, (OSError, TimeoutError, PoolTimeout, *_CONNECT_ERRORS))

"""Database errors that mean "unreachable" rather than "this statement is wrong"."""

from __future__ import annotations

import asyncpg.exceptions as pg
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

# raised by asyncpg itself while connecting (SQLAlchemy does not wrap those)
_CONNECT_ERRORS = (
    pg.PostgresConnectionError,
    pg.OperatorInterventionError,  # shutting down, starting up
    pg.TooManyConnectionsError,
    pg.InterfaceError,
)


def unavailable(exc: BaseException) -> bool:
    """True for a lost or refused connection, a database going down, or a pool timeout:
    errors that waiting cures, so the work is kept and retried, not dropped."""
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated or isinstance(exc, OperationalError | InterfaceError):
            return True
        return isinstance(exc.orig, _CONNECT_ERRORS)
    return isinstance(exc, (OSError, TimeoutError, PoolTimeout, *_CONNECT_ERRORS))

"""``INSERT ... ON CONFLICT`` for whichever database the session is bound to."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession


def upsert(session: AsyncSession) -> Callable[[Any], Any]:
    """The dialect's ``insert`` (both have ``on_conflict_do_nothing/_update``)."""
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    return postgresql.insert if dialect == "postgresql" else sqlite.insert

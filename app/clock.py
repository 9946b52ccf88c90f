"""Time, in one place, so tests can control it.

``utcnow()`` reads the wall clock unless a test froze it with ``set_now`` (or the
``frozen`` context manager); ``advance`` moves a frozen clock forward.  ``aware``
reads a naive datetime as UTC (SQLite hands datetimes back naive).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import overload

_override: datetime | None = None


def utcnow() -> datetime:
    return _override if _override is not None else datetime.now(UTC)


@overload
def aware(when: datetime) -> datetime: ...
@overload
def aware(when: None) -> None: ...
def aware(when: datetime | None) -> datetime | None:
    """``when`` with a timezone: a naive datetime is UTC; None stays None."""
    if when is None:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def set_now(when: datetime | None) -> None:
    """Freeze the clock at ``when`` (timezone-aware); None returns to the wall clock."""
    global _override
    if when is not None and when.tzinfo is None:
        raise ValueError("set_now needs a timezone-aware datetime")
    _override = when


def advance(seconds: float) -> datetime:
    """Move a frozen clock forward and return the new time."""
    if _override is None:
        raise RuntimeError("the clock is not frozen; call set_now first")
    set_now(_override + timedelta(seconds=seconds))
    assert _override is not None
    return _override


@contextmanager
def frozen(when: datetime | None = None) -> Iterator[datetime]:
    """Freeze the clock (at ``when`` or now) for the block, then restore it."""
    previous = _override
    start = when or datetime.now(UTC)
    set_now(start)
    try:
        yield start
    finally:
        set_now(previous)

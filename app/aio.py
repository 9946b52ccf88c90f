"""Small asyncio helpers shared by the service loops."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


async def sleep_until(delay_s: float, *events: asyncio.Event) -> None:
    """Sleep ``delay_s`` seconds, or less if any of ``events`` is set."""
    waiters = [asyncio.create_task(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, timeout=delay_s, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()


Beat = Callable[[], None]
"""A loop calls its beat after each iteration that got its work done (or found none)."""


def no_beat() -> None:
    """The beat of a loop run outside the supervisor (tests, tools)."""


async def sleep_beating(delay_s: float, beat: Beat, every_s: float, *events: asyncio.Event) -> None:
    """``sleep_until`` in slices of ``every_s``, beating after each: a loop that waits
    on purpose (an incident's slow retry) is not stale."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + delay_s
    while (left := deadline - loop.time()) > 0 and not any(e.is_set() for e in events):
        await sleep_until(min(left, max(every_s, 0.1)), *events)
        beat()

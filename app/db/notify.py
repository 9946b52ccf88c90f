"""PostgreSQL LISTEN/NOTIFY: wake a process's loops when another transaction made work.

Migration 0017's triggers send ``NOTIFY revflow_steps`` in the transaction that makes
a step or a compensation claimable; PostgreSQL delivers it at commit to every
listening connection.  ``Listener`` holds one dedicated connection per process (not
from the pool: a pooled connection is handed to others, and its notifications with
it), LISTENs on the channels its events are subscribed to, and sets those events.

Notifications are a shortcut, never the only way work is found: the loops keep a
slower poll, and while the listener is down (``listening`` False: a database restart,
a network cut) they poll at their fast interval again.  The listener is a supervised
loop: a lost connection raises, is logged and restarted with the supervisor's backoff
and shows in ``revflow_loop_up{loop="listener"}`` and ``/readyz``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine

from revflow.aio import Beat, no_beat, sleep_until

log = logging.getLogger("revflow.notify")

STEPS_CHANNEL = "revflow_steps"  # migration 0017's triggers
CHECK_S = 10.0  # how often the idle connection is checked (a cut link sends nothing)
TIMEOUT_S = 10.0


class ListenerLost(ConnectionError):
    """The listening connection closed or stopped answering."""


class Listener:
    """One LISTENing connection per process; sets the events subscribed to a channel."""

    def __init__(self, engine: AsyncEngine, check_s: float = CHECK_S) -> None:
        self.engine = engine
        self.check_s = check_s
        self.listening = False
        self.received = 0
        self._events: dict[str, list[asyncio.Event]] = {}

    def subscribe(self, channel: str, event: asyncio.Event) -> None:
        """Set ``event`` on every notification on ``channel`` (subscribe before ``run``)."""
        self._events.setdefault(channel, []).append(event)

    async def run(self, stop: asyncio.Event, beat: Beat = no_beat) -> None:
        """Listen until ``stop``; raise ``ListenerLost`` when the connection is lost."""
        conn = await self._connect()
        lost = asyncio.Event()
        conn.add_termination_listener(lambda _conn: lost.set())
        try:
            for channel in self._events:
                await conn.add_listener(channel, self._notified)
            self.listening = True
            log.info("listening for notifications", extra={"channels": list(self._events)})
            self._wake_all()  # what was notified while no one listened is looked for now
            while not stop.is_set():
                beat()
                await sleep_until(self.check_s, stop, lost)
                if lost.is_set():
                    raise ListenerLost("the listening connection was closed")
                if not stop.is_set():
                    await self._check(conn)
        finally:
            self.listening = False
            self._wake_all()  # the loops go back to fast polling at once
            if not conn.is_closed():
                conn.terminate()  # closes the socket; no round trip to a server that may be gone

    async def _connect(self) -> Any:
        engine = self.engine
        _args, options = engine.dialect.create_connect_args(engine.url)
        for sqlalchemy_only in ("prepared_statement_cache_size", "prepared_statement_name_func"):
            options.pop(sqlalchemy_only, None)
        options.setdefault("timeout", TIMEOUT_S)
        return await asyncpg.connect(**options)

    async def _check(self, conn: Any) -> None:
        try:
            await conn.fetchval("SELECT 1", timeout=TIMEOUT_S)
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise ListenerLost(f"the listening connection does not answer: {exc}") from exc

    def _notified(self, _conn: Any, _pid: int, channel: str, _payload: str) -> None:
        self.received += 1
        for event in self._events.get(channel, ()):
            event.set()

    def _wake_all(self) -> None:
        for events in self._events.values():
            for event in events:
                event.set()

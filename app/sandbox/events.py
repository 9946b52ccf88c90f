"""The sandbox org's event bus: one retained, replayable log per channel.

Every channel (``/data/OrderChangeEvent``, ``/event/Order_Status__e`` ...) shares one
replay-id sequence that increases with gaps, as Salesforce's does: ids are opaque to
clients, so nobody may compute one from another.  Both the CometD endpoint and (later)
the Pub/Sub endpoint read from this log.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import itertools
import random
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

RETENTION_S = 72 * 3600


class ReplayIdInvalid(Exception):
    """A replay id that is unknown on the channel or older than the retention window."""

    def __init__(self, replay_id: int) -> None:
        super().__init__(replay_id)
        self.replay_id = replay_id


@dataclass(frozen=True)
class StoredEvent:
    """One event as the bus keeps it.

    ``payload`` is the CometD-style body: for change events ``ChangeEventHeader``
    plus the fields present on the wire (changed ones for UPDATE), for platform
    events the event fields.  ``record`` is the full record state after the change
    (change events only) so that an Avro rendering with every field can be built;
    it is ``{}`` for GAP_* and GAP_OVERFLOW events, whose bodies are empty.
    """

    replay_id: int
    channel: str
    payload: dict[str, Any]
    schema_id: str
    created_at: float
    event_uuid: str
    record: dict[str, Any] | None = None


def _replay_id_of(event: StoredEvent) -> int:
    return event.replay_id


@dataclass
class _Channel:
    events: list[StoredEvent] = field(default_factory=list)


class EventLog:
    """Append-only retained log of events per channel, with long-poll waiting."""

    def __init__(
        self,
        retention_s: float = RETENTION_S,
        clock: Callable[[], float] = time.time,
        seed: int | None = None,
    ) -> None:
        self.retention_s = retention_s
        self.clock = clock
        self._rng = random.Random(seed)
        self._next_id = itertools.count(1000 + self._rng.randint(0, 1000))
        self._channels: dict[str, _Channel] = {}
        self._changed = asyncio.Event()
        self.known_channels: set[str] = set()
        # fault hook: True means 'the bus delivers this event twice' (see ``append``)
        self.duplicate: Callable[[StoredEvent], bool] | None = None

    def declare(self, channel: str) -> None:
        """Make a channel exist (subscribable) before any event is published on it."""
        self.known_channels.add(channel)
        self._channels.setdefault(channel, _Channel())

    def exists(self, channel: str) -> bool:
        return channel in self.known_channels

    def _new_replay_id(self) -> int:
        # increasing but not contiguous, like the real bus
        rid = next(self._next_id)
        for _ in range(self._rng.randint(0, 3)):
            rid = next(self._next_id)
        return rid

    def append(
        self,
        channel: str,
        payload: dict[str, Any],
        *,
        schema_id: str = "",
        record: dict[str, Any] | None = None,
        event_uuid: str | None = None,
    ) -> StoredEvent:
        """Store an event; a duplicate (same payload and EventUuid, later id) may follow."""
        self.declare(channel)
        event = StoredEvent(
            replay_id=self._new_replay_id(),
            channel=channel,
            payload=payload,
            schema_id=schema_id,
            created_at=self.clock(),
            event_uuid=event_uuid or str(uuid.uuid4()),
            record=record,
        )
        self._channels[channel].events.append(event)
        if self.duplicate is not None and self.duplicate(event):
            copy = replace(event, replay_id=self._new_replay_id(), created_at=self.clock())
            self._channels[channel].events.append(copy)
        self._wake()
        return event

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def _retained(self, channel: str) -> list[StoredEvent]:
        horizon = self.clock() - self.retention_s
        chan = self._channels.get(channel)
        if chan is None:
            return []
        if not chan.events or chan.events[0].created_at >= horizon:
            return chan.events  # fast path: nothing expired (callers must not mutate)
        # drop expired events for good: an expired replay id must stay invalid
        keep = [e for e in chan.events if e.created_at >= horizon]
        if len(keep) != len(chan.events):
            chan.events = keep
        return keep

    def expire(self, channel: str | None = None, *, keep_last: int = 0) -> int:
        """Drop retained events (a fault switch: 'the stored replay id expired')."""
        dropped = 0
        for name, chan in self._channels.items():
            if channel is not None and name != channel:
                continue
            cut = len(chan.events) - keep_last if keep_last else len(chan.events)
            cut = max(cut, 0)
            dropped += cut
            chan.events = chan.events[cut:]
        return dropped

    def latest_replay_id(self, channel: str) -> int | None:
        events = self._retained(channel)
        return events[-1].replay_id if events else None

    def after(self, channel: str, replay_id: int) -> list[StoredEvent]:
        """Events after ``replay_id`` (exclusive); -2 = all retained, -1 = none (the tip).

        Raises ReplayIdInvalid when N is neither retained on the channel nor the
        id of an event that is still ahead of the retention horizon.
        """
        events = self._retained(channel)
        if replay_id == -2:
            return list(events)
        if replay_id == -1:
            return []
        if not any(e.replay_id == replay_id for e in events):
            raise ReplayIdInvalid(replay_id)
        return [e for e in events if e.replay_id > replay_id]

    def tip(self, channel: str) -> int:
        """A cursor meaning 'nothing seen yet after the current tip'."""
        latest = self.latest_replay_id(channel)
        return latest if latest is not None else 0

    def since(self, channel: str, cursor: int, limit: int | None = None) -> list[StoredEvent]:
        """Like ``newer_than`` (oldest first), but O(log n) and at most ``limit`` events."""
        events = self._retained(channel)
        start = bisect.bisect_right(events, cursor, key=_replay_id_of)
        return events[start : start + limit] if limit else events[start:]

    def is_retained(self, channel: str, replay_id: int) -> bool:
        """True when ``replay_id`` is the id of a retained event on ``channel``."""
        events = self._retained(channel)
        i = bisect.bisect_left(events, replay_id, key=_replay_id_of)
        return i < len(events) and events[i].replay_id == replay_id

    async def wait(self, timeout: float) -> None:  # noqa: ASYNC109
        """Wait until something is appended, or ``timeout`` seconds pass."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), timeout)

    def all_events(self, channels: Iterable[str] | None = None) -> list[StoredEvent]:
        names = list(channels) if channels is not None else list(self._channels)
        out: list[StoredEvent] = []
        for name in names:
            out.extend(self._retained(name))
        return sorted(out, key=lambda e: e.replay_id)

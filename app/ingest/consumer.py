"""The event consumer: Salesforce stream -> inbox, one transaction per event.

The replay id is read from the database at every (re)subscribe and written in the
same transaction as the event, so a crash at any point resumes right after the
last recorded event and a redelivered event is dropped by its dedupe key.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from app import audit
from app.aio import sleep_until
from app.config import Settings
from app.db.database import Database
from app.ingest.cometd import CometdSource, ReplayIdExpired, TokenAuthenticator
from app.ingest.events import IncomingEvent, MalformedEvent, parse_cometd
from app.ingest.inbox import advance_checkpoint, dead_letter, get_checkpoint, record_events
from app.metrics import EVENTS_DUPLICATE, EVENTS_RECEIVED
from app.salesforce.auth import TokenProvider

log = logging.getLogger("revflow.ingest")

ALL_RETAINED = -2
MAX_BATCH = 500


class CometdConsumer:
    def __init__(
        self,
        db: Database,
        tokens: TokenProvider,
        settings: Settings,
        on_event: Callable[[], Any] | None = None,
    ) -> None:
        self.db = db
        self.tokens = tokens
        self.settings = settings
        self.on_event = on_event
        self.received = 0
        self.duplicates = 0
        self.dead_letters = 0
        self.incidents = 0
        self._fallback: dict[str, int] = {}

    async def _fetch_token(self) -> dict[str, Any]:
        token = await self.tokens.token(refresh=True)
        return token.raw | {"instance_url": token.instance_url}

    async def get_replay(self, channel: str) -> int | None:
        if channel in self._fallback:
            return self._fallback.pop(channel)
        async with self.db.read() as s:
            stored = await get_checkpoint(s, channel)
        return int(stored) if stored is not None else None

    async def run(self, stop: asyncio.Event) -> None:
        backoff = 0.5
        while not stop.is_set():
            try:
                source = CometdSource(
                    TokenAuthenticator(self._fetch_token),
                    api_version=self.settings.salesforce.api_version,
                    channels=self.settings.ingest.channels,
                    get_replay=self.get_replay,
                    default_replay=-2 if self.settings.ingest.initial_replay == "earliest" else -1,
                )
                async with source:
                    backoff = 0.5
                    await self._consume(source, stop)
            except ReplayIdExpired as exc:
                await self._replay_expired(exc)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning(
                    "event stream failed; reconnecting",
                    extra={"error": f"{type(exc).__name__}: {exc}", "retry_in_s": backoff},
                )
                await sleep_until(backoff, stop)
                backoff = min(backoff * 2, 30.0)

    async def _replay_expired(self, exc: ReplayIdExpired) -> None:
        """Never jump to the tip: replay everything retained; the inbox drops duplicates."""
        channel = exc.channel
        self.incidents += 1
        self._fallback[channel] = ALL_RETAINED
        log.error(
            "stored replay id no longer retained; replaying all retained events",
            extra={"channel": channel, "replay_id": exc.replay_id},
        )
        async with self.db.write() as s:
            audit.record(
                s,
                "ingest",
                "incident.replay_id_expired",
                channel=channel,
                replay_id=exc.replay_id,
                recovery="resubscribe with -2 and dedupe",
            )

    async def _consume(self, source: CometdSource, stop: asyncio.Event) -> None:
        """Read messages on one task, record them in batches on this one.

        Whatever has arrived while the previous batch was being written goes into
        the next transaction, so throughput grows with load and latency stays low.
        """
        queue: asyncio.Queue[dict[str, Any] | BaseException] = asyncio.Queue(MAX_BATCH * 2)

        async def read() -> None:
            try:
                async for message in source.messages():
                    await queue.put(message)
            except BaseException as exc:  # handed to the writer, which re-raises
                await queue.put(exc)

        reader = asyncio.create_task(read())
        try:
            while not stop.is_set():
                first = await queue.get()
                batch = [first]
                while len(batch) < MAX_BATCH and not queue.empty():
                    batch.append(queue.get_nowait())
                messages = [m for m in batch if isinstance(m, dict)]
                if messages:
                    await self.handle_batch(messages)
                failure = next((m for m in batch if isinstance(m, BaseException)), None)
                if failure is not None:
                    raise failure
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)

    async def handle(self, message: dict[str, Any]) -> None:
        await self.handle_batch([message])

    async def handle_batch(self, messages: list[dict[str, Any]]) -> None:
        """Record messages in one transaction, in order; the checkpoint moves with them.

        Malformed messages go to the dead-letter table in the same transaction.
        """
        events: dict[str, IncomingEvent] = {}  # first delivery of each dedupe key
        bad: list[tuple[str, str, dict[str, Any]]] = []
        last_replay: dict[str, str] = {}
        delivered = 0
        for message in messages:
            channel = str(message.get("channel", "?"))
            try:
                event = parse_cometd(message)
            except MalformedEvent as exc:
                bad.append((channel, str(exc), message))
                if (replay := _replay_id(message)) is not None:
                    last_replay[channel] = str(replay)
                continue
            delivered += 1
            events.setdefault(event.dedupe_key, event)
            last_replay[event.channel] = event.replay_id
        async with self.db.write() as s:
            new_keys = await record_events(s, list(events.values()))
            for channel, reason, message in bad:
                dead_letter(s, "ingest", reason, message, reference=channel)
            for channel, replay_id in last_replay.items():
                await advance_checkpoint(s, channel, replay_id)
        for channel, reason, _message in bad:
            log.warning(
                "malformed event dead-lettered", extra={"channel": channel, "reason": reason}
            )
        self.dead_letters += len(bad)
        self.received += len(new_keys)
        self.duplicates += delivered - len(new_keys)
        for key in new_keys:
            EVENTS_RECEIVED.labels(channel=events[key].channel).inc()
        if delivered > len(new_keys):
            EVENTS_DUPLICATE.labels(channel="all").inc(delivered - len(new_keys))
        if new_keys and self.on_event:
            self.on_event()


def _replay_id(message: dict[str, Any]) -> Any:
    data = message.get("data")
    event = data.get("event") if isinstance(data, dict) else None
    return event.get("replayId") if isinstance(event, dict) else None

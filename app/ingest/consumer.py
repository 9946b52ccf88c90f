"""The event consumer: Salesforce stream -> inbox, in batches, one transaction each.

The replay id is read from the database at every (re)subscribe and written in the
same transaction as the events, so a crash at any point resumes right after the
last recorded event and a redelivered event is dropped by its dedupe key.  The
process consumes only while it holds the channels' leases (one consumer per
channel across all processes); every batch re-checks the lease before it commits.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol

from tenacity import RetryCallState, retry_if_exception, retry_if_result, wait_fixed

from revflow import incidents
from revflow.aio import Beat, no_beat
from revflow.alerts.service import raise_deferred
from revflow.config import Settings
from revflow.db.database import Database
from revflow.ingest import repository
from revflow.ingest.cometd import CometdSource, TokenAuthenticator
from revflow.ingest.errors import LeaseLost, ReplayIdExpired
from revflow.ingest.events import (
    NO_TRIGGER,
    IncomingEvent,
    MalformedEvent,
    echo_on_arrival,
    inert,
    parse_cometd,
    skip_note,
)
from revflow.ingest.inbox import Batch, record_batch
from revflow.ingest.leases import ChannelLeases
from revflow.metrics import EVENTS_DUPLICATE, EVENTS_RECEIVED, EVENTS_SKIPPED
from revflow.plans.retry import forever
from revflow.retrying import forever_until, start_over, wait_policy
from revflow.salesforce.auth import TokenProvider
from revflow.salesforce.targets import own_fields

if TYPE_CHECKING:
    from revflow.ingest.reconcile import Reconciler

log = logging.getLogger("revflow.ingest")
# reconnects of a failed event stream: 0.5 s doubling up to 30 s
RECONNECT_BACKOFF = forever(0.5, 30.0, jitter=0.0)

ALL_RETAINED = -2
MAX_BATCH = 500


class EventSource(AbstractAsyncContextManager[Any], Protocol):
    """What a transport offers: CometD-shaped event messages, in replay order."""

    def messages(self) -> Any: ...


class EventConsumer:
    """Consumes the configured channels over CometD or the Pub/Sub API."""

    def __init__(
        self,
        db: Database,
        tokens: TokenProvider,
        settings: Settings,
        on_event: Callable[[], Any] | None = None,
        owner: str | None = None,
        reconciler: Reconciler | None = None,
    ) -> None:
        self.db = db
        self.tokens = tokens
        self.settings = settings
        self.on_event = on_event
        self.reconciler = reconciler
        self.transport = settings.ingest.transport
        self.owner = owner or f"{socket.gethostname()}:{uuid.uuid4().hex[:8]}"
        self.leases = ChannelLeases(
            db, self.owner, settings.ingest.channels, settings.ingest.lease_s
        )
        self.received = 0
        self.duplicates = 0
        self.dead_letters = 0
        self.incidents = 0
        self._fallback: set[str] = set()
        sf = settings.salesforce
        fields = own_fields(settings.writeback) if settings.ingest.echo_by_fields else frozenset()
        # the intake's echo rule, applied on arrival: an echo (like an ``inert`` event) is
        # stored already skipped, so the intake neither wakes for it nor reads and marks it
        self._echo = partial(
            echo_on_arrival,
            client_id=sf.call_options_client,
            integration_user_id=sf.integration_user_id,
            own_fields=fields,
        )

    # -- replay positions ------------------------------------------------------

    def checkpoint_key(self, channel: str) -> str:
        """Replay ids are per transport (CometD numbers, Pub/Sub opaque bytes)."""
        return channel if self.transport == "cometd" else f"{self.transport}:{channel}"

    async def _stored(self, channel: str) -> str | None:
        async with self.db.read() as s:
            return await repository.get_checkpoint(s, self.checkpoint_key(channel))

    async def get_replay(self, channel: str) -> int | None:
        """CometD: the replay id to resume after (-2 after an expired one)."""
        if channel in self._fallback:
            self._fallback.discard(channel)
            return ALL_RETAINED
        stored = await self._stored(channel)
        return int(stored) if stored is not None else None

    async def get_replay_bytes(self, channel: str) -> str | int | None:
        """Pub/Sub: the hex replay id to resume after (-2 after an expired one)."""
        if channel in self._fallback:
            self._fallback.discard(channel)
            return ALL_RETAINED
        return await self._stored(channel)

    # -- the loop --------------------------------------------------------------------

    async def _fetch_token(self) -> dict[str, Any]:
        token = await self.tokens.token(refresh=True)
        return token.raw | {"instance_url": token.instance_url}

    def _initial(self) -> int:
        return ALL_RETAINED if self.settings.ingest.initial_replay == "earliest" else -1

    def source(self) -> EventSource:
        channels = self.settings.ingest.channels
        if self.transport == "pubsub":
            from revflow.ingest.pubsub.source import PubSubSource

            return PubSubSource(
                self._fetch_token,
                self.settings.ingest.pubsub_endpoint,
                channels,
                self.get_replay_bytes,
                tls=self.settings.ingest.pubsub_tls,
                default_replay=self._initial(),
            )
        return CometdSource(
            TokenAuthenticator(self._fetch_token),
            api_version=self.settings.salesforce.api_version,
            channels=channels,
            get_replay=self.get_replay,
            default_replay=self._initial(),
        )

    async def run(self, stop: asyncio.Event, beat: Beat = no_beat) -> None:
        """Consume while holding the leases; a database error ends the loop (the
        supervisor restarts it; the stored replay ids make the restart lose nothing)."""
        if self.transport == "polling":
            return  # orgs without CDC: the reconciliation sweep does the work
        while await self._acquire(stop, beat):
            log.info(
                "consuming",
                extra={
                    "channels": self.leases.channels,
                    "owner": self.owner,
                    "transport": self.transport,
                },
            )
            try:
                await self._stream(stop, beat)
            except ReplayIdExpired as exc:
                await self._replay_expired(exc)
            except LeaseLost as exc:
                log.error("channel lease lost; standing by", extra={"error": str(exc)})
        try:
            await self.leases.release()
        except Exception:
            log.exception("could not release channel leases")

    async def _acquire(self, stop: asyncio.Event, beat: Beat) -> bool:
        """Hold the leases, standing by (a healthy wait) until they are free; False
        once ``stop`` is set."""
        if stop.is_set():
            return False
        standing_by = forever_until(
            stop,
            wait=wait_fixed(self.settings.ingest.lease_s / 3),
            retry=retry_if_result(lambda held: held is False),
            before_sleep=lambda _retry: beat(),
        )
        return bool(await standing_by(self.leases.acquire)) and not stop.is_set()

    async def _stream(self, stop: asyncio.Event, beat: Beat) -> None:
        """Open the source and consume until ``stop``; a failed stream is reopened after
        ``RECONNECT_BACKOFF`` (counted from its last successful open).  An expired
        replay id or a lost lease is the caller's to handle."""
        reconnecting = forever_until(
            stop,
            wait=wait_policy(RECONNECT_BACKOFF),
            retry=retry_if_exception(_reconnect),
            before_sleep=_stream_failed,
        )
        async for attempt in reconnecting:
            with attempt:
                if stop.is_set():  # stopped during the wait: do not reopen
                    return
                if attempt.retry_state.attempt_number > 1 and not await self.leases.acquire():
                    raise LeaseLost("channel leases taken while reconnecting")
                async with self.source() as source:
                    start_over(attempt.retry_state)
                    beat()
                    await self._consume(source, stop, beat)

    async def _replay_expired(self, exc: ReplayIdExpired) -> None:
        """Never jump to the tip: replay everything retained (the inbox drops duplicates)
        and reconcile by query the window since the last recorded event."""
        self.incidents += 1
        self._fallback.add(exc.channel)
        log.error(
            "stored replay id no longer retained; replaying all retained events",
            extra={"channel": exc.channel, "replay_id": exc.replay_id},
        )
        async with self.db.read() as s:
            last_seen = await repository.last_received_at(s, exc.channel)
        entity = _entity(exc.channel)
        recovered: list[str] = []
        if self.reconciler is not None and entity and last_seen is not None:
            since = last_seen - timedelta(seconds=self.settings.reconcile.skew_s)
            try:
                result = await self.reconciler.reconcile_window(
                    entity, since, reason="replay_id_expired"
                )
                recovered = list(result.created)
            except Exception as err:  # the sweep will still catch it later
                log.warning(
                    "reconciliation after expired replay id failed", extra={"error": str(err)}
                )
        async with self.db.write() as s:
            incidents.record_recovered(
                s,
                "replay_id_expired",
                {
                    "replay_id": str(exc.replay_id),
                    "error": str(exc),
                    "last_seen": last_seen.isoformat() if last_seen else None,
                    "plans_recovered": recovered,
                },
                "resubscribed from the earliest retained event (duplicates dropped by "
                "dedupe key) and reconciled the missed window by SystemModstamp query",
                channel=exc.channel,
                entity=entity,
            )
            await raise_deferred(s)

    async def _consume(
        self, source: EventSource, stop: asyncio.Event, beat: Beat = no_beat
    ) -> None:
        """Read messages on one task, record them in batches on this one.

        Whatever has arrived while the previous batch was being written goes into
        the next transaction, so throughput grows with load and latency stays low.
        A keeper task renews the channel leases meanwhile.
        """
        queue: asyncio.Queue[dict[str, Any] | BaseException] = asyncio.Queue(MAX_BATCH * 2)

        async def read() -> None:
            try:
                async for message in source.messages():
                    await queue.put(message)
            except BaseException as exc:  # handed to the writer, which re-raises
                await queue.put(exc)

        async def keep_lease() -> None:
            try:
                while True:
                    await asyncio.sleep(self.settings.ingest.lease_s / 3)
                    await self.leases.renew()
                    beat()
            except BaseException as exc:
                await queue.put(exc)

        tasks = [asyncio.create_task(read()), asyncio.create_task(keep_lease())]
        stopping = asyncio.create_task(stop.wait())
        try:
            while not stop.is_set():
                getter = asyncio.create_task(queue.get())
                await asyncio.wait([getter, stopping], return_when=asyncio.FIRST_COMPLETED)
                if not getter.done():
                    getter.cancel()
                    break
                batch = [getter.result()]
                while len(batch) < MAX_BATCH and not queue.empty():
                    batch.append(queue.get_nowait())
                messages = [m for m in batch if isinstance(m, dict)]
                if messages:
                    await self.handle_batch(messages)
                    beat()
                failure = next((m for m in batch if isinstance(m, BaseException)), None)
                if failure is not None:
                    raise failure
        finally:
            stopping.cancel()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, stopping, return_exceptions=True)

    async def handle_batch(self, messages: list[dict[str, Any]], fenced: bool = True) -> None:
        """Record messages in one transaction, in order; the checkpoint moves with them.

        Malformed messages go to the dead-letter table in the same transaction;
        platform events are also stored as signals for the plans waiting on them.
        """
        events: dict[str, IncomingEvent] = {}  # first delivery of each dedupe key
        bad: list[tuple[str, str, dict[str, Any]]] = []
        skipped: dict[str, str] = {}  # dedupe key -> why it is skipped (echo or no trigger)
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
            if event.dedupe_key not in events:
                if (echo := self._echo(event)) is not None:
                    skipped[event.dedupe_key] = echo
                elif inert(event):
                    skipped[event.dedupe_key] = NO_TRIGGER
            events.setdefault(event.dedupe_key, event)
            last_replay[event.channel] = event.replay_id
        batch = Batch(
            events=list(events.values()),
            bad=bad,
            checkpoints={self.checkpoint_key(c): r for c, r in last_replay.items()},
            skipped={key: skip_note(reason) for key, reason in skipped.items()},
        )
        async with self.db.write() as s:
            if fenced:
                await self.leases.renew(s)
            new_keys = await record_batch(s, batch, self.settings.ingest.correlation_fields)
        for channel, reason, _message in bad:
            log.warning(
                "malformed event dead-lettered", extra={"channel": channel, "reason": reason}
            )
        self.dead_letters += len(bad)
        self.received += len(new_keys)
        self.duplicates += delivered - len(new_keys)
        for key in new_keys:
            EVENTS_RECEIVED.labels(channel=events[key].channel).inc()
            if (why := skipped.get(key)) is not None:
                EVENTS_SKIPPED.labels(reason=why).inc()
        if delivered > len(new_keys):
            EVENTS_DUPLICATE.labels(channel="all").inc(delivered - len(new_keys))
        if self.on_event and any(key not in skipped for key in new_keys):
            self.on_event()  # only events the intake has to handle wake it


def _entity(channel: str) -> str | None:
    """``/data/OrderChangeEvent`` -> ``Order``; None for platform events."""
    name = channel.rsplit("/", 1)[-1]
    if not channel.startswith("/data/") or not name.endswith("ChangeEvent"):
        return None
    entity = name.removesuffix("ChangeEvent")
    return entity + "c" if entity.endswith("__") else entity  # My_Object__ChangeEvent


def _replay_id(message: dict[str, Any]) -> Any:
    data = message.get("data")
    event = data.get("event") if isinstance(data, dict) else None
    return event.get("replayId") if isinstance(event, dict) else None


def _reconnect(exc: BaseException) -> bool:
    """A stream failure worth reopening for (not an expired replay id or a lost lease)."""
    return isinstance(exc, Exception) and not isinstance(exc, ReplayIdExpired | LeaseLost)


def _stream_failed(retry: RetryCallState) -> None:
    exc = retry.outcome.exception() if retry.outcome else None
    log.warning(
        "event stream failed; reconnecting",
        extra={"error": f"{type(exc).__name__}: {exc}", "retry_in_s": retry.upcoming_sleep},
    )

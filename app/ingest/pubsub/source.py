"""Revflow's Pub/Sub API (gRPC) source, a drop-in for ``revflow.ingest.cometd.CometdSource``.

``async with PubSubSource(...) as source: async for message in source.messages()``
yields CometD-shaped event messages (see ``revflow.ingest.pubsub.avro.to_cometd_shape``;
``data.event.replayId`` is the Pub/Sub replay id as lowercase hex).

* One ``Subscribe`` stream per topic, run concurrently and merged; per topic the
  order is the bus order.  Flow control: ``batch_size`` (≤100) events are requested
  first and again whenever ``pending_num_requested`` reaches 0; the bounded output
  queue applies back-pressure.  Keepalives yield nothing (``latest_replay_ids``
  keeps their ``latest_replay_id``).
* Every (re)subscribe starts from ``get_replay(topic)``: a hex string → CUSTOM,
  ``None`` → ``default_replay`` (-1 LATEST, -2 EARLIEST; -1/-2 may also be returned
  by ``get_replay``).  A rejected stored id raises ``ReplayIdExpired``; the source
  never jumps to the tip by itself.
* Errors, by the ``error-code`` trailer: auth errors → new token, resubscribe;
  ``topic.not.found``, ``subscription.limit.exceeded`` (and other permanent codes)
  → ``PubSubFatalError``; everything else, and a closed stream → reconnect with
  exponential backoff.  Events already queued are not queued twice after a reconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from types import TracebackType
from typing import Any

import grpc
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type

from revflow.ingest.errors import PubSubAuthError, PubSubError, PubSubFatalError, ReplayIdExpired
from revflow.ingest.pubsub import pubsub_api_pb2 as pb
from revflow.ingest.pubsub import pubsub_api_pb2_grpc as pb_grpc
from revflow.ingest.pubsub.avro import SchemaCache, to_cometd_shape
from revflow.plans.retry import forever
from revflow.retrying import start_over

LOGGER = logging.getLogger(__name__)

FetchToken = Callable[[], Awaitable[dict[str, Any]]]
GetReplay = Callable[[str], Awaitable[str | int | None]]
LATEST, EARLIEST = -1, -2
MAX_BATCH = 100
ERROR_PREFIX = "sfdc.platform.eventbus.grpc."
REPLAY_CORRUPTED = ERROR_PREFIX + "subscription.fetch.replayid.corrupted"
AUTH_CODES = frozenset(
    ERROR_PREFIX + c
    for c in ("service.auth.error", "service.auth.refresh.invalid", "service.auth.headers.invalid")
)
FATAL_CODES = frozenset(
    ERROR_PREFIX + c
    for c in (
        "topic.not.found",
        "topic.meta.permission",
        "topic.validation.empty",
        "subscription.limit.exceeded",
        "subscription.topic.cannot.subscribe",
        "subscription.fetch.replayid.validation.failed",
        "subscription.fetch.requested.events.invalid",
        "subscription.fetch.topic.mismatch",
        "service.tenant.license",
    )
)


_CLOSED = object()


def error_code(exc: grpc.aio.AioRpcError) -> str | None:
    """The ``error-code`` trailer of a failed RPC."""
    for key, value in exc.trailing_metadata() or ():
        if key == "error-code":
            return value if isinstance(value, str) else value.decode()
    return None


def _error(cls: type[PubSubError], topic: str, exc: grpc.aio.AioRpcError) -> PubSubError:
    return cls(topic, error_code(exc), exc.code().name, str(exc.details()))


class _Recent:
    """A bounded set of recently queued replay ids (skips redeliveries after reconnects)."""

    def __init__(self, size: int) -> None:
        self._order: deque[bytes] = deque(maxlen=size)
        self._set: set[bytes] = set()

    def add(self, item: bytes) -> bool:
        """False when ``item`` was seen already."""
        if item in self._set:
            return False
        if len(self._order) == self._order.maxlen:
            self._set.discard(self._order[0])
        self._order.append(item)
        self._set.add(item)
        return True


class PubSubSource:
    """Subscribes to Pub/Sub API topics and yields CometD-shaped event messages."""

    def __init__(
        self,
        fetch_token: FetchToken,
        target: str,
        topics: list[str],
        get_replay: GetReplay,
        *,
        tls: bool,
        default_replay: int = LATEST,
        batch_size: int = MAX_BATCH,
        initial_backoff_s: float = 0.5,
        max_backoff_s: float = 30.0,
        max_auth_failures: int = 3,
        tenant_id: str | None = None,
    ) -> None:
        if default_replay not in (LATEST, EARLIEST):
            raise ValueError("default_replay must be -1 (LATEST) or -2 (EARLIEST)")
        self.target = target
        self.topics = list(topics)
        self.tls = tls
        self.default_replay = default_replay
        self.batch_size = max(1, min(batch_size, MAX_BATCH))
        self.initial_backoff_s = initial_backoff_s
        self.max_backoff_s = max_backoff_s
        self._policy = forever(initial_backoff_s, max_backoff_s)
        self.max_auth_failures = max_auth_failures
        self.tenant_id = tenant_id
        self.latest_replay_ids: dict[str, str] = {}  # topic -> hex, from keepalives
        self.reconnects = 0
        self._fetch_token = fetch_token
        self._get_replay = get_replay
        self._token: dict[str, Any] = {}
        self._token_gen = 0
        self._token_lock = asyncio.Lock()
        self._channel: grpc.aio.Channel | None = None
        self._stub: pb_grpc.PubSubStub | None = None
        self._schemas = SchemaCache(self._fetch_schema)
        self._queue: asyncio.Queue[Any] = asyncio.Queue(2 * self.batch_size)
        self._tasks: list[asyncio.Task[None]] = []

    # -- lifecycle ----------------------------------------------------------------

    async def open(self) -> None:
        """Authenticate, check every topic (``GetTopic``) and start the streams."""
        if self._channel is not None:
            raise RuntimeError("PubSubSource is already open")
        if self.tls:
            self._channel = grpc.aio.secure_channel(self.target, grpc.ssl_channel_credentials())
        else:
            self._channel = grpc.aio.insecure_channel(self.target)
        self._stub = pb_grpc.PubSubStub(self._channel)
        try:
            await self._refresh_token(self._token_gen)
            for topic in self.topics:
                await self._check_topic(topic)
        except BaseException:
            await self.close()
            raise
        self._tasks = [asyncio.create_task(self._run(topic)) for topic in self.topics]

    async def close(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        channel, self._channel = self._channel, None
        self._stub = None
        if channel is not None:
            await channel.close()
            with contextlib.suppress(asyncio.QueueFull):
                self._queue.put_nowait(_CLOSED)

    async def __aenter__(self) -> PubSubSource:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def messages(self) -> AsyncIterator[dict[str, Any]]:
        """Yield event messages until the source closes.

        Raises ``ReplayIdExpired``, ``PubSubFatalError``, ``PubSubAuthError`` or a
        ``fetch_token`` failure; transient errors are retried inside.
        """
        while True:
            item = await self._queue.get()
            if item is _CLOSED:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    # -- auth ---------------------------------------------------------------------

    async def _refresh_token(self, seen_gen: int) -> None:
        """Fetch a new token unless another stream already did since ``seen_gen``."""
        async with self._token_lock:
            if self._token_gen == seen_gen:
                self._token = dict(await self._fetch_token())
                self._token_gen += 1

    def _metadata(self) -> tuple[tuple[str, str], ...]:
        token = self._token
        tenant = self.tenant_id or str(token.get("id", "")).rstrip("/").split("/")[-2:][0]
        return (
            ("accesstoken", str(token.get("access_token", ""))),
            ("instanceurl", str(token.get("instance_url", ""))),
            ("tenantid", tenant),
        )

    async def _check_topic(self, topic: str) -> None:
        assert self._stub is not None
        for attempt in range(2):
            gen = self._token_gen
            try:
                info = await self._stub.GetTopic(
                    pb.TopicRequest(topic_name=topic), metadata=self._metadata()
                )
            except grpc.aio.AioRpcError as exc:
                code = error_code(exc)
                if self._is_auth(exc, code) and attempt == 0:
                    await self._refresh_token(gen)
                    continue
                if self._is_auth(exc, code):
                    raise _error(PubSubAuthError, topic, exc) from None
                if code in FATAL_CODES or exc.code() == grpc.StatusCode.NOT_FOUND:
                    raise _error(PubSubFatalError, topic, exc) from None
                raise _error(PubSubError, topic, exc) from None
            if not info.can_subscribe:
                raise PubSubFatalError(topic, None, "PERMISSION_DENIED", "cannot subscribe")
            return

    @staticmethod
    def _is_auth(exc: grpc.aio.AioRpcError, code: str | None) -> bool:
        return code in AUTH_CODES or (
            code is None and exc.code() == grpc.StatusCode.UNAUTHENTICATED
        )

    async def _fetch_schema(self, schema_id: str) -> str:
        assert self._stub is not None
        info = await self._stub.GetSchema(
            pb.SchemaRequest(schema_id=schema_id), metadata=self._metadata()
        )
        return str(info.schema_json)

    # -- streams ------------------------------------------------------------------

    async def _run(self, topic: str) -> None:
        """Subscribe to one topic until closed; hand fatal errors to ``messages()``."""
        try:
            await self._follow(topic)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            await self._queue.put(exc)

    def _wait(self, retry: RetryCallState) -> float:
        """Before the next subscribe: at once with a fresh token, else the reconnect
        backoff (doubling from the initial delay, +-20 %) of the failures since the
        last stream that delivered."""
        exc = retry.outcome.exception() if retry.outcome else None
        if isinstance(exc, _Resubscribe) and exc.at_once:
            return 0.0
        return self._policy.backoff_s(retry.attempt_number)

    def _reconnecting(self, retry: RetryCallState) -> None:
        exc = retry.outcome.exception() if retry.outcome else None
        if not (isinstance(exc, _Resubscribe) and exc.at_once):
            self.reconnects += 1

    async def _follow(self, topic: str) -> None:
        recent = _Recent(4 * MAX_BATCH)
        auth_failures = [0]  # since the last stream that delivered
        resubscribing = AsyncRetrying(
            wait=self._wait,
            retry=retry_if_exception_type(_Resubscribe),
            before_sleep=self._reconnecting,
            reraise=True,
        )
        async for attempt in resubscribing:
            with attempt:
                await self._subscribe(topic, recent, auth_failures, attempt.retry_state)

    async def _subscribe(
        self, topic: str, recent: _Recent, auth_failures: list[int], retry: RetryCallState
    ) -> None:
        """One subscription until it ends: raises ``_Resubscribe`` to go again, or
        the error that ends the topic (expired replay id, fatal or auth error)."""
        replay = await self._get_replay(topic)
        first = self._first_request(topic, replay)
        gen = self._token_gen
        progress: list[bool] = []
        try:
            await self._stream(topic, first, recent, progress)
            LOGGER.info("Pub/Sub stream for %s closed by the server; resubscribing", topic)
            if progress:
                start_over(retry)
        except grpc.aio.AioRpcError as exc:
            code = error_code(exc)
            if code == REPLAY_CORRUPTED and first.replay_preset == pb.CUSTOM:
                raise _expired(topic, replay, f"{code}: {exc.details()}") from None
            if progress:
                auth_failures[0] = 0
                start_over(retry)
            if self._is_auth(exc, code):
                auth_failures[0] += 1
                if auth_failures[0] > self.max_auth_failures:
                    raise _error(PubSubAuthError, topic, exc) from None
                await self._refresh_token(gen)
                if auth_failures[0] == 1:
                    raise _Resubscribe(at_once=True) from None  # with the new token
            elif code in FATAL_CODES:
                raise _error(PubSubFatalError, topic, exc) from None
            else:
                LOGGER.warning(
                    "Pub/Sub stream for %s failed (%s %s); reconnecting",
                    topic,
                    exc.code().name,
                    code,
                )
        raise _Resubscribe()

    def _first_request(self, topic: str, replay: str | int | None) -> pb.FetchRequest:
        request = pb.FetchRequest(topic_name=topic, num_requested=self.batch_size)
        if isinstance(replay, str) and replay:
            try:
                request.replay_id = bytes.fromhex(replay)
            except ValueError:
                raise _expired(topic, replay, "not a Pub/Sub replay id (hex)") from None
            request.replay_preset = pb.CUSTOM
            return request
        preset = self.default_replay if replay is None or replay == "" else replay
        if preset not in (LATEST, EARLIEST):
            raise _expired(topic, replay, "not a Pub/Sub replay id (hex)")
        request.replay_preset = pb.EARLIEST if preset == EARLIEST else pb.LATEST
        return request

    async def _stream(
        self, topic: str, first: pb.FetchRequest, recent: _Recent, progress: list[bool]
    ) -> None:
        """One Subscribe call: queue its events until the stream ends or fails."""
        assert self._stub is not None
        call = self._stub.Subscribe(metadata=self._metadata())
        try:
            await call.write(first)
            while True:
                response = await call.read()
                if response is grpc.aio.EOF:
                    return
                if not progress:
                    progress.append(True)
                if not response.events:
                    if response.latest_replay_id:
                        self.latest_replay_ids[topic] = response.latest_replay_id.hex()
                    continue
                for event in response.events:
                    if recent.add(event.replay_id):
                        await self._queue.put(await self._shape(topic, event))
                if response.pending_num_requested <= 0:
                    await call.write(
                        pb.FetchRequest(topic_name=topic, num_requested=self.batch_size)
                    )
        finally:
            call.cancel()

    async def _shape(self, topic: str, event: pb.ConsumerEvent) -> dict[str, Any]:
        schema = await self._schemas.get(event.event.schema_id)
        try:
            return to_cometd_shape(topic, event, schema)
        except Exception as exc:  # undecodable: let the consumer dead-letter it
            LOGGER.error("undecodable Pub/Sub event on %s: %s", topic, exc)
            meta = {"replayId": event.replay_id.hex(), "EventUuid": event.event.id}
            data = {"schema": event.event.schema_id, "payload": None, "event": meta}
            return {"channel": topic, "data": data, "error": f"{type(exc).__name__}: {exc}"}


class _Resubscribe(Exception):
    """The stream ended or failed in a way worth subscribing again for."""

    def __init__(self, at_once: bool = False) -> None:
        super().__init__("resubscribe")
        self.at_once = at_once


def _expired(topic: str, replay: str | int | None, error: str) -> ReplayIdExpired:
    # ReplayIdExpired.replay_id is typed int | None (CometD); Pub/Sub ids are hex strings
    return ReplayIdExpired(topic, replay, error)

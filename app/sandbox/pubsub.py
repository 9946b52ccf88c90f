"""The sandbox org's Pub/Sub API: ``eventbus.v1.PubSub`` over insecure gRPC (facts §2, §6).

Serves the same ``EventLog`` as the CometD endpoint.  Every RPC checks (``pubsub_auth``) the
``accesstoken``/``instanceurl``/``tenantid`` metadata; failures end the RPC with a
gRPC status plus the ``error-code``/``rpc-id`` trailers.  ``Subscribe`` honours the
replay presets (replay ids are the log's ints as 8-byte big-endian), caps the
outstanding ``num_requested`` at 100, reports ``pending_num_requested``, sends
keepalives when idle, closes idle streams, and the ``drop_connection`` fault aborts
streams with ``UNAVAILABLE``.  ``ManagedSubscribe`` is not implemented.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import grpc

from revflow.ingest.pubsub import pubsub_api_pb2 as pb
from revflow.ingest.pubsub import pubsub_api_pb2_grpc as pb_grpc
from revflow.ingest.pubsub.avro import format_datetime_ms
from revflow.sandbox.avro_schemas import (
    TopicSchema,
    decode_published,
    encode_event,
    schema_by_id,
)
from revflow.sandbox.events import StoredEvent
from revflow.sandbox.org import SandboxOrg, Session
from revflow.sandbox.pubsub_auth import auth, fail, session_of, topic

MAX_PENDING = 100
_WAKE_S = 0.5  # re-check auth and timers at least this often


def replay_bytes(replay_id: int) -> bytes:
    """The wire replay id: the log's int as 8-byte big-endian."""
    return max(replay_id, 0).to_bytes(8, "big")


@dataclass
class _Stream:
    topic: str
    cursor: int  # last replay id delivered (or the starting point)
    pending: int = 0
    last_sent: float = 0.0
    idle_since: float | None = None  # when pending dropped to 0
    poke: asyncio.Event = field(default_factory=asyncio.Event)  # a request arrived


class PubSubServicer(pb_grpc.PubSubServicer):
    """``eventbus.v1.PubSub`` backed by a ``SandboxOrg``."""

    def __init__(
        self, org: SandboxOrg, *, keepalive_s: float, idle_close_s: float, max_batch: int
    ) -> None:
        self.org = org
        self.keepalive_s = keepalive_s
        self.idle_close_s = idle_close_s
        self.max_batch = max_batch
        self._rng = random.Random()
        self._encoded: dict[tuple[str, int], tuple[str, bytes]] = {}

    # -- unary RPCs ---------------------------------------------------------------

    async def GetTopic(
        self, request: pb.TopicRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.TopicInfo:
        rpc_id = str(uuid.uuid4())
        await auth(self.org, context, rpc_id)
        ts = await topic(self.org, context, request.topic_name, rpc_id)
        return pb.TopicInfo(
            topic_name=request.topic_name,
            tenant_guid=self.org.org_id,
            can_publish=ts.is_platform_event,
            can_subscribe=True,
            schema_id=ts.schema_id,
            rpc_id=rpc_id,
        )

    async def GetSchema(
        self, request: pb.SchemaRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.SchemaInfo:
        rpc_id = str(uuid.uuid4())
        await auth(self.org, context, rpc_id)
        ts = schema_by_id(request.schema_id)
        if ts is None:
            await fail(
                context,
                grpc.StatusCode.NOT_FOUND,
                "schema.not.found",
                f"Schema {request.schema_id!r} was not found.",
                rpc_id,
            )
        return pb.SchemaInfo(schema_json=ts.schema_json, schema_id=ts.schema_id, rpc_id=rpc_id)

    async def Publish(
        self, request: pb.PublishRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.PublishResponse:
        return await self._publish(request, context)

    async def PublishStream(
        self,
        request_iterator: AsyncIterator[pb.PublishRequest],
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> AsyncIterator[pb.PublishResponse]:
        async for request in request_iterator:
            yield await self._publish(request, context)

    async def _publish(
        self, request: pb.PublishRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.PublishResponse:
        rpc_id = str(uuid.uuid4())
        session = await auth(self.org, context, rpc_id)
        ts = await topic(self.org, context, request.topic_name, rpc_id)
        if not ts.is_platform_event:
            await fail(
                context,
                grpc.StatusCode.PERMISSION_DENIED,
                "topic.meta.permission",
                f"Publishing to {request.topic_name!r} is not allowed.",
                rpc_id,
            )
        results = [self._publish_one(ts, event, session) for event in request.events]
        return pb.PublishResponse(results=results, schema_id=ts.schema_id, rpc_id=rpc_id)

    def _publish_one(
        self, ts: TopicSchema, event: pb.ProducerEvent, session: Session
    ) -> pb.PublishResult:
        key = event.id or str(uuid.uuid4())
        if event.schema_id != ts.schema_id:
            error = pb.Error(code=pb.PUBLISH, msg=f"schema id {event.schema_id!r} is not current")
            return pb.PublishResult(error=error, correlation_key=key)
        try:
            payload = decode_published(ts, event.payload)
        except Exception as exc:  # malformed Avro
            error = pb.Error(code=pb.PUBLISH, msg=f"payload does not match the schema: {exc}")
            return pb.PublishResult(error=error, correlation_key=key)
        if not payload.get("CreatedById"):
            payload["CreatedById"] = session.user_id
        if not payload.get("CreatedDate") or payload["CreatedDate"].startswith("1970-"):
            payload["CreatedDate"] = format_datetime_ms(int(self.org.events.clock() * 1000))
        stored = self.org.events.append(ts.topic, payload, schema_id=ts.schema_id, event_uuid=key)
        return pb.PublishResult(replay_id=replay_bytes(stored.replay_id), correlation_key=key)

    # -- Subscribe ----------------------------------------------------------------

    async def Subscribe(
        self,
        request_iterator: AsyncIterator[pb.FetchRequest],
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> AsyncIterator[pb.FetchResponse]:
        rpc_id = str(uuid.uuid4())
        await auth(self.org, context, rpc_id)
        requests = aiter(request_iterator)
        first = await anext(requests, None)
        if first is None:
            return
        ts = await topic(self.org, context, first.topic_name, rpc_id)
        stream = _Stream(ts.topic, await self._start(context, first, rpc_id))
        inbox: asyncio.Queue[pb.FetchRequest | None] = asyncio.Queue()
        await self._request(context, stream, first, rpc_id)

        async def read() -> None:
            try:
                async for request in requests:
                    await inbox.put(request)
                    stream.poke.set()
            finally:
                await inbox.put(None)
                stream.poke.set()

        reader = asyncio.create_task(read())
        loop = asyncio.get_running_loop()
        stream.last_sent = loop.time()
        try:
            while True:
                stream.poke.clear()
                while not inbox.empty():
                    request = inbox.get_nowait()
                    if request is None:
                        return  # the client half-closed
                    await self._request(context, stream, request, rpc_id)
                if session_of(self.org, context) is None:
                    await auth(self.org, context, rpc_id)
                response = self._next(stream, rpc_id, loop.time())
                if response is not None:
                    if response.events and self._drop():
                        await fail(
                            context,
                            grpc.StatusCode.UNAVAILABLE,
                            "service.unavailable",
                            "The service is temporarily unavailable.",
                            rpc_id,
                        )
                    yield response
                    continue
                idle = stream.idle_since
                if idle is not None and loop.time() - idle >= self.idle_close_s:
                    return  # no FetchRequest within the idle window: close
                await self._wait(stream, self._timeout(stream, loop.time()))
        finally:
            reader.cancel()

    async def _start(
        self,
        context: grpc.aio.ServicerContext[Any, Any],
        first: pb.FetchRequest,
        rpc_id: str,
    ) -> int:
        """The cursor for the first request's replay preset."""
        events = self.org.events
        if first.replay_preset == pb.EARLIEST:
            return -1
        if first.replay_preset != pb.CUSTOM:
            return events.tip(first.topic_name)
        if not first.replay_id:
            await fail(
                context,
                grpc.StatusCode.INVALID_ARGUMENT,
                "subscription.fetch.replayid.validation.failed",
                "A replay id is required with the CUSTOM replay preset.",
                rpc_id,
            )
        replay = int.from_bytes(first.replay_id, "big") if len(first.replay_id) == 8 else -3
        if replay < 0 or not events.is_retained(first.topic_name, replay):
            await fail(
                context,
                grpc.StatusCode.INVALID_ARGUMENT,
                "subscription.fetch.replayid.corrupted",
                f"The Replay ID validation failed: {first.replay_id.hex()}.",
                rpc_id,
            )
        return replay

    async def _request(
        self,
        context: grpc.aio.ServicerContext[Any, Any],
        stream: _Stream,
        request: pb.FetchRequest,
        rpc_id: str,
    ) -> None:
        if request.topic_name and request.topic_name != stream.topic:
            await fail(
                context,
                grpc.StatusCode.INVALID_ARGUMENT,
                "subscription.fetch.topic.mismatch",
                f"Topic {request.topic_name!r} does not match {stream.topic!r}.",
                rpc_id,
            )
        if request.num_requested <= 0:
            await fail(
                context,
                grpc.StatusCode.INVALID_ARGUMENT,
                "subscription.fetch.requested.events.invalid",
                "num_requested must be greater than 0.",
                rpc_id,
            )
        stream.pending = min(stream.pending + request.num_requested, MAX_PENDING)
        stream.idle_since = None

    def _next(self, stream: _Stream, rpc_id: str, now: float) -> pb.FetchResponse | None:
        """Events owed and available, else a keepalive when due, else None."""
        if stream.pending <= 0:
            return None
        limit = min(stream.pending, self.max_batch)
        batch = self.org.events.since(stream.topic, stream.cursor, limit)
        if batch:
            stream.pending -= len(batch)
            stream.cursor = batch[-1].replay_id
            stream.last_sent = now
            if stream.pending == 0:
                stream.idle_since = now
            return pb.FetchResponse(
                events=[self._consumer_event(e) for e in batch],
                latest_replay_id=replay_bytes(stream.cursor),
                rpc_id=rpc_id,
                pending_num_requested=stream.pending,
            )
        if now - stream.last_sent >= self.keepalive_s:
            stream.last_sent = now
            latest = max(stream.cursor, self.org.events.tip(stream.topic))
            return pb.FetchResponse(
                latest_replay_id=replay_bytes(latest),
                rpc_id=rpc_id,
                pending_num_requested=stream.pending,
            )
        return None

    def _timeout(self, stream: _Stream, now: float) -> float:
        if stream.idle_since is not None:
            due = stream.idle_since + self.idle_close_s
        else:
            due = stream.last_sent + self.keepalive_s
        return max(0.0, min(due - now, _WAKE_S))

    async def _wait(self, stream: _Stream, seconds: float) -> None:
        if stream.poke.is_set():
            stream.poke.clear()
            return
        waiters = {
            asyncio.ensure_future(self.org.events.wait(seconds)),
            asyncio.ensure_future(stream.poke.wait()),
        }
        try:
            await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    def _drop(self) -> bool:
        share = self.org.faults.drop_connection
        roll = getattr(self.org, "roll", None)
        dropped = (
            roll("drop_connection", share) if roll else share > 0 and self._rng.random() < share
        )
        if dropped:
            self.org.note_fault("drop_connection")
        return bool(dropped)

    def _consumer_event(self, event: StoredEvent) -> pb.ConsumerEvent:
        key = (event.channel, event.replay_id)
        cached = self._encoded.get(key)
        if cached is None:
            if len(self._encoded) >= 20_000:
                self._encoded.clear()
            ts, payload = encode_event(event)
            cached = self._encoded[key] = (ts.schema_id, payload)
        producer = pb.ProducerEvent(id=event.event_uuid, schema_id=cached[0], payload=cached[1])
        return pb.ConsumerEvent(event=producer, replay_id=replay_bytes(event.replay_id))


@dataclass
class RunningGrpc:
    """A started sandbox Pub/Sub server."""

    server: grpc.aio.Server
    servicer: PubSubServicer
    host: str
    port: int

    @property
    def target(self) -> str:
        return f"{self.host}:{self.port}"

    async def close(self, grace: float = 0.5) -> None:
        await self.server.stop(grace)


async def start_pubsub(
    org: SandboxOrg,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    keepalive_s: float = 270.0,
    idle_close_s: float = 60.0,
    max_batch: int = 100,
) -> RunningGrpc:
    """Serve ``eventbus.v1.PubSub`` for ``org`` (insecure) and return the running server."""
    server = grpc.aio.server()
    servicer = PubSubServicer(
        org, keepalive_s=keepalive_s, idle_close_s=idle_close_s, max_batch=max_batch
    )
    pb_grpc.add_PubSubServicer_to_server(servicer, server)
    bound = server.add_insecure_port(f"{host}:{port}")
    await server.start()
    return RunningGrpc(server, servicer, host, bound)


__all__ = ["PubSubServicer", "RunningGrpc", "replay_bytes", "start_pubsub"]

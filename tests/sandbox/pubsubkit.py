"""The sandbox Pub/Sub API on loopback gRPC with the raw generated stubs: the ``env``
fixture and helpers to fetch, read and catch failures."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest

from revflow.ingest.pubsub import pubsub_api_pb2 as pb
from revflow.ingest.pubsub import pubsub_api_pb2_grpc as pb_grpc
from revflow.sandbox.org import ConnectedApp, SandboxOrg
from revflow.sandbox.pubsub import RunningGrpc, start_pubsub
from revflow.sandbox.schema import schema_id

CH = "/data/OrderChangeEvent"
PE = "/event/Order_Status__e"
USER = "0055e000001RvFlAAK"
PREFIX = "sfdc.platform.eventbus.grpc."


@dataclass
class Env:
    org: SandboxOrg
    server: RunningGrpc
    channel: grpc.aio.Channel
    stub: pb_grpc.PubSubStub
    token: str

    def metadata(self, **override: str) -> tuple[tuple[str, str], ...]:
        md = {
            "accesstoken": self.token,
            "instanceurl": self.org.instance_url,
            "tenantid": self.org.org_id,
        } | override
        return tuple(md.items())

    def publish(self, n: int, channel: str = CH) -> list[int]:
        return [
            self.org.events.append(
                channel,
                {"ChangeEventHeader": header(i)},
                schema_id=schema_id("OrderChangeEvent"),
                record={},
            ).replay_id
            for i in range(n)
        ]

    def subscribe(self) -> Any:
        return self.stub.Subscribe(metadata=self.metadata())


def header(i: int) -> dict[str, Any]:
    return {
        "entityName": "Order",
        "recordIds": [f"801{i:015d}"],
        "changeType": "GAP_UPDATE",
        "changeOrigin": "",
        "transactionKey": f"tx-{i}",
        "sequenceNumber": 1,
        "commitTimestamp": 1767268800000 + i,
        "commitNumber": i,
        "commitUser": USER,
        "changedFields": [],
    }


@pytest.fixture(name="env")
async def pubsub_env() -> AsyncIterator[Env]:
    org = SandboxOrg()
    org.instance_url = "http://localhost:8999"
    server = await start_pubsub(org, keepalive_s=0.3, idle_close_s=5.0)
    channel = grpc.aio.insecure_channel(server.target)
    token = org.issue_token(ConnectedApp(name="revflow", consumer_key="k"), USER).token
    try:
        yield Env(org, server, channel, pb_grpc.PubSubStub(channel), token)
    finally:
        await channel.close()
        await server.close()


def fetch(
    topic: str = CH,
    n: int = 100,
    preset: pb.ReplayPreset = pb.LATEST,
    replay_id: bytes = b"",
) -> pb.FetchRequest:
    return pb.FetchRequest(
        topic_name=topic, num_requested=n, replay_preset=preset, replay_id=replay_id
    )


async def read(call: Any, wait_s: float = 5.0) -> pb.FetchResponse:
    response = await asyncio.wait_for(call.read(), wait_s)
    assert response is not grpc.aio.EOF
    return response


async def read_events(call: Any, n: int) -> list[pb.ConsumerEvent]:
    """Read until n events arrived (skipping keepalives), for at most 5 s."""
    out: list[pb.ConsumerEvent] = []

    async def run() -> None:
        while len(out) < n:
            out.extend((await read(call)).events)

    await asyncio.wait_for(run(), 5)
    return out


def ids(events: list[pb.ConsumerEvent]) -> list[int]:
    return [int.from_bytes(e.replay_id, "big") for e in events]


async def failure(awaitable: Any) -> tuple[grpc.StatusCode, str | None, str]:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await asyncio.wait_for(awaitable, 5)
    trailers = dict(caught.value.trailing_metadata() or ())
    code = trailers.get("error-code")
    assert trailers.get("rpc-id") and f"rpcId: {trailers['rpc-id']}" in str(caught.value.details())
    return caught.value.code(), None if code is None else str(code), str(caught.value.details())

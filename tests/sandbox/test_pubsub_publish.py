"""Publishing through the sandbox Pub/Sub API over loopback gRPC."""

from __future__ import annotations

import asyncio
import io
from typing import Any

import fastavro
import grpc

from revflow.ingest.pubsub import pubsub_api_pb2 as pb
from revflow.sandbox.avro_schemas import topic_schema
from tests.sandbox.pubsubkit import (
    CH,
    PE,
    PREFIX,
    USER,
    Env,
    failure,
    fetch,
    pubsub_env,  # noqa: F401  (the env fixture)
    read_events,
)

# -- publish -----------------------------------------------------------------------


def avro(topic: str, record: dict[str, Any]) -> tuple[str, bytes]:
    ts = topic_schema(topic)
    assert ts is not None
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, ts.schema.parsed, record)
    return ts.schema_id, buf.getvalue()


async def test_publish_platform_event(env: Env) -> None:
    sub = env.subscribe()
    await sub.write(fetch(PE))
    await asyncio.sleep(0.1)
    sid, payload = avro(
        PE,
        {
            "CreatedDate": 1767268803412,
            "CreatedById": USER,
            "Order_Id__c": "8015e00000Q7mNpAAJ",
            "Status__c": "FULFILLED",
            "Error_Message__c": None,
        },
    )
    request = pb.PublishRequest(
        topic_name=PE,
        events=[
            pb.ProducerEvent(id="corr-1", schema_id=sid, payload=payload),
            pb.ProducerEvent(id="corr-2", schema_id="wrong", payload=payload),
        ],
    )
    response = await env.stub.Publish(request, metadata=env.metadata())
    ok, bad = response.results
    assert ok.correlation_key == "corr-1" and len(ok.replay_id) == 8 and not ok.HasField("error")
    assert bad.correlation_key == "corr-2" and bad.error.code == pb.PUBLISH
    assert response.schema_id == sid and response.rpc_id
    stored = env.org.events.all_events([PE])
    assert len(stored) == 1 and stored[0].replay_id == int.from_bytes(ok.replay_id, "big")
    assert stored[0].payload == {
        "CreatedDate": "2026-01-01T12:00:03.412Z",
        "CreatedById": USER,
        "Order_Id__c": "8015e00000Q7mNpAAJ",
        "Status__c": "FULFILLED",
        "Error_Message__c": None,
    }
    assert stored[0].event_uuid == "corr-1"
    (delivered,) = await read_events(sub, 1)
    assert delivered.event.id == "corr-1" and delivered.replay_id == ok.replay_id
    sub.cancel()


async def test_publish_stream_and_cdc_topics_are_not_publishable(env: Env) -> None:
    sid, payload = avro(PE, {"CreatedDate": 0, "CreatedById": "", "Order_Id__c": None,
                             "Status__c": "X", "Error_Message__c": None})  # fmt: skip
    call = env.stub.PublishStream(metadata=env.metadata())
    for i in range(2):
        event = pb.ProducerEvent(id=f"k{i}", schema_id=sid, payload=payload)
        await call.write(pb.PublishRequest(topic_name=PE, events=[event]))
        response = await asyncio.wait_for(call.read(), 5)
        assert response.results[0].correlation_key == f"k{i}"
    await call.done_writing()
    stored = env.org.events.all_events([PE])
    assert [e.payload["CreatedById"] for e in stored] == [USER, USER]  # filled in
    request = pb.PublishRequest(topic_name=CH, events=[pb.ProducerEvent(payload=b"")])
    status, code, _ = await failure(env.stub.Publish(request, metadata=env.metadata()))
    assert status == grpc.StatusCode.PERMISSION_DENIED
    assert code == PREFIX + "topic.meta.permission"

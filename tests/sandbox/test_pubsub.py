"""The sandbox Pub/Sub API over loopback gRPC, driven with the raw generated stubs:
topics, schemas, subscribe (replay presets, flow control, keepalive, faults)."""

from __future__ import annotations

import asyncio
import json

import grpc
import pytest

from revflow.ingest.pubsub import pubsub_api_pb2 as pb
from revflow.ingest.pubsub import pubsub_api_pb2_grpc as pb_grpc
from revflow.ingest.pubsub.avro import decode_payload
from revflow.sandbox.avro_schemas import topic_schema
from revflow.sandbox.pubsub import start_pubsub
from revflow.sandbox.records import RecordStore
from revflow.sandbox.schema import schema_id
from tests.sandbox.pubsubkit import (
    CH,
    PE,
    PREFIX,
    Env,
    failure,
    fetch,
    ids,
    pubsub_env,  # noqa: F401  (the env fixture)
    read,
    read_events,
)

# -- topics and schemas ------------------------------------------------------------


async def test_get_topic(env: Env) -> None:
    info = await env.stub.GetTopic(pb.TopicRequest(topic_name=CH), metadata=env.metadata())
    ts = topic_schema(CH)
    assert ts is not None
    assert info.topic_name == CH and info.can_subscribe and not info.can_publish
    assert info.schema_id == ts.schema_id and info.tenant_guid == env.org.org_id and info.rpc_id
    info = await env.stub.GetTopic(pb.TopicRequest(topic_name=PE), metadata=env.metadata())
    assert info.can_publish and info.can_subscribe


async def test_unknown_topic(env: Env) -> None:
    call = env.stub.GetTopic(pb.TopicRequest(topic_name="/data/Nope"), metadata=env.metadata())
    assert (await failure(call))[:2] == (grpc.StatusCode.NOT_FOUND, PREFIX + "topic.not.found")
    sub = env.subscribe()
    await sub.write(fetch("/event/Nope__e"))
    assert (await failure(sub.read()))[:2] == (
        grpc.StatusCode.NOT_FOUND,
        PREFIX + "topic.not.found",
    )


async def test_get_schema(env: Env) -> None:
    ts = topic_schema(CH)
    assert ts is not None
    for sid in (ts.schema_id, schema_id("OrderChangeEvent")):
        info = await env.stub.GetSchema(pb.SchemaRequest(schema_id=sid), metadata=env.metadata())
        assert info.schema_id == ts.schema_id
        assert json.loads(info.schema_json)["name"] == "OrderChangeEvent"
    call = env.stub.GetSchema(pb.SchemaRequest(schema_id="nope"), metadata=env.metadata())
    assert (await failure(call))[0] == grpc.StatusCode.NOT_FOUND


# -- subscribe ---------------------------------------------------------------------


async def test_latest_starts_at_the_tip(env: Env) -> None:
    env.publish(2)
    call = env.subscribe()
    await call.write(fetch())
    await asyncio.sleep(0.1)
    new = env.publish(3)
    events = await read_events(call, 3)
    assert ids(events) == new
    assert all(len(e.replay_id) == 8 for e in events)
    ts = topic_schema(CH)
    assert ts is not None
    assert events[0].event.schema_id == ts.schema_id
    decoded = decode_payload(ts.schema, events[0].event.payload)
    assert decoded["ChangeEventHeader"]["transactionKey"] == "tx-0"
    call.cancel()


async def test_earliest_replays_everything_retained(env: Env) -> None:
    old = env.publish(4)
    call = env.subscribe()
    await call.write(fetch(preset=pb.EARLIEST))
    assert ids(await read_events(call, 4)) == old
    call.cancel()


async def test_custom_starts_after_the_replay_id(env: Env) -> None:
    old = env.publish(5)
    call = env.subscribe()
    await call.write(fetch(preset=pb.CUSTOM, replay_id=old[1].to_bytes(8, "big")))
    assert ids(await read_events(call, 3)) == old[2:]
    call.cancel()


@pytest.mark.parametrize("replay", [b"\x00" * 7 + b"\x01", b"\x01\x02", b"zz"])
async def test_custom_with_unknown_replay_id_is_corrupted(env: Env, replay: bytes) -> None:
    env.publish(2)
    call = env.subscribe()
    await call.write(fetch(preset=pb.CUSTOM, replay_id=replay))
    status, code, _ = await failure(call.read())
    assert status == grpc.StatusCode.INVALID_ARGUMENT
    assert code == PREFIX + "subscription.fetch.replayid.corrupted"


async def test_custom_with_expired_replay_id_is_corrupted(env: Env) -> None:
    old = env.publish(3)
    env.org.events.expire(CH, keep_last=1)
    call = env.subscribe()
    await call.write(fetch(preset=pb.CUSTOM, replay_id=old[0].to_bytes(8, "big")))
    assert (await failure(call.read()))[1] == PREFIX + "subscription.fetch.replayid.corrupted"


async def test_custom_without_replay_id(env: Env) -> None:
    call = env.subscribe()
    await call.write(fetch(preset=pb.CUSTOM))
    status, code, _ = await failure(call.read())
    assert status == grpc.StatusCode.INVALID_ARGUMENT
    assert code == PREFIX + "subscription.fetch.replayid.validation.failed"


async def test_flow_control_and_pending_num_requested(env: Env) -> None:
    old = env.publish(5)
    call = env.subscribe()
    await call.write(fetch(n=2, preset=pb.EARLIEST))
    response = await read(call)
    assert ids(list(response.events)) == old[:2]  # several events in one response
    assert response.pending_num_requested == 0
    assert response.latest_replay_id == old[1].to_bytes(8, "big")
    pending = asyncio.ensure_future(call.read())
    assert not (await asyncio.wait({pending}, timeout=0.5))[0]  # nothing until asked
    await call.write(fetch(n=1))
    response = await asyncio.wait_for(pending, 5)
    assert ids(list(response.events)) == [old[2]] and response.pending_num_requested == 0
    await call.write(fetch(n=10))
    response = await read(call)
    assert ids(list(response.events)) == old[3:] and response.pending_num_requested == 8
    call.cancel()


async def test_outstanding_requests_are_capped_at_100(env: Env) -> None:
    old = env.publish(150)
    call = env.subscribe()
    await call.write(fetch(n=500, preset=pb.EARLIEST))
    got = await read_events(call, 100)
    assert ids(got) == old[:100]
    pending = asyncio.ensure_future(call.read())
    assert not (await asyncio.wait({pending}, timeout=0.5))[0]  # the 500 were capped
    call.cancel()


async def test_keepalive_when_idle(env: Env) -> None:
    old = env.publish(1)
    call = env.subscribe()
    await call.write(fetch(n=5))
    response = await read(call, 2)
    assert not response.events and response.pending_num_requested == 5
    assert response.latest_replay_id == old[0].to_bytes(8, "big")
    assert not (await read(call, 2)).events  # keeps coming while idle
    call.cancel()


async def test_idle_stream_without_requests_is_closed(env: Env) -> None:
    server = await start_pubsub(env.org, idle_close_s=0.5)
    env.publish(1)
    async with grpc.aio.insecure_channel(server.target) as channel:
        call = pb_grpc.PubSubStub(channel).Subscribe(metadata=env.metadata())
        await call.write(fetch(n=1, preset=pb.EARLIEST))
        assert len((await read(call)).events) == 1
        assert await asyncio.wait_for(call.read(), 3) is grpc.aio.EOF  # pending 0 for > 0.5 s
        assert await call.code() == grpc.StatusCode.OK
    await server.close()


async def test_topic_mismatch_on_a_later_request(env: Env) -> None:
    call = env.subscribe()
    await call.write(fetch(n=1))
    await call.write(fetch(topic=PE, n=1))
    status, code, _ = await failure(call.read())
    assert status == grpc.StatusCode.INVALID_ARGUMENT
    assert code == PREFIX + "subscription.fetch.topic.mismatch"


async def test_non_positive_num_requested(env: Env) -> None:
    call = env.subscribe()
    await call.write(fetch(n=0))
    assert (await failure(call.read()))[1] == PREFIX + "subscription.fetch.requested.events.invalid"


async def test_drop_connection_fault_aborts_with_unavailable(env: Env) -> None:
    env.publish(2)
    env.org.faults.drop_connection = 1.0
    call = env.subscribe()
    await call.write(fetch(preset=pb.EARLIEST))
    status, code, _ = await failure(call.read())
    assert (status, code) == (grpc.StatusCode.UNAVAILABLE, PREFIX + "service.unavailable")
    assert env.org.faults_injected["drop_connection"] >= 1


async def test_real_change_events_are_encoded_with_bitmaps(env: Env) -> None:
    store = RecordStore(env.org)
    account = store.create("Account", {"Name": "Acme"})
    order = store.create("Order", {"AccountId": account, "EffectiveDate": "2026-01-01"})
    store.update("Order", order, {"Status": "Activated", "BillingCity": "Lyon"})
    call = env.subscribe()
    await call.write(fetch(preset=pb.EARLIEST))
    events = await read_events(call, 2)
    ts = topic_schema(CH)
    assert ts is not None
    create, update = (decode_payload(ts.schema, e.event.payload) for e in events)
    assert create["ChangeEventHeader"]["changeType"] == "CREATE"
    assert create["Status"] == "Draft" and create["EffectiveDate"] == 1767225600000
    assert update["ChangeEventHeader"]["changeType"] == "UPDATE"
    assert update["ChangeEventHeader"]["changedFields"][0].startswith("0x")
    assert update["Status"] == "Activated" and update["AccountId"] is None  # unchanged: null
    assert update["BillingAddress"]["City"] == "Lyon"
    call.cancel()

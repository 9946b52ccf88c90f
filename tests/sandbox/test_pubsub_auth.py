"""The sandbox Pub/Sub API's authentication over loopback gRPC: metadata, revoked tokens."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from revflow.ingest.pubsub import pubsub_api_pb2 as pb
from tests.sandbox.pubsubkit import (
    CH,
    PREFIX,
    Env,
    failure,
    fetch,
    pubsub_env,  # noqa: F401  (the env fixture)
    read_events,
)

# -- auth --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "override",
    [
        {"accesstoken": "nope"},
        {"accesstoken": ""},
        {"tenantid": "00D000000000000AAA"},
        {"tenantid": ""},
        {"instanceurl": ""},
        {"instanceurl": "https://elsewhere.my.salesforce.com"},
    ],
)
async def test_bad_auth_metadata_is_rejected(env: Env, override: dict[str, str]) -> None:
    call = env.stub.GetTopic(pb.TopicRequest(topic_name=CH), metadata=env.metadata(**override))
    status, code, _ = await failure(call)
    assert status == grpc.StatusCode.UNAUTHENTICATED
    assert code == PREFIX + "service.auth.error"


async def test_missing_metadata_is_rejected(env: Env) -> None:
    status, code, _ = await failure(env.stub.GetSchema(pb.SchemaRequest(schema_id="x")))
    assert (status, code) == (grpc.StatusCode.UNAUTHENTICATED, PREFIX + "service.auth.error")


async def test_subscribe_checks_auth_too(env: Env) -> None:
    call = env.stub.Subscribe(metadata=env.metadata(accesstoken="nope"))
    await call.write(fetch())
    status, code, _ = await failure(call.read())
    assert (status, code) == (grpc.StatusCode.UNAUTHENTICATED, PREFIX + "service.auth.error")


async def test_revoked_token_ends_an_open_stream(env: Env) -> None:
    call = env.subscribe()
    await call.write(fetch())
    await asyncio.sleep(0.1)  # LATEST: let the subscription start first
    env.publish(1)
    assert len(await read_events(call, 1)) == 1
    env.org.revoke_all()
    status, code, _ = await failure(call.read())
    assert (status, code) == (grpc.StatusCode.UNAUTHENTICATED, PREFIX + "service.auth.error")

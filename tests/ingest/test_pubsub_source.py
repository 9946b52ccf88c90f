"""PubSubSource against the sandbox Pub/Sub API over loopback gRPC."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiosfstream_ng.replay import ReplayOption

from revflow.ingest.cometd import CometdSource, ReplayIdExpired, TokenAuthenticator
from revflow.ingest.events import parse_cometd
from revflow.ingest.pubsub.source import PubSubAuthError, PubSubFatalError, PubSubSource
from revflow.sandbox.org import ConnectedApp, SandboxOrg
from revflow.sandbox.pubsub import RunningGrpc, start_pubsub
from revflow.sandbox.records import RecordStore
from revflow.sandbox.schema import schema_id
from revflow.sandbox.server import start_org

CH = "/data/OrderChangeEvent"
PE = "/event/Order_Status__e"
USER = "0055e000001RvFlAAK"


@dataclass
class Env:
    org: SandboxOrg
    server: RunningGrpc
    token_calls: int = 0
    recorded: dict[str, str] = field(default_factory=dict)
    bad_tokens: bool = False

    async def fetch_token(self) -> dict[str, Any]:
        self.token_calls += 1
        session = self.org.issue_token(ConnectedApp(name="revflow", consumer_key="k"), USER)
        return {
            "access_token": "revoked" if self.bad_tokens else session.token,
            "instance_url": self.org.instance_url,
            "token_type": "Bearer",
            "id": f"https://login.salesforce.com/id/{self.org.org_id}/{USER}",
        }

    async def get_replay(self, topic: str) -> str | None:
        return self.recorded.get(topic)

    def source(self, topics: list[str] | None = None, **kw: Any) -> PubSubSource:
        kw.setdefault("initial_backoff_s", 0.05)
        return PubSubSource(
            self.fetch_token,
            self.server.target,
            topics or [CH],
            self.get_replay,
            tls=False,
            **kw,
        )

    def publish(self, n: int, start: int = 0) -> list[str]:
        out = []
        for i in range(start, start + n):
            header = {
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
            event = self.org.events.append(
                CH, {"ChangeEventHeader": header}, schema_id=schema_id("OrderChangeEvent")
            )
            out.append(event.replay_id.to_bytes(8, "big").hex())
        return out


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    org = SandboxOrg()
    org.instance_url = "http://localhost:8999"
    server = await start_pubsub(org, keepalive_s=0.3)
    try:
        yield Env(org, server)
    finally:
        await server.close()


async def take(source: PubSubSource, n: int, env: Env | None = None) -> list[dict[str, Any]]:
    """Read n messages; with env, record each replay id as processed (like the consumer)."""
    out: list[dict[str, Any]] = []

    async def run() -> None:
        async for message in source.messages():
            out.append(message)
            if env is not None:
                env.recorded[message["channel"]] = message["data"]["event"]["replayId"]
            if len(out) == n:
                return

    await asyncio.wait_for(run(), 10)
    return out


def rids(messages: list[dict[str, Any]]) -> list[str]:
    return [m["data"]["event"]["replayId"] for m in messages]


async def test_receives_new_events_in_order(env: Env) -> None:
    env.publish(2)  # before subscribing: LATEST skips them
    async with env.source() as source:
        await asyncio.sleep(0.3)  # let the stream start at the tip
        ids = env.publish(3, start=2)
        got = await take(source, 3)
    assert rids(got) == ids
    event = parse_cometd(got[0])
    assert event.channel == CH and event.transaction_key == "tx-2" and event.replay_id == ids[0]
    assert env.token_calls == 1


async def test_earliest_default_and_batches(env: Env) -> None:
    ids = env.publish(25)
    async with env.source(default_replay=-2, batch_size=4) as source:
        got = await take(source, 25)
    assert rids(got) == ids


async def test_resumes_after_recorded_replay_id(env: Env) -> None:
    ids = env.publish(5)
    env.recorded[CH] = ids[1]
    async with env.source() as source:
        got = await take(source, 3)
    assert rids(got) == ids[2:]


async def test_get_replay_may_return_a_preset(env: Env) -> None:
    ids = env.publish(3)

    async def earliest(_topic: str) -> int:
        return -2

    source = PubSubSource(env.fetch_token, env.server.target, [CH], earliest, tls=False)
    async with source:
        assert rids(await take(source, 3)) == ids


async def test_merges_topics(env: Env) -> None:
    store = RecordStore(env.org)
    ids = env.publish(2)
    store.publish("Order_Status__e", {"Order_Id__c": "8015e00000Q7mNpAAJ", "Status__c": "OK"})
    async with env.source([CH, PE], default_replay=-2) as source:
        got = await take(source, 3)
    by_channel: dict[str, list[str]] = {}
    for message in got:
        by_channel.setdefault(message["channel"], []).append(message["data"]["event"]["replayId"])
    assert by_channel[CH] == ids and len(by_channel[PE]) == 1
    pe = parse_cometd(next(m for m in got if m["channel"] == PE))
    assert pe.payload["Status__c"] == "OK" and pe.dedupe_key.startswith("pe:")


async def test_reconnects_after_dropped_connections_without_loss(env: Env) -> None:
    first = env.publish(10)
    env.org.faults.drop_connection = 0.5
    env.org.faults.seed = 7
    got: list[dict[str, Any]] = []
    async with env.source(default_replay=-2, batch_size=3) as source:
        got += await take(source, 5, env)
        later = env.publish(10, start=10)
        while set(first + later) - set(rids(got)):
            got += await take(source, 1, env)
        assert source.reconnects > 0
    assert env.org.faults_injected.get("drop_connection", 0) > 0
    assert rids(got) == sorted(set(rids(got)))  # in order, nothing twice
    assert rids(got) == first + later


async def test_reauthenticates_when_tokens_are_revoked(env: Env) -> None:
    async with env.source(default_replay=-2) as source:
        before = env.publish(2)
        got = await take(source, 2, env)
        env.org.revoke_all()
        await asyncio.sleep(0.7)  # the server notices on its next wake-up
        after = env.publish(2, start=2)
        got += await take(source, 2, env)
    assert rids(got) == before + after
    assert env.token_calls == 2


async def test_auth_failure_after_new_tokens_is_fatal(env: Env) -> None:
    env.bad_tokens = True
    with pytest.raises(PubSubAuthError) as caught:
        async with env.source():
            pass
    assert caught.value.code == "sfdc.platform.eventbus.grpc.service.auth.error"
    assert env.token_calls == 2


async def test_unknown_topic_is_fatal(env: Env) -> None:
    with pytest.raises(PubSubFatalError) as caught:
        async with env.source(["/data/NopeChangeEvent"]):
            pass
    assert caught.value.code == "sfdc.platform.eventbus.grpc.topic.not.found"


async def test_expired_replay_id_raises(env: Env) -> None:
    ids = env.publish(3)
    env.recorded[CH] = ids[0]
    env.org.events.expire(CH, keep_last=1)
    async with env.source() as source:
        with pytest.raises(ReplayIdExpired) as caught:
            await take(source, 1)
    assert caught.value.channel == CH and caught.value.replay_id == ids[0]
    assert "replayid.corrupted" in caught.value.error


async def test_non_hex_replay_id_raises(env: Env) -> None:
    env.recorded[CH] = "18452"  # e.g. a CometD replay id left from the other transport
    async with env.source() as source:
        with pytest.raises(ReplayIdExpired):
            await take(source, 1)


async def test_keepalives_expose_latest_replay_id(env: Env) -> None:
    ids = env.publish(1)
    async with env.source() as source:
        for _ in range(50):
            if source.latest_replay_ids.get(CH):
                break
            await asyncio.sleep(0.05)
    assert source.latest_replay_ids[CH] == ids[0]


async def test_same_change_means_the_same_over_cometd_and_pubsub(env: Env) -> None:
    """Transport equivalence: same dedupe keys, changed fields and bodies."""
    http = await start_org(env.org)  # sets org.instance_url (CometD + OAuth + REST)
    store = RecordStore(env.org)
    account = store.create("Account", {"Name": "Acme"})
    order = store.create(
        "Order",
        {"AccountId": account, "EffectiveDate": "2026-01-01", "ShippingCity": "Paris"},
    )
    store.update(
        "Order", order, {"Status": "Activated", "ShippingCity": "Lyon", "PoNumber": "PO-1"}
    )
    store.update("Order", order, {"PoNumber": None, "ShippingStreet": "1 rue"})
    store.delete("Order", order)
    n = len(env.org.events.all_events([CH]))
    assert n == 4

    async def no_replay(_channel: str) -> int | None:
        return None

    try:
        cometd = CometdSource(
            TokenAuthenticator(env.fetch_token),
            "62.0",
            [CH],
            no_replay,
            default_replay=ReplayOption.ALL_EVENTS,
            connection_timeout=5,
        )
        async with cometd:
            over_cometd: list[dict[str, Any]] = []
            async for message in cometd.messages():
                over_cometd.append(message)
                if len(over_cometd) == n:
                    break
        async with env.source(default_replay=-2) as source:
            over_pubsub = await take(source, n)
    finally:
        await http.close()
    for a, b in zip(map(parse_cometd, over_cometd), map(parse_cometd, over_pubsub), strict=True):
        assert a.dedupe_key == b.dedupe_key
        assert (a.entity, a.change_type, a.record_ids) == (b.entity, b.change_type, b.record_ids)
        assert (a.change_origin, a.commit_user) == (b.change_origin, b.commit_user)
        assert sorted(a.changed_fields) == sorted(b.changed_fields)
        body_a = {k: v for k, v in a.payload.items() if k != "ChangeEventHeader"}
        body_b = {k: v for k, v in b.payload.items() if k != "ChangeEventHeader"}
        assert body_a == body_b
    update = parse_cometd(over_pubsub[2])
    assert update.payload["PoNumber"] is None
    assert update.payload["ChangeEventHeader"]["nulledFields"] == ["PoNumber"]

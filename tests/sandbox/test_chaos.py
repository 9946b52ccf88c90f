"""Sandbox chaos switches: gap, overflow and duplicate events, dropped long polls, expiry."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import httpx
import pytest
from aiohttp import web

from revflow.ingest.cometd import CometdSource, ReplayIdExpired, TokenAuthenticator
from revflow.sandbox.chaos import expire_replay_ids
from revflow.sandbox.cometd import add_cometd_routes, event_message
from revflow.sandbox.events import ReplayIdInvalid, StoredEvent
from revflow.sandbox.oauth import add_oauth_routes
from revflow.sandbox.org import INTEGRATION_USER_ID, ConnectedApp, Faults, SandboxOrg
from revflow.sandbox.records import RecordStore
from revflow.sandbox.rest import add_rest_routes

CH = "/data/OrderChangeEvent"
ITEMS = "/data/OrderItemChangeEvent"
PE = "/event/Order_Status__e"
HEADER_KEYS = {
    "entityName",
    "recordIds",
    "changeType",
    "changeOrigin",
    "transactionKey",
    "sequenceNumber",
    "commitTimestamp",
    "commitNumber",
    "commitUser",
    "changedFields",
}


def _org(**faults: Any) -> tuple[SandboxOrg, RecordStore, str, str]:
    org = SandboxOrg(faults=Faults(seed=7))
    store = RecordStore(org)
    account = store.create("Account", {"Name": "Acme"})
    product = store.create("Product2", {"Name": "Widget", "ProductCode": "W-1"})
    for key, value in faults.items():
        setattr(org.faults, key, value)
    return org, store, account, product


def _events(org: SandboxOrg, channel: str = CH) -> list[StoredEvent]:
    return org.events.all_events([channel])


def _header(event: StoredEvent) -> dict[str, Any]:
    header: dict[str, Any] = event.payload["ChangeEventHeader"]
    return header


# ---- gap events --------------------------------------------------------------------
def test_gap_events_are_header_only_and_the_change_still_happens() -> None:
    org, store, account, _ = _org(gap_events=1.0)
    origin = "com/salesforce/api/rest/62.0;client=rf"
    order = store.create("Order", {"AccountId": account, "EffectiveDate": "2026-01-01"})
    store.update("Order", order, {"Description": "x"}, origin=origin)
    store.delete("Order", order)
    store.undelete("Order", order)
    events = _events(org)
    kinds = [_header(e)["changeType"] for e in events]
    assert kinds == ["GAP_CREATE", "GAP_UPDATE", "GAP_DELETE", "GAP_UNDELETE"]
    for event in events:
        header = _header(event)
        assert set(event.payload) == {"ChangeEventHeader"} and set(header) == HEADER_KEYS
        assert header["recordIds"] == [order] and header["entityName"] == "Order"
        assert header["changeOrigin"] == "" and header["changedFields"] == []
        assert header["commitUser"] == INTEGRATION_USER_ID and header["sequenceNumber"] == 1
        assert event.record == {}
    assert store.find("Order", order)["Description"] == "x"
    assert org.faults_injected == {"gap_event": 4}


def test_gap_share_is_partial_and_reproducible_under_a_seed() -> None:
    def kinds() -> list[str]:
        org, store, account, _ = _org(gap_events=0.5)
        order = store.create("Order", {"AccountId": account, "EffectiveDate": "2026-01-01"})
        for i in range(30):
            store.update("Order", order, {"Description": f"d{i}"})
        return [_header(e)["changeType"] for e in _events(org)]

    first = kinds()
    assert {"UPDATE", "GAP_UPDATE"} <= set(first)
    assert kinds() == first


# ---- overflow ----------------------------------------------------------------------
def test_overflow_swallows_the_rest_of_the_transaction_per_entity() -> None:
    org, store, account, product = _org(overflow_events=1.0)
    with store.transaction() as txn:
        order = store.create(
            "Order", {"AccountId": account, "EffectiveDate": "2026-01-01"}, txn=txn
        )
        item = {"OrderId": order, "Product2Id": product, "Quantity": 1, "UnitPrice": 2}
        items = [store.create("OrderItem", item, txn=txn) for _ in range(3)]
        other = store.create(
            "Order", {"AccountId": account, "EffectiveDate": "2026-01-02"}, txn=txn
        )
    orders, lines = _events(org), _events(org, ITEMS)
    assert [_header(e)["changeType"] for e in orders] == ["CREATE", "GAP_OVERFLOW"]
    assert [_header(e)["changeType"] for e in lines] == ["CREATE", "GAP_OVERFLOW"]
    assert _header(orders[0])["recordIds"] == [order]  # `other` was lost in the overflow
    assert _header(lines[0])["recordIds"] == [items[0]]  # items 2 and 3 were lost
    normal_seqs = [_header(e)["sequenceNumber"] for e in (orders[0], lines[0])]
    for event in (orders[1], lines[1]):
        header = _header(event)
        assert set(event.payload) == {"ChangeEventHeader"} and set(header) == HEADER_KEYS
        assert header["recordIds"] == [] and header["changedFields"] == []
        assert header["transactionKey"] == _header(orders[0])["transactionKey"]
        assert header["commitTimestamp"] == _header(orders[0])["commitTimestamp"]
        assert header["sequenceNumber"] > max(normal_seqs)
    assert _header(orders[1])["entityName"] == "Order"
    assert _header(lines[1])["entityName"] == "OrderItem"
    assert _header(orders[1])["sequenceNumber"] != _header(lines[1])["sequenceNumber"]
    assert len(store.live("OrderItem")) == 3 and store.find("Order", other)  # all committed
    assert org.faults_injected == {"overflow_event": 2}


def test_no_overflow_without_change_events() -> None:
    org, store, _, _ = _org(overflow_events=1.0)
    store.create("Account", {"Name": "Not CDC-enabled"})
    assert org.events.all_events() == [] and org.faults_injected == {}


# ---- duplicates --------------------------------------------------------------------
def test_duplicate_change_event_has_the_same_header_and_a_later_replay_id() -> None:
    org, store, account, _ = _org(duplicate_events=1.0)
    order = store.create("Order", {"AccountId": account, "EffectiveDate": "2026-01-01"})
    first, second = _events(org)
    assert second.replay_id > first.replay_id
    assert second.payload == first.payload and _header(first)["recordIds"] == [order]
    assert org.faults_injected == {"duplicate_event": 1}


def test_duplicate_platform_event_keeps_its_event_uuid() -> None:
    org, store, _, _ = _org(duplicate_events=1.0)
    _, event_uuid = store.publish("Order_Status__e", {"Status__c": "FULFILLED"})
    first, second = (event_message(e) for e in _events(org, PE))
    assert first["data"]["event"]["EventUuid"] == event_uuid
    assert second["data"]["event"]["EventUuid"] == event_uuid
    assert second["data"]["event"]["replayId"] > first["data"]["event"]["replayId"]
    assert second["data"]["payload"] == first["data"]["payload"]


def test_duplicates_follow_the_share() -> None:
    org, store, account, _ = _org(duplicate_events=0.5)
    order = store.create("Order", {"AccountId": account, "EffectiveDate": "2026-01-01"})
    for i in range(20):
        store.update("Order", order, {"Description": f"d{i}"})
    events = _events(org)
    assert 21 < len(events) < 42
    assert len(events) == 21 + org.faults_injected["duplicate_event"]
    assert len({e.replay_id for e in events}) == len(events)


# ---- replay-id expiry --------------------------------------------------------------
def test_expire_replay_ids_keeps_the_newest_per_channel() -> None:
    org = SandboxOrg()
    ids = [org.events.append(CH, {"N": i}).replay_id for i in range(3)]
    org.events.append(PE, {"N": 0})
    assert expire_replay_ids(org, keep_last=1) == 2
    assert [e.replay_id for e in _events(org)] == [ids[-1]] and len(_events(org, PE)) == 1
    with pytest.raises(ReplayIdInvalid):
        org.events.after(CH, ids[0])
    assert org.faults_injected == {"replay_expired": 1}


# ---- control API -------------------------------------------------------------------
@pytest.fixture
async def control() -> AsyncIterator[tuple[SandboxOrg, httpx.AsyncClient]]:
    org = SandboxOrg()
    app = web.Application()
    add_oauth_routes(app, org)
    add_rest_routes(app, org)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        async with httpx.AsyncClient(base_url=base) as client:
            yield org, client
    finally:
        await runner.cleanup()


async def test_control_api_sets_new_faults_and_reports_them(
    control: tuple[SandboxOrg, httpx.AsyncClient],
) -> None:
    org, client = control
    body = {
        "gap_events": 0.25,
        "overflow_events": 1,
        "duplicate_events": 0.5,
        "drop_connection": 0.1,
        "seed": 42,
    }
    response = await client.post("/_sandbox/faults", json=body)
    assert response.status_code == 200
    assert response.json()["seed"] == 42 and response.json()["overflow_events"] == 1.0
    assert org.faults.gap_events == 0.25 and org.faults.seed == 42
    for bad in ({"gap_events": 1.5}, {"seed": "x"}, {"seed": True}, {"drop_connection": -1}):
        assert (await client.post("/_sandbox/faults", json=bad)).status_code == 400
    assert (await client.post("/_sandbox/faults", json={"seed": None})).status_code == 200
    assert org.faults.seed is None and org.faults.gap_events == 0.25


async def test_control_api_expires_events(control: tuple[SandboxOrg, httpx.AsyncClient]) -> None:
    org, client = control
    for i in range(3):
        org.events.append(CH, {"N": i})
    response = await client.post("/_sandbox/expire-events", json={"keep_last": 1})
    assert response.json() == {"dropped": 2} and len(_events(org)) == 1
    assert (await client.post("/_sandbox/expire-events", json={"keep_last": -1})).status_code == 400
    assert (await client.post("/_sandbox/expire-events")).json() == {"dropped": 1}
    stats = (await client.get("/_sandbox/stats")).json()
    assert stats["faults_injected"] == {"replay_expired": 2}
    assert stats["events"][CH] == 0 and stats["faults"]["seed"] is None


# ---- CometD: dropped long polls and expiry with a real client ----------------------
@dataclass
class Live:
    org: SandboxOrg
    port: int
    recorded: dict[str, int]

    async def fetch_token(self) -> dict[str, Any]:
        session = self.org.issue_token(ConnectedApp(name="rf", consumer_key="k"), "005x")
        return {
            "access_token": session.token,
            "instance_url": self.org.instance_url,
            "token_type": "Bearer",
        }

    async def get_replay(self, channel: str) -> int | None:
        return self.recorded.get(channel)

    def source(self) -> CometdSource:
        auth = TokenAuthenticator(self.fetch_token)
        return CometdSource(auth, "62.0", [CH], self.get_replay, connection_timeout=10)

    def publish(self, n: int) -> list[int]:
        return [self.org.events.append(CH, {"N": i}).replay_id for i in range(n)]

    async def take(self, source: CometdSource, n: int) -> list[int]:
        out: list[int] = []

        async def run() -> None:
            async for message in source.messages():
                if "data" in message:
                    out.append(message["data"]["event"]["replayId"])
                    self.recorded[CH] = out[-1]
                if len(out) == n:
                    return

        await asyncio.wait_for(run(), 30)
        return out


@pytest.fixture
async def live() -> AsyncIterator[Live]:
    org = SandboxOrg(faults=Faults(seed=3, cometd_timeout_s=0.4))
    app = web.Application()
    add_cometd_routes(app, org)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    org.instance_url = f"http://localhost:{port}"
    try:
        yield Live(org, port, {})
    finally:
        await runner.cleanup()


async def test_dropped_long_poll_resets_the_connection(live: Live) -> None:
    token = (await live.fetch_token())["access_token"]
    url = f"{live.org.instance_url}/cometd/62.0"
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession() as http:

        async def post(*messages: dict[str, Any]) -> list[Any]:
            async with http.post(url, json=list(messages), headers=headers) as r:
                return list(await r.json())

        hs = {"channel": "/meta/handshake", "version": "1.0", "id": "1"}
        client_id = (await post(hs))[0]["clientId"]
        sub = {"channel": "/meta/subscribe", "clientId": client_id, "subscription": CH, "id": "2"}
        connect = {"channel": "/meta/connect", "clientId": client_id, "id": "3"}
        await post(sub, connect)  # the first connect is never held, so never dropped
        ids = live.publish(2)
        live.org.faults.drop_connection = 1.0
        with pytest.raises(aiohttp.ClientError):
            await post(connect)
        live.org.faults.drop_connection = 0.0
        got = await post(connect)  # same client id: the dropped batch comes again
    assert [m["data"]["event"]["replayId"] for m in got if "data" in m] == ids
    assert live.org.faults_injected == {"drop_connection": 1}


async def test_dropped_long_polls_lose_no_events(live: Live) -> None:
    live.org.faults.drop_connection = 0.5
    published: list[int] = []
    got: list[int] = []
    async with live.source() as source:
        for rounds in range(12):  # at least 4 rounds, and until 2 polls were dropped
            if rounds >= 4 and live.org.faults_injected.get("drop_connection", 0) >= 2:
                break
            published += live.publish(3)
            got += await live.take(source, 3)
            await asyncio.sleep(0.2)  # let some empty long polls be cut off too
    assert got == published  # every event exactly once, in replay order
    assert live.org.faults_injected["drop_connection"] >= 2


async def test_expired_stored_replay_id_is_rejected(live: Live) -> None:
    ids = live.publish(3)
    live.recorded[CH] = ids[0]
    expire_replay_ids(live.org, keep_last=1)
    with pytest.raises(ReplayIdExpired) as caught:
        async with live.source():
            pass
    assert caught.value.replay_id == ids[0]
    live.recorded[CH] = ids[-1]  # the newest retained id is still valid
    async with live.source() as source:
        later = live.publish(1)
        assert await live.take(source, 1) == later

"""The sandbox Streaming API, driven with raw Bayeux over a real loopback socket."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from revflow.sandbox.cometd import CometdServer, add_cometd_routes
from revflow.sandbox.org import ConnectedApp, SandboxOrg

CH = "/data/OrderChangeEvent"
PE = "/event/Order_Status__e"
INVALID_TAIL = (
    " you provided was invalid.  Please provide a valid ID, -2 to replay all events,"
    " or -1 to replay only new events."
)


@dataclass
class Env:
    org: SandboxOrg
    server: CometdServer
    url: str
    token: str


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    org = SandboxOrg()
    org.faults.cometd_timeout_s = 0.5
    org.events.declare(CH)
    org.events.declare(PE)
    app = web.Application()
    server = add_cometd_routes(app, org, reconnect_timeout_s=0.5)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    org.instance_url = f"http://localhost:{port}"
    token = org.issue_token(ConnectedApp(name="t", consumer_key="k"), "005000000000001AAA").token
    try:
        yield Env(org, server, f"{org.instance_url}/cometd/62.0", token)
    finally:
        await runner.cleanup()


class Bayeux:
    """A minimal raw Bayeux client: one cookie jar, explicit messages."""

    def __init__(self, env: Env, token: str | None = None) -> None:
        self.env = env
        self.token = env.token if token is None else token
        self.http = aiohttp.ClientSession()
        self.client_id = ""
        self.status = 0

    async def post(self, *messages: dict[str, Any], url: str | None = None) -> list[Any]:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        async with self.http.post(url or self.env.url, json=list(messages), headers=headers) as r:
            self.status = r.status
            return list(await r.json())

    async def handshake(self, **extra: Any) -> dict[str, Any]:
        msg: dict[str, Any] = {"channel": "/meta/handshake", "version": "1.0", "id": "1"}
        msg.update({"supportedConnectionTypes": ["long-polling"], **extra})
        reply = (await self.post(msg))[0]
        self.client_id = reply.get("clientId", "")
        return reply

    def connect_msg(self, mid: Any = "2") -> dict[str, Any]:
        return {
            "channel": "/meta/connect",
            "clientId": self.client_id,
            "connectionType": "long-polling",
            "id": mid,
        }

    async def connect(self, mid: Any = "2") -> list[Any]:
        return await self.post(self.connect_msg(mid))

    def subscribe_msg(self, channel: str, replay: Any = None, mid: Any = "3") -> dict[str, Any]:
        msg: dict[str, Any] = {
            "channel": "/meta/subscribe",
            "clientId": self.client_id,
            "subscription": channel,
            "id": mid,
        }
        if replay is not None:
            msg["ext"] = {"replay": replay}
        return msg

    async def subscribe(self, channel: str, replay: Any = None) -> dict[str, Any]:
        return (await self.post(self.subscribe_msg(channel, replay)))[0]

    async def close(self) -> None:
        await self.http.close()


@pytest.fixture
async def bay(env: Env) -> AsyncIterator[Bayeux]:
    client = Bayeux(env)
    yield client
    await client.close()


def publish(org: SandboxOrg, n: int, channel: str = CH) -> list[int]:
    ids = []
    for i in range(n):
        payload = {"ChangeEventHeader": {"entityName": "Order", "sequenceNumber": i}, "N": i}
        ids.append(
            org.events.append(channel, payload, schema_id="schema22charsxxxxxxxxx").replay_id
        )
    return ids


def events_of(reply: list[Any]) -> list[dict[str, Any]]:
    return [m for m in reply if not m["channel"].startswith("/meta/")]


async def test_handshake_reply_and_cookie(bay: Bayeux) -> None:
    reply = await bay.handshake(ext={"replay": True})
    assert reply["successful"] is True and reply["id"] == "1"
    assert reply["supportedConnectionTypes"] == ["long-polling"]
    assert reply["ext"] == {"replay": True, "payload.format": True}
    assert reply["clientId"] and reply["version"] == "1.0"
    assert any(c.key == "BAYEUX_BROWSER" for c in bay.http.cookie_jar)
    # aiosfstream sends no ext and offers websocket first: still fine
    again = await bay.handshake(supportedConnectionTypes=["websocket", "long-polling"])
    assert again["successful"] is True and again["clientId"] != reply["clientId"]


async def test_handshake_rejects_other_connection_types(bay: Bayeux) -> None:
    reply = await bay.handshake(supportedConnectionTypes=["websocket"])
    assert reply["successful"] is False and reply["error"] == "400::Invalid connection type"


async def test_authorization_required(env: Env) -> None:
    bay = Bayeux(env, token="")
    try:
        reply = await bay.handshake()
        assert reply["error"] == "401::Request requires authentication"
        assert reply["successful"] is False
    finally:
        await bay.close()


async def test_invalid_token_on_handshake(env: Env) -> None:
    bay = Bayeux(env, token="00Dbogus")
    try:
        reply = await bay.handshake()
        assert reply["error"] == "403::Handshake denied"
        assert reply["ext"]["sfdc"]["failureReason"] == "401::Authentication invalid"
        assert reply["advice"]["reconnect"] == "none"
    finally:
        await bay.close()


async def test_revoked_token_on_connect(env: Env, bay: Bayeux) -> None:
    await bay.handshake()
    env.org.revoke_all()
    reply = (await bay.connect())[0]
    assert reply["error"] == "401::Authentication invalid"
    assert reply["advice"] == {"reconnect": "none"}


@pytest.mark.parametrize("path", ["/cometd", "/cometd/", "/cometd/20.0", "/cometd/latest"])
async def test_api_version_mandatory(env: Env, bay: Bayeux, path: str) -> None:
    url = env.org.instance_url + path
    reply = await bay.post({"channel": "/meta/handshake", "id": "1"}, url=url)
    assert bay.status == 400
    assert "API version in the URI is mandatory" in reply[0]["error"]


async def test_cookie_required_after_handshake(env: Env, bay: Bayeux) -> None:
    await bay.handshake()
    stranger = Bayeux(env)
    stranger.client_id = bay.client_id
    try:
        reply = (await stranger.connect())[0]
    finally:
        await stranger.close()
    assert reply["successful"] is False
    assert "no BAYEUX_BROWSER cookie present" in reply["error"]


async def test_first_connect_returns_at_once_and_echoes_id(bay: Bayeux) -> None:
    await bay.handshake()
    started = time.monotonic()
    reply = await bay.connect(mid=7)
    assert time.monotonic() - started < 0.3
    assert reply == [
        {
            "channel": "/meta/connect",
            "clientId": bay.client_id,
            "id": 7,
            "successful": True,
            "advice": {"reconnect": "retry", "interval": 0, "timeout": 110000},
        }
    ]
    assert (await bay.connect(mid="8"))[0]["id"] == "8"  # held until the timeout


async def test_subscribe_replay_all_retained(env: Env, bay: Bayeux) -> None:
    ids = publish(env.org, 3)
    await bay.handshake()
    await bay.connect()
    sub = await bay.subscribe(CH, {CH: -2})
    assert sub == {
        "channel": "/meta/subscribe",
        "clientId": bay.client_id,
        "subscription": CH,
        "id": "3",
        "successful": True,
    }
    reply = await bay.connect()
    events = events_of(reply)
    assert [e["data"]["event"]["replayId"] for e in events] == ids
    assert reply[-1]["channel"] == "/meta/connect"  # events first, then the connect reply
    first = events[0]
    assert first["channel"] == CH and set(first["data"]) == {"schema", "payload", "event"}
    assert first["data"]["schema"] == "schema22charsxxxxxxxxx"
    assert first["data"]["payload"]["N"] == 0
    assert "EventUuid" not in first["data"]["event"]
    # never the same event twice in one subscription
    assert events_of(await bay.connect()) == []


async def test_subscribe_replay_tip_and_after_n(env: Env, bay: Bayeux) -> None:
    ids = publish(env.org, 4)
    await bay.handshake()
    await bay.post(bay.connect_msg(), bay.subscribe_msg(CH, {CH: -1}))
    assert events_of(await bay.connect()) == []
    await bay.subscribe(CH, {CH: ids[1]})
    got = [e["data"]["event"]["replayId"] for e in events_of(await bay.connect())]
    assert got == ids[2:]


async def test_subscribe_without_ext_means_tip(env: Env, bay: Bayeux) -> None:
    publish(env.org, 2)
    await bay.handshake()
    await bay.connect()
    assert (await bay.subscribe(CH))["successful"] is True
    assert events_of(await bay.connect()) == []


async def test_invalid_replay_id_error_text(env: Env, bay: Bayeux) -> None:
    publish(env.org, 2)
    await bay.handshake()
    reply = await bay.subscribe(CH, {CH: 5})
    assert reply["successful"] is False and reply["subscription"] == CH
    assert reply["error"] == "400::The replayId {5} you provided was invalid.  " + (
        "Please provide a valid ID, -2 to replay all events, or -1 to replay only new events."
    )
    assert reply["error"].endswith(INVALID_TAIL)


async def test_expired_replay_id_is_invalid(env: Env, bay: Bayeux) -> None:
    ids = publish(env.org, 3)
    env.org.events.expire(CH)
    await bay.handshake()
    reply = await bay.subscribe(CH, {CH: ids[0]})
    assert reply["error"] == f"400::The replayId {{{ids[0]}}}" + INVALID_TAIL


async def test_replay_map_without_the_channel(bay: Bayeux) -> None:
    await bay.handshake()
    reply = await bay.subscribe(CH, {})
    assert reply["error"] == (
        "400::The replayId for channel {/data/OrderChangeEvent} wasn't found using the provided "
        "replay ID map {{}}. Ensure that the channel name you provided in the replay map is valid "
        "and matches the channel name used for subscribing."
    )
    other = await bay.subscribe(CH, {"/data/QuoteChangeEvent": -1})
    assert "replay ID map {{/data/QuoteChangeEvent=-1}}" in other["error"]


async def test_unknown_channel_and_leading_slash(bay: Bayeux) -> None:
    await bay.handshake()
    unknown = await bay.subscribe("/data/NopeChangeEvent")
    assert unknown["successful"] is False
    assert unknown["error"] == (
        "400::The channel you requested to subscribe to doesn't exist {/data/NopeChangeEvent}"
    )
    slash = await bay.subscribe("data/OrderChangeEvent")
    assert slash["error"] == "400::Channel subscriptions must start with a leading '/'"


async def test_long_poll_returns_on_publish(env: Env, bay: Bayeux) -> None:
    env.org.faults.cometd_timeout_s = 5.0
    await bay.handshake()
    await bay.post(bay.connect_msg(), bay.subscribe_msg(CH, {CH: -1}))
    poll = asyncio.create_task(bay.connect())
    await asyncio.sleep(0.2)
    assert not poll.done()
    started = time.monotonic()
    [rid] = publish(env.org, 1)
    reply = await asyncio.wait_for(poll, 2.0)
    assert time.monotonic() - started < 1.0
    assert [e["data"]["event"]["replayId"] for e in events_of(reply)] == [rid]


async def test_subscribe_wakes_a_held_connect(env: Env, bay: Bayeux) -> None:
    env.org.faults.cometd_timeout_s = 5.0
    ids = publish(env.org, 2)
    await bay.handshake()
    await bay.connect()
    poll = asyncio.create_task(bay.connect())
    await asyncio.sleep(0.1)
    await bay.subscribe(CH, {CH: -2})
    reply = await asyncio.wait_for(poll, 2.0)
    assert [e["data"]["event"]["replayId"] for e in events_of(reply)] == ids


async def test_platform_event_carries_event_uuid(env: Env, bay: Bayeux) -> None:
    event = env.org.events.append(PE, {"Status__c": "FULFILLED"}, schema_id="pe")
    await bay.handshake()
    [delivered] = events_of(await bay.post(bay.connect_msg(), bay.subscribe_msg(PE, {PE: -2})))
    assert delivered["data"]["event"] == {
        "EventUuid": event.event_uuid,
        "replayId": event.replay_id,
    }


async def test_replay_order_across_channels_and_batching(env: Env, bay: Bayeux) -> None:
    env.server.max_batch = 1000
    ids = []
    for i in range(1300):
        channel = CH if i % 3 else PE
        ids.append(env.org.events.append(channel, {"N": i}).replay_id)
    await bay.handshake()
    await bay.connect()
    await bay.subscribe(CH, {CH: -2})
    await bay.subscribe(PE, {PE: -2})
    first = events_of(await bay.connect())
    second = events_of(await bay.connect())
    got = [e["data"]["event"]["replayId"] for e in first + second]
    assert len(first) == 1000 and got == ids


async def test_connect_and_subscribe_in_one_post(env: Env, bay: Bayeux) -> None:
    ids = publish(env.org, 2)
    await bay.handshake()
    await bay.connect()
    reply = await bay.post(bay.connect_msg("9"), bay.subscribe_msg(CH, {CH: ids[0]}, mid="10"))
    channels = [m["channel"] for m in reply]
    assert channels == [CH, "/meta/connect", "/meta/subscribe"]
    assert reply[0]["data"]["event"]["replayId"] == ids[1]


async def test_unknown_client_fault(env: Env, bay: Bayeux) -> None:
    await bay.handshake()
    await bay.post(bay.connect_msg(), bay.subscribe_msg(CH, {CH: -1}))
    env.org.faults.unknown_client = 1.0
    reply = (await bay.connect())[0]
    assert reply["successful"] is False and reply["error"] == "403::Unknown client"
    assert reply["advice"]["reconnect"] == "handshake"
    assert env.org.faults_injected["unknown_client"] == 1
    env.org.faults.unknown_client = 0.0
    again = (await bay.connect())[0]  # the client state is gone for good
    assert again["error"] == "403::Unknown client"
    assert bay.client_id not in env.server.clients


async def test_client_expires_without_reconnect(env: Env, bay: Bayeux) -> None:
    await bay.handshake()
    await bay.connect()
    await asyncio.sleep(0.7)  # reconnect timeout is 0.5 s in this fixture
    reply = (await bay.connect())[0]
    assert reply["error"] == "403::Unknown client"


async def test_unsubscribe_and_disconnect(env: Env, bay: Bayeux) -> None:
    await bay.handshake()
    await bay.post(bay.connect_msg(), bay.subscribe_msg(CH, {CH: -1}))
    unsub = {
        "channel": "/meta/unsubscribe",
        "clientId": bay.client_id,
        "subscription": CH,
        "id": "4",
    }
    assert (await bay.post(unsub))[0]["successful"] is True
    publish(env.org, 1)
    assert events_of(await bay.connect()) == []
    bye = {"channel": "/meta/disconnect", "clientId": bay.client_id, "id": "5"}
    assert (await bay.post(bye))[0]["successful"] is True
    assert (await bay.connect())[0]["error"] == "403::Unknown client"

"""CometdSource (aiosfstream-ng) against the sandbox Streaming API over loopback sockets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from aiosfstream_ng.exceptions import AuthenticationError, TransportTimeoutError

from revflow.ingest.cometd import (
    CometdSource,
    ReplayFallback,
    ReplayIdExpired,
    TokenAuthenticator,
    TokenRequestFailed,
    replay_gap,
)
from revflow.sandbox.cometd import CometdServer, add_cometd_routes
from revflow.sandbox.org import ConnectedApp, SandboxOrg

CH = "/data/OrderChangeEvent"


@dataclass
class Env:
    org: SandboxOrg
    server: CometdServer
    port: int
    runner: web.AppRunner
    token_calls: int = 0
    recorded: dict[str, int] = field(default_factory=dict)

    async def fetch_token(self) -> dict[str, Any]:
        self.token_calls += 1
        app = ConnectedApp(name="revflow", consumer_key="k")
        session = self.org.issue_token(app, "0055e000001RvFlAAK")
        return {
            "access_token": session.token,
            "instance_url": self.org.instance_url,
            "token_type": "Bearer",
            "id": f"https://login.salesforce.com/id/{self.org.org_id}/0055e000001RvFlAAK",
        }

    async def get_replay(self, channel: str) -> int | None:
        return self.recorded.get(channel)

    def source(self, fallback: ReplayFallback = ReplayFallback.RAISE) -> CometdSource:
        auth = TokenAuthenticator(self.fetch_token)
        return CometdSource(auth, "62.0", [CH], self.get_replay, fallback, connection_timeout=5)

    def publish(self, n: int) -> list[int]:
        return [
            self.org.events.append(
                CH,
                {"ChangeEventHeader": {"entityName": "Order", "commitTimestamp": i}, "N": i},
                schema_id="s",
            ).replay_id
            for i in range(n)
        ]


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    org = SandboxOrg()
    org.faults.cometd_timeout_s = 1.0
    org.events.declare(CH)
    app = web.Application()
    server = add_cometd_routes(app, org)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    org.instance_url = f"http://localhost:{port}"
    try:
        yield Env(org, server, port, runner)
    finally:
        await runner.cleanup()


async def take(source: CometdSource, n: int, env: Env | None = None) -> list[dict[str, Any]]:
    """Read n messages; with env, record each event's replay id as processed."""
    out: list[dict[str, Any]] = []

    async def run() -> None:
        async for message in source.messages():
            out.append(message)
            if env is not None and "data" in message:
                env.recorded[message["channel"]] = message["data"]["event"]["replayId"]
            if len(out) == n:
                return

    await asyncio.wait_for(run(), 10)
    return out


def rids(messages: list[dict[str, Any]]) -> list[int]:
    return [m["data"]["event"]["replayId"] for m in messages if "data" in m]


async def test_receives_appended_events(env: Env) -> None:
    env.publish(2)  # before subscribing: not delivered (no stored replay id = tip)
    async with env.source() as source:
        ids = env.publish(3)
        got = await take(source, 3)
    assert rids(got) == ids
    assert got[0]["channel"] == CH and got[0]["data"]["payload"]["N"] == 0
    assert env.token_calls == 1


async def test_resumes_after_recorded_replay_id(env: Env) -> None:
    ids = env.publish(5)
    env.recorded[CH] = ids[1]
    async with env.source() as source:
        got = await take(source, 3)
    assert rids(got) == ids[2:]


async def test_cookie_jar_accepts_ip_host(env: Env) -> None:
    env.org.instance_url = f"http://127.0.0.1:{env.port}"
    async with env.source() as source:
        ids = env.publish(1)
        assert rids(await take(source, 1)) == ids


async def test_unknown_client_rehandshakes_without_loss(env: Env) -> None:
    first = env.publish(3)
    env.recorded[CH] = first[0]
    async with env.source() as source:
        old_client_id = source.client_id
        assert old_client_id
        got = await take(source, 2, env)
        env.org.faults.unknown_client = 1.0
        for _ in range(500):
            if env.org.faults_injected.get("unknown_client"):
                break
            await asyncio.sleep(0.01)
        env.org.faults.unknown_client = 0.0
        later = env.publish(4)
        got += await take(source, 4, env)
        new_client_id = source.client_id
    assert new_client_id != old_client_id
    assert set(first[1:] + later) <= set(rids(got))
    assert rids(got)[-1] == later[-1]


async def test_expired_replay_id_raises_on_open(env: Env) -> None:
    ids = env.publish(3)
    env.recorded[CH] = ids[0]
    env.org.events.expire(CH)
    env.publish(1)
    with pytest.raises(ReplayIdExpired) as caught:
        async with env.source():
            pass
    assert caught.value.channel == CH and caught.value.replay_id == ids[0]
    assert "you provided was invalid" in caught.value.error


async def test_expired_replay_id_after_rehandshake_raises(env: Env) -> None:
    ids = env.publish(2)
    env.recorded[CH] = ids[0]
    async with env.source() as source:
        assert rids(await take(source, 1)) == [ids[1]]  # not recorded: stays at ids[0]
        env.org.events.expire(CH)
        env.org.faults.unknown_client = 1.0
        with pytest.raises(ReplayIdExpired) as caught:
            await take(source, 1)
        env.org.faults.unknown_client = 0.0
    assert caught.value.replay_id == ids[0]


async def test_expired_replay_id_with_fallback_yields_gap_then_all_retained(env: Env) -> None:
    ids = env.publish(3)
    env.recorded[CH] = ids[0]
    env.org.events.expire(CH, keep_last=1)
    async with env.source(ReplayFallback.ALL_EVENTS) as source:
        got = await take(source, 2)
    gap = replay_gap(got[0])
    assert gap is not None and gap.channel == CH and gap.replay_id == ids[0] and gap.fallback == -2
    assert rids(got) == [ids[2]]  # the retained backlog, not the tip


async def test_failed_token_request_fails_open(env: Env) -> None:
    async def refuse() -> dict[str, Any]:
        raise TokenRequestFailed(400, {"error": "invalid_grant"})

    source = CometdSource(TokenAuthenticator(refuse), "62.0", [CH], env.get_replay)
    with pytest.raises(AuthenticationError):
        await source.open()


async def test_lost_server_raises_transport_timeout(env: Env) -> None:
    auth = TokenAuthenticator(env.fetch_token)
    source = CometdSource(auth, "62.0", [CH], env.get_replay, connection_timeout=1)
    async with source:
        await env.runner.cleanup()
        with pytest.raises(TransportTimeoutError):
            await asyncio.wait_for(take(source, 1), 10)


async def test_brief_outage_is_survived(env: Env) -> None:
    auth = TokenAuthenticator(env.fetch_token)
    source = CometdSource(auth, "62.0", [CH], env.get_replay, connection_timeout=5)
    async with source:
        before = env.publish(2)
        got = await take(source, 2, env)
        await env.runner.cleanup()
        during = env.publish(2)  # published while the server is down
        await asyncio.sleep(0.5)
        app = web.Application()
        add_cometd_routes(app, env.org)  # a fresh server: the old client id is unknown
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", env.port).start()
        try:
            got += await take(source, 2, env)
        finally:
            await runner.cleanup()
    assert rids(got) == before + during

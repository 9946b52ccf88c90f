"""The webhook connector's own aiohttp pool over real loopback sockets: what it sends,
reuses, refuses to follow, decodes, how many connections it opens, and what it reports
when nothing went out or a send stalled."""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager

import httpx
import pytest
from aiohttp import web
from pydantic import ValidationError
from standardwebhooks.webhooks import Webhook

from revflow.connector_settings import WebhookConnectorSettings
from revflow.connectors import (
    AmbiguousError,
    CallContext,
    EndpointGoneError,
    FatalError,
    RateLimitedError,
    RetryableError,
)
from revflow.connectors.aiohttp_pool import WRITE_CHUNK, direct_pool
from revflow.connectors.http_client import USER_AGENT
from revflow.connectors.signing import generate_secret
from revflow.connectors.webhook import WebhookConnector
from tests.webhookkit import Handler, hook_server

SECRET = generate_secret()


def ctx(key: str = "plan-1:step-so", timeout_s: float = 5.0) -> CallContext:
    return CallContext(
        idempotency_key=key,
        correlation_id="corr-42",
        attempt=1,
        action="create_sales_order",
        timeout_s=timeout_s,
    )


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Handler], Awaitable[str]]]:
    """Start a loopback server for one handler; returns its /hook URL."""
    async with AsyncExitStack() as servers:

        async def start(handler: Handler) -> str:
            return await servers.enter_async_context(hook_server(handler))

        yield start


async def test_signed_delivery_over_a_reused_connection(
    serve: Callable[[Handler], Awaitable[str]],
) -> None:
    seen: list[tuple[dict[str, str], bytes, object]] = []

    async def handler(request: web.Request) -> web.Response:
        peer = request.transport.get_extra_info("peername") if request.transport else None
        headers = {k.lower(): v for k, v in request.headers.items()}
        seen.append((headers, await request.read(), peer))
        return web.json_response({"id": f"SO-{len(seen)}"})

    url = await serve(handler)
    conn = WebhookConnector(url, [SECRET], event_types={"create_sales_order": "so.create"})
    try:
        assert conn._pool is not None  # no client given: the connector's own pool
        first = await conn.call("create_sales_order", {"order_id": "801A"}, ctx("k-1"))
        second = await conn.call("create_sales_order", {"order_id": "801B"}, ctx("k-2"))
    finally:
        await conn.aclose()
    assert (first.external_id, second.external_id) == ("SO-1", "SO-2")
    assert first.status_code == 200 and first.response == {"id": "SO-1"}
    headers, body, peer = seen[0]
    assert headers["idempotency-key"] == "k-1" and headers["x-correlation-id"] == "corr-42"
    assert headers["content-type"] == "application/json"
    assert headers["host"] == url.split("/")[2]
    Webhook(SECRET).verify(body, headers)  # the reference library accepts it
    assert json.loads(body)["type"] == "so.create"
    assert seen[1][2] == peer  # the second call reused the first one's connection


async def test_redirect_is_not_followed(serve: Callable[[Handler], Awaitable[str]]) -> None:
    hits: list[str] = []

    async def handler(request: web.Request) -> web.Response:
        hits.append(request.path)
        raise web.HTTPFound("/elsewhere")

    conn = WebhookConnector(await serve(handler), [SECRET])
    try:
        with pytest.raises(FatalError) as info:
            await conn.call("create_sales_order", {}, ctx())
    finally:
        await conn.aclose()
    assert info.value.status_code == 302
    assert hits == ["/hook"]


async def test_rate_limited_with_retry_after(serve: Callable[[Handler], Awaitable[str]]) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=503, headers={"Retry-After": "7"}, text="busy")

    conn = WebhookConnector(await serve(handler), [SECRET])
    try:
        with pytest.raises(RateLimitedError) as info:
            await conn.call("create_sales_order", {}, ctx())
    finally:
        await conn.aclose()
    assert info.value.retry_after == 7.0 and info.value.status_code == 503
    assert "busy" in info.value.message


async def test_compressed_answer_is_decoded_once(
    serve: Callable[[Handler], Awaitable[str]],
) -> None:
    async def handler(request: web.Request) -> web.Response:
        assert "gzip" in request.headers["Accept-Encoding"]
        body = gzip.compress(json.dumps({"erp_number": "SO-9"}).encode())
        return web.Response(
            body=body, headers={"Content-Encoding": "gzip", "Content-Type": "application/json"}
        )

    conn = WebhookConnector(await serve(handler), [SECRET])
    try:
        result = await conn.call("create_sales_order", {}, ctx())
    finally:
        await conn.aclose()
    assert result.external_id == "SO-9"


async def test_no_pool_slot_in_time_is_retryable_and_nothing_is_sent(
    serve: Callable[[Handler], Awaitable[str]],
) -> None:
    received: list[str] = []
    arrived, release = asyncio.Event(), asyncio.Event()

    async def handler(request: web.Request) -> web.Response:
        received.append(request.headers["Idempotency-Key"])
        arrived.set()
        await release.wait()
        return web.json_response({"id": "x"})

    url = await serve(handler)
    conn = WebhookConnector(url, [SECRET], max_connections=1)
    try:
        holder = asyncio.create_task(conn.call("create_sales_order", {}, ctx("first")))
        await arrived.wait()
        with pytest.raises(RetryableError) as info:
            await conn.call("create_sales_order", {}, ctx("second", timeout_s=0.2))
        assert type(info.value) is RetryableError
        assert info.value.details["exception"] == "ConnectTimeout"
        release.set()
        await holder
    finally:
        await conn.aclose()
    assert received == ["first"]  # the second never went out


async def test_gone_and_non_json_answers(serve: Callable[[Handler], Awaitable[str]]) -> None:
    async def handler(request: web.Request) -> web.Response:
        if request.headers["Idempotency-Key"] == "gone":
            return web.json_response({"error": "endpoint removed"}, status=410)
        return web.Response(text="accepted, thanks")

    conn = WebhookConnector(await serve(handler), [SECRET])
    try:
        with pytest.raises(EndpointGoneError) as info:
            await conn.call("create_sales_order", {}, ctx("gone"))
        result = await conn.call("create_sales_order", {}, ctx("fine"))
    finally:
        await conn.aclose()
    assert info.value.status_code == 410
    assert info.value.details["json"] == {"error": "endpoint removed"}
    assert "/hook" in info.value.message
    assert result.status_code == 200 and result.response == {"text": "accepted, thanks"}
    assert result.external_id is None


async def test_a_url_that_is_not_http_is_fatal() -> None:
    conn = WebhookConnector("ftp://erp.example/hook", [SECRET])
    try:
        with pytest.raises(FatalError) as info:
            await conn.call("create_sales_order", {}, ctx())
    finally:
        await conn.aclose()
    assert info.value.details["exception"] == "UnsupportedProtocol"


async def test_a_proxy_in_the_environment_keeps_httpx(
    serve: Callable[[Handler], Awaitable[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    assert direct_pool() is not None
    monkeypatch.setenv("https_proxy", "http://proxy.internal:3128")
    assert direct_pool() is None
    conn = WebhookConnector("https://erp.example/hook", [SECRET])
    try:
        assert conn._pool is None  # httpx's client reads the proxy, as before
    finally:
        await conn.aclose()


@asynccontextmanager
async def deaf_server() -> AsyncIterator[tuple[str, list[asyncio.StreamWriter]]]:
    """A loopback server that accepts connections and never reads from them."""
    accepted: list[asyncio.StreamWriter] = []

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/hook", accepted
    finally:
        for writer in accepted:
            writer.transport.abort()
        server.close()
        await server.wait_closed()


async def test_a_send_the_endpoint_stops_reading_times_out_as_ambiguous() -> None:
    # far more than the loopback socket buffers hold
    payload = {"blob": "x" * (64 * 1024 * 1024)}
    async with deaf_server() as (url, accepted):
        conn = WebhookConnector(url, [SECRET], timeout_s=0.5)
        try:
            with pytest.raises(AmbiguousError) as info:
                await conn.call("create_sales_order", payload, ctx())
        finally:
            await conn.aclose()
    assert len(accepted) == 1  # the request had started to go out: maybe sent
    assert info.value.details["exception"] == "WriteTimeout"


async def test_a_large_body_that_is_read_arrives_whole(
    serve: Callable[[Handler], Awaitable[str]],
) -> None:
    seen: list[tuple[str | None, bytes]] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append((request.headers.get("Transfer-Encoding"), await request.read()))
        return web.json_response({"id": "SO-big"})

    conn = WebhookConnector(await serve(handler), [SECRET])
    blob = "y" * (3 * WRITE_CHUNK + 17)  # several chunks and a short last one
    try:
        result = await conn.call("create_sales_order", {"blob": blob}, ctx())
    finally:
        await conn.aclose()
    assert result.external_id == "SO-big"
    encoding, body = seen[0]
    assert encoding is None  # sent with a Content-Length, not chunked
    assert json.loads(body)["data"] == {"blob": blob}


async def test_both_pools_send_revflows_user_agent(
    serve: Callable[[Handler], Awaitable[str]],
) -> None:
    agents: list[list[str]] = []

    async def handler(request: web.Request) -> web.Response:
        agents.append(request.headers.getall("User-Agent", []))
        return web.json_response({"id": "SO-1"})

    url = await serve(handler)
    async with httpx.AsyncClient() as client:
        for conn in (
            WebhookConnector(url, [SECRET]),
            WebhookConnector(url, [SECRET], http_client=client),
            WebhookConnector(url, [SECRET], headers={"User-Agent": "erp-bridge/2"}),
        ):
            try:
                await conn.call("create_sales_order", {}, ctx())
            finally:
                await conn.aclose()
    assert USER_AGENT.startswith("revflow/")
    assert agents == [[USER_AGENT], [USER_AGENT], ["erp-bridge/2"]]


async def test_no_more_connections_than_max_connections(
    serve: Callable[[Handler], Awaitable[str]],
) -> None:
    limit = 3
    peers: set[object] = set()
    inside: list[str] = []
    full, release = asyncio.Event(), asyncio.Event()

    async def handler(request: web.Request) -> web.Response:
        peers.add(request.transport.get_extra_info("peername") if request.transport else None)
        inside.append(request.headers["Idempotency-Key"])
        if len(inside) == limit:
            full.set()
        await release.wait()
        return web.json_response({"id": request.headers["Idempotency-Key"]})

    conn = WebhookConnector(await serve(handler), [SECRET], max_connections=limit)
    try:
        calls = [
            asyncio.create_task(conn.call("create_sales_order", {}, ctx(f"k-{n}")))
            for n in range(limit + 1)
        ]
        await full.wait()
        for _ in range(20):  # let the last call try for a connection
            await asyncio.sleep(0.01)
        assert len(inside) == limit  # the last one waits for a free connection
        release.set()
        results = await asyncio.gather(*calls)
    finally:
        release.set()
        await conn.aclose()
    assert sorted(r.external_id or "" for r in results) == [f"k-{n}" for n in range(limit + 1)]
    assert len(peers) == limit  # the last call reused one of the three


def test_max_connections_is_a_validated_webhook_setting() -> None:
    settings = WebhookConnectorSettings(url="http://erp.example/hook", max_connections=8)
    assert settings.connector_options()["max_connections"] == 8
    assert WebhookConnectorSettings().max_connections == 100
    with pytest.raises(ValidationError, match=r"max_connections\n.*greater than or equal to 1"):
        WebhookConnectorSettings(max_connections=0)
    with pytest.raises(ValueError, match="max_connections must be at least 1, not 0"):
        WebhookConnector("http://erp.example/hook", [SECRET], max_connections=0)

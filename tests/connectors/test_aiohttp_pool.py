"""The webhook connector's own aiohttp pool over real loopback sockets: what it sends,
reuses, refuses to follow, decodes and reports when nothing went out."""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack

import pytest
from aiohttp import web
from standardwebhooks.webhooks import Webhook

from revflow.connectors import (
    CallContext,
    EndpointGoneError,
    FatalError,
    RateLimitedError,
    RetryableError,
)
from revflow.connectors.aiohttp_pool import direct_pool
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

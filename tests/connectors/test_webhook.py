"""WebhookConnector: request shape, status classification, transport failures, registry."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest
from aiohttp import web
from standardwebhooks.webhooks import Webhook

from revflow.connectors import (
    AmbiguousError,
    CallContext,
    CallResult,
    ConnectorError,
    EndpointGoneError,
    FakeConnector,
    FatalError,
    RateLimitedError,
    RetryableError,
    build_connector,
    register_connector_type,
)
from revflow.connectors.signing import generate_secret
from revflow.connectors.webhook import WebhookConnector, parse_retry_after, webhook_id_for
from tests.webhookkit import hook_server

URL = "https://erp.example/webhooks/erp"
SECRET = generate_secret()
EVENT_TYPES = {"create_sales_order": "sales_order.create"}


def ctx(attempt: int = 1, timeout_s: float = 5.0, key: str = "plan-1:step-so") -> CallContext:
    return CallContext(
        idempotency_key=key,
        correlation_id="corr-42",
        attempt=attempt,
        action="create_sales_order",
        timeout_s=timeout_s,
    )


def connector_for(
    handler: Callable[[httpx.Request], httpx.Response], **kwargs: Any
) -> WebhookConnector:
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return WebhookConnector(
        URL, [SECRET], timeout_s=5.0, http_client=client, event_types=EVENT_TYPES, **kwargs
    )


async def test_request_is_a_signed_standard_webhook() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json={"id": "SO-000001"})

    result = await connector_for(handler).call("create_sales_order", {"order_id": "801A"}, ctx())
    assert result == CallResult(
        external_id="SO-000001", response={"id": "SO-000001"}, status_code=201
    )

    request = seen[0]
    assert request.method == "POST" and str(request.url) == URL
    assert request.headers["content-type"] == "application/json"
    assert request.headers["webhook-id"] == "msg_plan-1:step-so"
    assert request.headers["idempotency-key"] == "plan-1:step-so"
    assert request.headers["x-correlation-id"] == "corr-42"
    body = Webhook(SECRET).verify(request.content, dict(request.headers))
    assert body["type"] == "sales_order.create"
    assert body["data"] == {"order_id": "801A"}
    assert datetime.fromisoformat(body["timestamp"]).tzinfo is not None


async def test_webhook_id_stable_across_retries_timestamp_fresh() -> None:
    seen: list[httpx.Request] = []
    answers = iter([httpx.Response(503), httpx.Response(200, json={"id": "SO-1"})])

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return next(answers)

    clock = iter([1_700_000_000.0, 1_700_000_042.0])
    conn = connector_for(handler, clock=lambda: next(clock))
    with pytest.raises(RateLimitedError):
        await conn.call("create_sales_order", {"order_id": "801A"}, ctx(attempt=1))
    await conn.call("create_sales_order", {"order_id": "801A"}, ctx(attempt=2))

    first, second = seen
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert first.headers["webhook-timestamp"] == "1700000000"
    assert second.headers["webhook-timestamp"] == "1700000042"
    assert first.headers["webhook-signature"] != second.headers["webhook-signature"]


def test_webhook_id_derivation() -> None:
    assert webhook_id_for("plan-1:step-so") == webhook_id_for("plan-1:step-so")
    assert webhook_id_for("a") != webhook_id_for("b")
    odd = webhook_id_for("plan 1/étape")
    assert odd.startswith("msg_") and odd.isascii() and " " not in odd
    assert odd == webhook_id_for("plan 1/étape")


def test_rotation_sends_one_signature_per_secret() -> None:
    old, new = generate_secret(), generate_secret()
    conn = WebhookConnector(URL, [new, old])
    body, headers = conn.build_request("invoice.create", {"order_id": "1"}, ctx())
    assert len(headers["webhook-signature"].split(" ")) == 2
    for secret in (old, new):
        Webhook(secret).verify(body, headers)
    assert json.loads(body)["type"] == "invoice.create"  # unmapped action is its own type


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (410, EndpointGoneError),
        (429, RateLimitedError),
        (503, RateLimitedError),
        (500, RetryableError),
        (502, RetryableError),
        (504, RetryableError),
        (408, RetryableError),
        (400, FatalError),
        (401, FatalError),
        (404, FatalError),
        (409, FatalError),
        (422, FatalError),
        (302, FatalError),
    ],
)
async def test_status_classification(status: int, error: type[ConnectorError]) -> None:
    conn = connector_for(lambda r: httpx.Response(status, text="the target says no"))
    with pytest.raises(ConnectorError) as info:
        await conn.call("create_sales_order", {}, ctx())
    assert type(info.value) is error
    assert info.value.status_code == status
    assert "the target says no" in info.value.message
    if error is EndpointGoneError:
        assert info.value.endpoint_gone  # type: ignore[attr-defined]


async def test_fatal_error_keeps_the_targets_message() -> None:
    answer = {"errors": [{"field": "currency", "message": "unknown currency XXX"}]}
    conn = connector_for(lambda r: httpx.Response(422, json=answer))
    with pytest.raises(FatalError) as info:
        await conn.call("create_sales_order", {}, ctx())
    assert "unknown currency XXX" in info.value.message
    assert info.value.details["json"] == answer
    assert not info.value.endpoint_gone


@pytest.mark.parametrize("status", [429, 503])
async def test_retry_after_seconds(status: int) -> None:
    conn = connector_for(lambda r: httpx.Response(status, headers={"Retry-After": "7"}))
    with pytest.raises(RateLimitedError) as info:
        await conn.call("create_sales_order", {}, ctx())
    assert info.value.retry_after == 7.0


async def test_retry_after_http_date() -> None:
    when = datetime.now(UTC) + timedelta(seconds=120)
    headers = {"Retry-After": format_datetime(when, usegmt=True)}
    conn = connector_for(lambda r: httpx.Response(429, headers=headers))
    with pytest.raises(RateLimitedError) as info:
        await conn.call("create_sales_order", {}, ctx())
    assert info.value.retry_after is not None
    assert 110 <= info.value.retry_after <= 120


async def test_rate_limited_without_retry_after() -> None:
    conn = connector_for(lambda r: httpx.Response(503))
    with pytest.raises(RateLimitedError) as info:
        await conn.call("create_sales_order", {}, ctx())
    assert info.value.retry_after is None


def test_parse_retry_after() -> None:
    now = 1_700_000_000.0
    assert parse_retry_after("0") == 0.0
    assert parse_retry_after(" 30 ") == 30.0
    assert parse_retry_after("-5") == 0.0
    assert parse_retry_after("Tue, 14 Nov 2023 22:15:00 GMT", now=now) == 100.0
    assert parse_retry_after("Tue, 14 Nov 2023 22:00:00 GMT", now=now) == 0.0  # past
    assert parse_retry_after("soon") is None
    assert parse_retry_after("nan") is None
    assert parse_retry_after("inf") is None
    assert parse_retry_after(None) is None


@pytest.mark.parametrize(
    ("answer", "paths", "expected"),
    [
        ({"id": "A1", "erp_number": "SO-1"}, ("id", "erp_number"), "A1"),
        ({"erp_number": "SO-1"}, ("id", "erp_number"), "SO-1"),
        ({"result": {"number": 12}}, "result.number", "12"),
        ({"other": 1}, ("id", "erp_number"), None),
    ],
)
async def test_external_id_paths(
    answer: dict[str, Any], paths: str | tuple[str, ...], expected: str | None
) -> None:
    conn = connector_for(lambda r: httpx.Response(200, json=answer), external_id_paths=paths)
    result = await conn.call("create_sales_order", {}, ctx())
    assert result.external_id == expected
    assert result.response == answer


async def test_non_json_success_body() -> None:
    conn = connector_for(lambda r: httpx.Response(202, text="queued"))
    result = await conn.call("create_sales_order", {}, ctx())
    assert result == CallResult(external_id=None, response={"text": "queued"}, status_code=202)
    empty = connector_for(lambda r: httpx.Response(204))
    assert (await empty.call("create_sales_order", {}, ctx())).response == {}


async def test_find_existing_is_unknown() -> None:
    conn = connector_for(lambda r: httpx.Response(200))
    assert await conn.find_existing("create_sales_order", {}, ctx()) is None


def test_bad_configuration_fails_early() -> None:
    with pytest.raises(ValueError):
        WebhookConnector(URL, [])
    with pytest.raises(ValueError):
        WebhookConnector(URL, ["whsec_***"])


# Real sockets: what really happens before and after the request goes out.


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_connection_refused_is_retryable() -> None:
    conn = WebhookConnector(f"http://127.0.0.1:{free_port()}/hook", [SECRET])
    try:
        with pytest.raises(RetryableError) as info:
            await conn.call("create_sales_order", {}, ctx())
        assert type(info.value) is RetryableError
        assert info.value.status_code is None
    finally:
        await conn.aclose()


@pytest.fixture
async def slow_server() -> AsyncIterator[tuple[str, list[bytes]]]:
    received: list[bytes] = []

    async def handler(request: web.Request) -> web.Response:
        received.append(await request.read())
        await asyncio.sleep(2)
        return web.json_response({"id": "late"})

    async with hook_server(handler) as url:
        yield url, received


async def test_timeout_after_send_is_ambiguous(slow_server: tuple[str, list[bytes]]) -> None:
    url, received = slow_server
    conn = WebhookConnector(url, [SECRET], timeout_s=5.0)
    try:
        with pytest.raises(AmbiguousError) as info:
            await conn.call("create_sales_order", {"order_id": "801A"}, ctx(timeout_s=0.3))
        assert info.value.details["exception"] == "ReadTimeout"
        assert len(received) == 1  # the target did get it: the outcome really is unknown
    finally:
        await conn.aclose()


async def test_connection_dropped_after_send_is_ambiguous() -> None:
    got_request = asyncio.Event()

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        got_request.set()
        writer.close()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    conn = WebhookConnector(f"http://127.0.0.1:{port}/hook", [SECRET])
    try:
        with pytest.raises(AmbiguousError) as info:
            await conn.call("create_sales_order", {}, ctx())
        assert info.value.details["exception"] in ("RemoteProtocolError", "ReadError")
        assert got_request.is_set()
    finally:
        await conn.aclose()
        server.close()
        await server.wait_closed()


# Registry.


async def test_build_webhook_connector_from_settings() -> None:
    settings = {
        "type": "webhook",
        "url": URL,
        "secrets": f"{SECRET} {generate_secret()}",
        "timeout_s": 3,
        "event_types": EVENT_TYPES,
        "external_id_paths": "erp_number",
    }
    conn = build_connector("erp", settings)
    assert isinstance(conn, WebhookConnector)
    assert conn.name == "erp" and conn.url == URL and len(conn.secrets) == 2
    assert conn.external_id_paths == ("erp_number",)
    assert settings["type"] == "webhook"  # the caller's dict is left alone

    shared = httpx.AsyncClient()
    try:
        built = build_connector("erp", {**settings, "secrets": [SECRET]}, http_client=shared)
        assert isinstance(built, WebhookConnector) and built.client is shared
    finally:
        await shared.aclose()


def test_registry_rejects_bad_settings() -> None:
    with pytest.raises(ValueError, match="type"):
        build_connector("x", {"url": URL})
    with pytest.raises(ValueError, match="unknown connector type"):
        build_connector("x", {"type": "carrier-pigeon"})
    with pytest.raises(ValueError, match="url"):
        build_connector("x", {"type": "webhook", "secrets": [SECRET]})
    with pytest.raises(ValueError, match="colour"):
        build_connector("x", {"type": "webhook", "url": URL, "secrets": [SECRET], "colour": 1})


def build_echo(name: str, settings: Mapping[str, Any]) -> FakeConnector:
    return FakeConnector(lambda action, payload, ctx: {"id": settings["prefix"] + action})


async def test_registry_by_name_and_by_import_path() -> None:
    settings = {"type": "tests.connectors.test_webhook:build_echo", "prefix": "p-"}
    by_path = build_connector("a", settings)
    assert (await by_path.call("x", {}, ctx())).external_id == "p-x"

    register_connector_type("echo", build_echo)
    by_name = build_connector("b", {"type": "echo", "prefix": "q-"})
    assert by_name.name == "b"
    assert (await by_name.call("y", {}, ctx())).external_id == "q-y"


async def test_fake_connector_sync_async_and_errors() -> None:
    async def handler(action: str, payload: dict[str, Any], c: CallContext) -> CallResult:
        if c.attempt == 1:
            raise AmbiguousError("timed out")
        return CallResult(external_id="E1", response={"ok": True}, status_code=201)

    fake = FakeConnector(handler, find_existing=lambda a, p, c: None)
    with pytest.raises(AmbiguousError):
        await fake.call("create_sales_order", {"n": 1}, ctx(attempt=1))
    assert await fake.find_existing("create_sales_order", {"n": 1}, ctx(attempt=2)) is None
    assert (await fake.call("create_sales_order", {"n": 1}, ctx(attempt=2))).external_id == "E1"
    assert [c.attempt for _, _, c in fake.calls] == [1, 2]
    assert await FakeConnector(lambda a, p, c: None).find_existing("a", {}, ctx()) is None


async def test_external_id_expression_wins_over_the_dotted_paths() -> None:
    answer = {"id": "ack-1", "result": {"documentNo": "D-7"}}
    conn = connector_for(
        lambda r: httpx.Response(200, json=answer), external_id="result.documentNo"
    )
    result = await conn.call("create_sales_order", {}, ctx())
    assert result.external_id == "D-7" and result.response == answer


def test_bad_external_id_expression_names_the_connector() -> None:
    settings = {"type": "webhook", "url": URL, "secrets": [SECRET], "external_id": "result.["}
    with pytest.raises(ValueError) as info:
        build_connector("erp", settings)
    assert str(info.value).startswith(
        "webhook connector 'erp': bad JMESPath expression 'result.[' at character 9"
    )

"""The AMQP connector against the real RabbitMQ on 127.0.0.1:5672 (skipped if unreachable)."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import uuid
from collections.abc import AsyncIterator

import aio_pika
import pytest

from revflow.connectors.amqp import AmqpConnector
from revflow.connectors.base import CallContext
from revflow.connectors.errors import FatalError, RetryableError
from revflow.connectors.registry import build_connector

URL = os.environ.get("REVFLOW_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")


def _reachable(host: str = "127.0.0.1", port: int = 5672) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


pytestmark = pytest.mark.skipif(
    not _reachable(), reason="RabbitMQ is not reachable on 127.0.0.1:5672"
)


def ctx(key: str = "plan-1-so", attempt: int = 1) -> CallContext:
    return CallContext(
        idempotency_key=key,
        correlation_id="rf-8015e00000Q7mNpAAJ",
        attempt=attempt,
        action="create_sales_order",
        timeout_s=10.0,
    )


@pytest.fixture
async def channel() -> AsyncIterator[aio_pika.abc.AbstractChannel]:
    try:
        connection = await aio_pika.connect(URL, timeout=5)
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"RabbitMQ at {URL} refused the test connection: {exc!r}")
    async with connection:
        yield await connection.channel()


@pytest.fixture
async def queue(channel) -> AsyncIterator[aio_pika.abc.AbstractQueue]:
    q = await channel.declare_queue(f"revflow-test-{uuid.uuid4().hex}", exclusive=True)
    yield q
    await q.delete(if_unused=False, if_empty=False)


async def get_one(q: aio_pika.abc.AbstractQueue) -> aio_pika.abc.AbstractIncomingMessage:
    for _ in range(50):
        message = await q.get(no_ack=True, fail=False)
        if message is not None:
            return message
        await asyncio.sleep(0.05)
    raise AssertionError(f"no message arrived on {q.name}")


async def test_publishes_a_persistent_confirmed_message_with_properties(queue):
    conn = AmqpConnector(URL, routing_key=queue.name, event_types={"so": "sales_order.create"})
    try:
        result = await conn.call("so", {"order": "A-1", "amount": 12}, ctx())
    finally:
        await conn.aclose()
    assert result.external_id is None
    assert result.response["confirmed"] is True and result.response["message_id"] == "plan-1-so"
    message = await get_one(queue)
    assert json.loads(message.body) == {"order": "A-1", "amount": 12}
    assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    assert message.message_id == "plan-1-so"
    assert message.correlation_id == "rf-8015e00000Q7mNpAAJ"
    assert message.content_type == "application/json"
    assert message.type == "sales_order.create"
    assert message.app_id == "revflow"
    assert message.headers["idempotency-key"] == "plan-1-so"
    assert message.headers["x-attempt"] == 1


async def test_named_exchange_and_routing_key_per_action(channel, queue):
    name = f"revflow-test-x-{uuid.uuid4().hex}"
    exchange = await channel.declare_exchange(name, "topic", auto_delete=True)
    await queue.bind(exchange, "erp.orders.#")
    conn = build_connector(
        "erp-q",
        {
            "type": "amqp",
            "url": URL,
            "exchange": name,
            "routing_key": "erp.unused",
            "routing_keys": {"so": "erp.orders.create"},
        },
    )
    assert isinstance(conn, AmqpConnector) and conn.name == "erp-q"
    try:
        await conn.call("so", {"n": 1}, ctx("k-1"))
        await conn.call("so", {"n": 2}, ctx("k-2", attempt=2))  # reuses the connection
    finally:
        await conn.aclose()
    first, second = await get_one(queue), await get_one(queue)
    assert (first.message_id, second.message_id) == ("k-1", "k-2")
    assert first.routing_key == "erp.orders.create"
    await exchange.delete()


async def test_declare_exchange_creates_a_durable_exchange(channel):
    name = f"revflow-test-x-{uuid.uuid4().hex}"
    q = await channel.declare_queue(exclusive=True)
    conn = AmqpConnector(URL, name, "orders", declare_exchange="direct")
    try:
        # nothing is bound yet: the broker returns the message
        with pytest.raises(RetryableError, match="returned"):
            await conn.call("so", {}, ctx())
        await q.bind(name, "orders")
        await conn.call("so", {"ok": True}, ctx())
    finally:
        await conn.aclose()
    assert json.loads((await get_one(q)).body) == {"ok": True}
    await channel.get_exchange(name)  # still there
    await (await channel.get_exchange(name)).delete()


async def test_unroutable_message_is_retryable():
    conn = AmqpConnector(URL, routing_key=f"no-such-queue-{uuid.uuid4().hex}")
    try:
        with pytest.raises(RetryableError, match="returned") as info:
            await conn.call("so", {}, ctx())
    finally:
        await conn.aclose()
    assert info.value.details["routing_key"].startswith("no-such-queue-")


async def test_nacked_message_is_retryable(channel):
    q = await channel.declare_queue(
        f"revflow-test-{uuid.uuid4().hex}",
        auto_delete=True,
        arguments={"x-max-length": 1, "x-overflow": "reject-publish"},
    )
    conn = AmqpConnector(URL, routing_key=q.name)
    try:
        await conn.call("so", {"n": 1}, ctx("k-1"))
        with pytest.raises(RetryableError, match="nack"):
            await conn.call("so", {"n": 2}, ctx("k-2"))
        await get_one(q)  # room again: the retry goes through
        await conn.call("so", {"n": 2}, ctx("k-2", attempt=2))
    finally:
        await conn.aclose()
        await q.delete(if_unused=False, if_empty=False)


async def test_missing_exchange_is_fatal():
    conn = AmqpConnector(URL, f"no-such-exchange-{uuid.uuid4().hex}", "k")
    try:
        with pytest.raises(FatalError, match="does not exist"):
            await conn.call("so", {}, ctx())
    finally:
        await conn.aclose()


async def test_unreachable_broker_is_retryable():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    conn = AmqpConnector(f"amqp://guest:guest@127.0.0.1:{port}/", routing_key="q", timeout_s=2)
    with pytest.raises(RetryableError, match="cannot connect"):
        await conn.call("so", {}, ctx())
    await conn.aclose()


async def test_bad_credentials_are_fatal():
    conn = AmqpConnector("amqp://nobody:wrong@127.0.0.1:5672/", routing_key="q", timeout_s=5)
    with pytest.raises(FatalError, match="refused"):
        await conn.call("so", {}, ctx())
    await conn.aclose()


async def test_unencodable_payload_is_fatal():
    conn = AmqpConnector(URL, routing_key="q")
    with pytest.raises(FatalError, match="encode"):
        await conn.call("so", {"x": object()}, ctx())
    await conn.aclose()


def test_settings_are_checked():
    with pytest.raises(ValueError, match="amqp://"):
        build_connector("q", {"type": "amqp", "url": "http://x"})
    with pytest.raises(ValueError, match="unexpected keyword"):
        build_connector("q", {"type": "amqp", "url": URL, "nope": 1})

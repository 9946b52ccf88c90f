"""A sandbox warehouse that takes pick requests from a real RabbitMQ queue.

It stands for a warehouse system consuming the messages Revflow's AMQP connector
publishes: it declares a durable direct exchange and its own queue (names unique per
run, removed at ``close``), consumes and acknowledges every message, and keeps one pick
request per ``message_id``, as a consumer that dedupes on it does.  A repeated
``message_id`` is a redelivery, not a second document; a *second* ``message_id`` for
the same order is a duplicate pick request, the sender's bug ``stats`` exists to catch.

``unbind``/``bind`` take the queue off the exchange and put it back: while it is off,
Revflow's publishes come back unroutable (``mandatory``), the way a warehouse that is
down for maintenance looks to the sender.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import aio_pika
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustConnection,
)

__all__ = ["PickRequest", "SandboxWarehouse"]

ROUTING_KEY = "pick_requests"


@dataclass
class PickRequest:
    message_id: str
    order_id: str | None
    type: str | None
    deliveries: int = 1


@dataclass
class SandboxWarehouse:
    """The warehouse's queue on ``url`` and the pick requests it received."""

    url: str = "amqp://guest:guest@127.0.0.1:5672/"
    name: str = field(default_factory=lambda: f"revflow-demo-warehouse-{uuid.uuid4().hex[:12]}")
    requests: dict[str, PickRequest] = field(default_factory=dict)  # by message_id
    received: int = 0
    _connection: AbstractRobustConnection | None = None
    _channel: AbstractChannel | None = None
    _exchange: AbstractExchange | None = None
    _queue: AbstractQueue | None = None

    async def start(self, *, bound: bool = True) -> SandboxWarehouse:
        self._connection = await aio_pika.connect_robust(self.url, timeout=10)
        self._channel = await self._connection.channel()
        self._exchange = await self._channel.declare_exchange(
            self.name, aio_pika.ExchangeType.DIRECT, durable=True
        )
        self._queue = await self._channel.declare_queue(self.name, exclusive=True)
        if bound:
            await self.bind()
        await self._queue.consume(self._on_message)
        return self

    async def bind(self) -> None:
        assert self._queue is not None and self._exchange is not None, "not started"
        await self._queue.bind(self._exchange, ROUTING_KEY)

    async def unbind(self) -> None:
        assert self._queue is not None and self._exchange is not None, "not started"
        await self._queue.unbind(self._exchange, ROUTING_KEY)

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        async with message.process():
            self.received += 1
            key = message.message_id or f"no-id-{self.received}"
            if key in self.requests:
                self.requests[key].deliveries += 1
                return
            try:
                body = json.loads(message.body)
            except ValueError:
                body = {}
            order = body.get("external_id") if isinstance(body, dict) else None
            self.requests[key] = PickRequest(
                key, None if order is None else str(order), message.type
            )

    def connector_settings(self) -> dict[str, Any]:
        """Revflow's settings for an AMQP connector publishing to this warehouse."""
        return {
            "type": "amqp",
            "url": self.url,
            "exchange": self.name,
            "routing_key": ROUTING_KEY,
            "timeout_s": 5.0,
        }

    def orders(self) -> Counter[str]:
        """Pick requests (distinct message ids) per order."""
        return Counter(r.order_id for r in self.requests.values() if r.order_id is not None)

    def stats(self) -> dict[str, Any]:
        per_order = self.orders()
        return {
            "received": self.received,
            "documents": len(self.requests),
            "redeliveries": self.received - len(self.requests),
            "duplicate_orders": sorted(o for o, n in per_order.items() if n > 1),
        }

    async def close(self) -> None:
        if self._channel is not None and self._exchange is not None:
            with contextlib.suppress(aio_pika.exceptions.AMQPError):  # a broken channel
                await self._channel.exchange_delete(self.name)
        if self._connection is not None:
            await self._connection.close()
        self._connection = self._channel = None

"""Deliver plan steps as persistent AMQP 0-9-1 messages (RabbitMQ), for ERPs that consume queues.

Each call publishes one message to ``exchange`` (``""``: the default exchange, where the
routing key is a queue name) with the routing key of the action (``routing_keys``,
else ``routing_key``, else the action name).  The body is the JSON payload; the
properties are

- ``delivery_mode=2`` (persistent), ``content_type="application/json"``;
- ``message_id``: ``ctx.idempotency_key``, the same on every attempt, so consumers
  dedupe on it;
- ``correlation_id``: ``ctx.correlation_id``; ``type``: the event type of the action
  (``event_types``, else the action); ``app_id``: ``"revflow"``; ``timestamp``;
- headers ``idempotency-key``, ``x-correlation-id`` and ``x-attempt``.

The channel uses publisher confirms and publishes with ``mandatory=True``: a call
succeeds only when the broker has confirmed the message (for persistent messages on
durable queues, after writing it to disk).  A ``Basic.Nack`` or a returned
(unroutable) message is ``RetryableError``; failing to connect is ``RetryableError``;
an exchange that does not exist or refused credentials are ``FatalError``; a
connection lost or a confirm not received within the timeout after publishing is
``AmbiguousError`` (the broker may have the message; consumers dedupe on
``message_id``).  A queue cannot be asked what it holds, so ``find_existing`` is
``None``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import aio_pika
import aiormq
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractExchange
from pamqp.commands import Basic

from revflow.connectors.base import CallContext, CallResult, Connector
from revflow.connectors.errors import AmbiguousError, FatalError, RetryableError

__all__ = ["AmqpConnector"]

DEFAULT_URL = "amqp://guest:guest@127.0.0.1:5672/"
DEFAULT_TIMEOUT_S = 10.0


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


class AmqpConnector(Connector):
    """Publish each action as a persistent, confirmed message.

    ``url`` is an ``amqp://`` or ``amqps://`` URL; ``declare_exchange`` (an exchange
    type such as ``"topic"``) declares a durable ``exchange`` at connect instead of
    expecting it to exist.  The connection is opened on the first call and reopened
    after it breaks; ``aclose`` closes it.
    """

    def __init__(
        self,
        url: str = DEFAULT_URL,
        exchange: str = "",
        routing_key: str | None = None,
        *,
        routing_keys: Mapping[str, str] | None = None,
        event_types: Mapping[str, str] | None = None,
        declare_exchange: str | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        headers: Mapping[str, Any] | None = None,
    ) -> None:
        if not url.startswith(("amqp://", "amqps://")):
            raise ValueError("AmqpConnector url must start with amqp:// or amqps://")
        if not exchange and declare_exchange:
            raise ValueError("declare_exchange needs a named exchange")
        self.url = url
        self.exchange_name = exchange
        self.routing_key = routing_key
        self.routing_keys = dict(routing_keys or {})
        self.event_types = dict(event_types or {})
        self.declare_exchange = declare_exchange
        self.timeout_s = timeout_s
        self.extra_headers = dict(headers or {})
        self._connection: AbstractConnection | None = None
        self._channel: AbstractChannel | None = None
        self._exchange: AbstractExchange | None = None
        self._lock = asyncio.Lock()

    def routing_key_for(self, action: str) -> str:
        return self.routing_keys.get(action) or self.routing_key or action

    def build_message(
        self, action: str, payload: dict[str, Any], ctx: CallContext
    ) -> aio_pika.Message:
        """The message of one attempt (exposed for tests and debugging)."""
        body = json.dumps(payload, separators=(",", ":"), default=_json_default).encode()
        return aio_pika.Message(
            body,
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=ctx.idempotency_key,
            correlation_id=ctx.correlation_id,
            type=self.event_types.get(action, action),
            app_id="revflow",
            timestamp=datetime.now(UTC),
            headers={
                **self.extra_headers,
                "idempotency-key": ctx.idempotency_key,
                "x-correlation-id": ctx.correlation_id,
                "x-attempt": ctx.attempt,
            },
        )

    async def _get_exchange(self, timeout_s: float) -> AbstractExchange:
        async with self._lock:
            if (
                self._exchange is not None
                and self._channel is not None
                and not self._channel.is_closed
            ):
                return self._exchange
            await self._reset()
            try:
                self._connection = await aio_pika.connect(self.url, timeout=timeout_s)
                self._channel = await self._connection.channel(publisher_confirms=True)
                if not self.exchange_name:
                    self._exchange = self._channel.default_exchange
                elif self.declare_exchange:
                    self._exchange = await self._channel.declare_exchange(
                        self.exchange_name, self.declare_exchange, durable=True, timeout=timeout_s
                    )
                else:
                    self._exchange = await self._channel.get_exchange(
                        self.exchange_name, ensure=True
                    )
            except aiormq.exceptions.ChannelNotFoundEntity as exc:
                await self._reset()
                raise FatalError(
                    f"AMQP exchange {self.exchange_name!r} does not exist: {exc}",
                    details={"exchange": self.exchange_name},
                ) from exc
            except aiormq.exceptions.ChannelAccessRefused as exc:
                await self._reset()
                raise FatalError(f"AMQP access refused: {exc}") from exc
            except aiormq.exceptions.ProbableAuthenticationError as exc:
                await self._reset()
                raise FatalError(f"AMQP login refused: {exc}") from exc
            except (aiormq.exceptions.AMQPError, OSError, TimeoutError) as exc:
                await self._reset()
                raise RetryableError(
                    f"cannot connect to AMQP broker: {type(exc).__name__}: {exc}",
                    details={"exception": type(exc).__name__},
                ) from exc
            return self._exchange

    async def _reset(self) -> None:
        connection, self._connection = self._connection, None
        self._channel = None
        self._exchange = None
        if connection is not None and not connection.is_closed:
            with contextlib.suppress(Exception):  # closing a broken connection may fail
                await connection.close()

    async def aclose(self) -> None:
        async with self._lock:
            await self._reset()

    async def call(self, action: str, payload: dict[str, Any], ctx: CallContext) -> CallResult:
        try:
            message = self.build_message(action, payload, ctx)
        except (TypeError, ValueError) as exc:
            raise FatalError(f"cannot encode {action} payload: {exc}") from exc
        timeout = min(self.timeout_s, ctx.timeout_s) if ctx.timeout_s > 0 else self.timeout_s
        exchange = await self._get_exchange(timeout)
        routing_key = self.routing_key_for(action)
        where = {"exchange": self.exchange_name, "routing_key": routing_key}
        try:
            confirm = await exchange.publish(message, routing_key, mandatory=True, timeout=timeout)
        except aio_pika.exceptions.PublishError as exc:  # a DeliveryError: check first
            raise RetryableError(f"AMQP message was returned: {exc}", details=where) from exc
        except aio_pika.exceptions.DeliveryError as exc:
            raise RetryableError(f"AMQP broker nacked the message: {exc}", details=where) from exc
        except aiormq.exceptions.ChannelNotFoundEntity as exc:
            await self._drop()
            raise FatalError(f"AMQP exchange not found: {exc}", details=where) from exc
        except aiormq.exceptions.ChannelInvalidStateError as exc:
            await self._drop()  # closed before we wrote anything
            raise RetryableError(f"AMQP channel closed: {exc}", details=where) from exc
        except (TimeoutError, aiormq.exceptions.AMQPError, OSError) as exc:
            await self._drop()
            raise AmbiguousError(
                f"AMQP publish unconfirmed: {type(exc).__name__}: {exc}",
                details={**where, "exception": type(exc).__name__},
            ) from exc
        if isinstance(confirm, aiormq.abc.DeliveredMessage):
            reply = getattr(confirm.delivery, "reply_text", "") or "unroutable"
            raise RetryableError(
                f"AMQP message returned by the broker: {reply} "
                f"(exchange {self.exchange_name!r}, routing key {routing_key!r})",
                details=where,
            )
        if confirm is not None and not isinstance(confirm, Basic.Ack):
            raise RetryableError(f"AMQP broker did not ack: {confirm!r}", details=where)
        return CallResult(
            external_id=None,
            response={**where, "message_id": ctx.idempotency_key, "confirmed": True},
        )

    async def _drop(self) -> None:
        async with self._lock:
            await self._reset()

    @classmethod
    def from_settings(cls, name: str, settings: Mapping[str, Any]) -> AmqpConnector:
        options = dict(settings)
        options.pop("http_client", None)
        try:
            return cls(**options)
        except TypeError as exc:
            raise ValueError(f"amqp connector {name!r}: {exc}") from exc

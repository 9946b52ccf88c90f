"""The connector boundary: one ``call`` per plan step, plus an optional look-up.

A connector turns ``(action, payload, ctx)`` into one request to a target system
and returns a ``CallResult`` or raises an error from ``revflow.connectors.errors``::

    class EchoConnector(Connector):
        async def call(self, action: str, payload: dict, ctx: CallContext) -> CallResult:
            return CallResult(external_id=payload["order_id"], response=payload)

``FakeConnector`` implements it by calling a handler, as httpx's ``MockTransport``
does, so tests inject behaviour instead of patching.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeAlias

__all__ = ["CallContext", "CallResult", "Connector", "FakeConnector", "Handler"]


@dataclass(frozen=True)
class CallContext:
    """Per-attempt facts the orchestrator hands to a connector.

    ``idempotency_key`` is deterministic per plan step (the same on every attempt);
    ``attempt`` starts at 1; ``timeout_s`` bounds this one attempt.
    """

    idempotency_key: str
    correlation_id: str
    attempt: int
    action: str
    timeout_s: float


@dataclass
class CallResult:
    """A successful call: the target's id for what it created, and its answer."""

    external_id: str | None
    response: dict[str, Any] = field(default_factory=dict)
    status_code: int | None = None


class Connector(ABC):
    """A target system.  Subclasses implement ``call``; the rest is optional."""

    name: str = ""

    @abstractmethod
    async def call(self, action: str, payload: dict[str, Any], ctx: CallContext) -> CallResult:
        """Perform ``action`` once.

        Return a ``CallResult`` on success; raise ``RetryableError``,
        ``RateLimitedError``, ``FatalError`` or ``AmbiguousError`` otherwise.
        Must be safe to repeat with the same ``ctx.idempotency_key``.
        """

    async def find_existing(
        self, action: str, payload: dict[str, Any], ctx: CallContext
    ) -> CallResult | None:
        """Check whether an earlier, ambiguous attempt landed (check-before-retry).

        Return the earlier result if it did; ``None`` means *unknown* (the default),
        not *absent*.
        """
        return None

    async def aclose(self) -> None:
        """Release resources the connector owns (HTTP clients, sessions)."""
        return None


HandlerResult: TypeAlias = CallResult | dict[str, Any] | None
Handler: TypeAlias = Callable[
    [str, dict[str, Any], CallContext], HandlerResult | Awaitable[HandlerResult]
]


class FakeConnector(Connector):
    """A connector that calls ``handler(action, payload, ctx)``, sync or async.

    The handler returns a ``CallResult``, or a dict (wrapped, ``external_id``
    taken from its ``"id"``), or raises a connector error.  ``find_existing``
    does the same with an optional second handler.  Every call is recorded.
    """

    def __init__(self, handler: Handler, *, find_existing: Handler | None = None) -> None:
        self.handler = handler
        self.find_handler = find_existing
        self.calls: list[tuple[str, dict[str, Any], CallContext]] = []

    async def call(self, action: str, payload: dict[str, Any], ctx: CallContext) -> CallResult:
        self.calls.append((action, payload, ctx))
        result = await _run(self.handler, action, payload, ctx)
        return result if result is not None else CallResult(external_id=None)

    async def find_existing(
        self, action: str, payload: dict[str, Any], ctx: CallContext
    ) -> CallResult | None:
        if self.find_handler is None:
            return None
        return await _run(self.find_handler, action, payload, ctx)


async def _run(
    handler: Handler, action: str, payload: dict[str, Any], ctx: CallContext
) -> CallResult | None:
    value = handler(action, payload, ctx)
    if inspect.isawaitable(value):
        value = await value
    if value is None or isinstance(value, CallResult):
        return value
    if isinstance(value, dict):
        ext = value.get("id")
        return CallResult(external_id=None if ext is None else str(ext), response=value)
    raise TypeError(f"connector handler returned {type(value).__name__}")

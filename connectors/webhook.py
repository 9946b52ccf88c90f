"""Deliver plan steps as signed Standard Webhooks over HTTP POST.

Each call POSTs ``{"type": ..., "timestamp": <ISO 8601>, "data": payload}`` with

- ``webhook-id``: derived from ``ctx.idempotency_key`` (``msg_<key>``), the same on
  every attempt, so receivers can dedupe on it as Standard Webhooks asks them to;
- ``webhook-timestamp`` and ``webhook-signature``: fresh for every attempt;
- ``Idempotency-Key`` and ``X-Correlation-Id`` from the context;
- ``User-Agent: revflow/<version>`` (``USER_AGENT``) over aiohttp and httpx alike,
  unless ``headers`` names one.

Answers map onto ``revflow.connectors.errors`` (``revflow.connectors.http_errors``): 2xx success;
410 ``EndpointGoneError``; 429 and 503 ``RateLimitedError`` (``Retry-After`` in
seconds or as an HTTP date); 408 and other 5xx ``RetryableError``; other statuses
``FatalError`` with the body.
A connection that failed before the request went out is ``RetryableError``; one
that timed out or broke after it went out is ``AmbiguousError``.

A webhook cannot be queried, so ``find_existing`` answers ``None`` (unknown); the
orchestrator then retries an ambiguous step, and because the ``webhook-id`` is
unchanged the receiver returns its earlier answer instead of acting twice.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import httpx

from revflow.connectors.aiohttp_pool import AiohttpPool, direct_pool
from revflow.connectors.base import CallContext, CallResult, Connector
from revflow.connectors.errors import ConnectorError, FatalError
from revflow.connectors.external_id import ExternalIdPath, compile_path
from revflow.connectors.http_client import USER_AGENT, HttpClientOwner
from revflow.connectors.http_errors import (
    MAX_BODY_CHARS,
    classify_response,
    classify_transport,
    parse_retry_after,
)
from revflow.connectors.signing import decode_secret, sign

__all__ = [
    "DEFAULT_EXTERNAL_ID_PATHS",
    "MAX_BODY_CHARS",
    "WebhookConnector",
    "error_for_response",
    "error_for_transport",
    "parse_retry_after",
    "webhook_id_for",
]

DEFAULT_EXTERNAL_ID_PATHS = ("id", "erp_number")
DEFAULT_TIMEOUT_S = 30.0
_SAFE_KEY = re.compile(r"[A-Za-z0-9_.:\-]{1,200}")


def webhook_id_for(idempotency_key: str) -> str:
    """The stable ``webhook-id`` for a key: ``msg_<key>``, or a hash of odd keys."""
    if _SAFE_KEY.fullmatch(idempotency_key):
        return "msg_" + idempotency_key
    return "msg_" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:40]


def error_for_response(response: httpx.Response) -> ConnectorError | None:
    """Classify a non-2xx answer; ``None`` for 2xx (``revflow.connectors.http_errors``)."""
    return classify_response(response)


def error_for_transport(exc: httpx.TransportError) -> ConnectorError:
    """Classify a transport failure by whether the request may have gone out."""
    return classify_transport(exc)


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _lookup(data: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(data, Mapping) or part not in data:
            return None
        data = data[part]
    return data


class WebhookConnector(HttpClientOwner, Connector):
    """POST each action as a signed Standard Webhooks message to ``url``.

    ``event_types`` maps an action to the message type (an unmapped action is
    sent as its own type); ``external_id`` is a JMESPath expression that finds the
    ERP's id in the JSON answer (``revflow.connectors.external_id``; ``result.documentNo``),
    else the dotted ``external_id_paths`` are tried in order (``id``, ``erp_number``).
    ``clock`` gives the attempt time (tests).

    Given an ``http_client``, the connector sends through it (httpx).  Without one it
    sends through its own aiohttp pool (``revflow.connectors.aiohttp_pool``; a fifth to
    a tenth of httpx's CPU per callout, ``bench/bench_webhooks.py``), or through its
    own httpx client when the environment names a proxy; ``aclose`` closes what it made.
    ``max_connections`` bounds the connections open to the endpoint on either pool.
    """

    def __init__(
        self,
        url: str,
        secrets: Sequence[str],
        timeout_s: float = DEFAULT_TIMEOUT_S,
        http_client: httpx.AsyncClient | None = None,
        event_types: Mapping[str, str] | None = None,
        *,
        external_id: str | None = None,
        external_id_paths: str | Sequence[str] = DEFAULT_EXTERNAL_ID_PATHS,
        headers: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.time,
        max_connections: int = 100,
    ) -> None:
        if not secrets:
            raise ValueError("WebhookConnector needs at least one secret")
        if max_connections < 1:
            raise ValueError(f"max_connections must be at least 1, not {max_connections}")
        # decoded once: at start-up a bad secret fails, and no call decodes it again
        self._keys = [decode_secret(secret) for secret in secrets]
        self.url = url
        self.secrets = list(secrets)
        self.timeout_s = timeout_s
        self.event_types = dict(event_types or {})
        self.external_id_paths = (
            (external_id_paths,) if isinstance(external_id_paths, str) else tuple(external_id_paths)
        )
        self.external_id: ExternalIdPath | None = compile_path(external_id) if external_id else None
        self.extra_headers = dict(headers or {})
        if not any(name.lower() == "user-agent" for name in self.extra_headers):
            self.extra_headers = {"user-agent": USER_AGENT, **self.extra_headers}
        self.clock = clock
        self.init_client(http_client)
        self._pool: AiohttpPool | None = None
        if http_client is None:
            self._pool = direct_pool(max_connections)
        self._limits = httpx.Limits(max_connections=max_connections)

    def new_client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(limits=self._limits)

    async def aclose(self) -> None:
        await self.close_client()
        if self._pool is not None:
            await self._pool.aclose()

    def build_request(
        self, action: str, payload: dict[str, Any], ctx: CallContext, now: float | None = None
    ) -> tuple[bytes, dict[str, str]]:
        """The body and headers of one attempt (exposed for tests and debugging)."""
        current = self.clock() if now is None else now
        timestamp = int(current)
        message = {
            "type": self.event_types.get(action, action),
            "timestamp": datetime.fromtimestamp(current, UTC).isoformat(),
            "data": payload,
        }
        body = json.dumps(message, separators=(",", ":"), default=_json_default).encode()
        msg_id = webhook_id_for(ctx.idempotency_key)
        headers = {
            **self.extra_headers,
            "content-type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(msg_id, timestamp, body, self._keys),
            "idempotency-key": ctx.idempotency_key,
            "x-correlation-id": ctx.correlation_id,
        }
        return body, headers

    async def call(self, action: str, payload: dict[str, Any], ctx: CallContext) -> CallResult:
        try:
            body, headers = self.build_request(action, payload, ctx)
        except (TypeError, ValueError) as exc:
            raise FatalError(f"cannot encode {action} payload: {exc}") from exc
        timeout = min(self.timeout_s, ctx.timeout_s) if ctx.timeout_s > 0 else self.timeout_s
        if self._pool is not None:
            return await self._call_direct(self._pool, body, headers, timeout)
        try:
            response = await self.client.post(
                self.url, content=body, headers=headers, timeout=timeout
            )
        except httpx.TransportError as exc:
            raise error_for_transport(exc) from exc
        error = error_for_response(response)
        if error is not None:
            raise error
        return self._result(response.status_code, response.content, lambda: response.text)

    async def _call_direct(
        self, pool: AiohttpPool, body: bytes, headers: dict[str, str], timeout_s: float
    ) -> CallResult:
        """``call`` through the connector's own aiohttp pool; the same classification."""
        try:
            answer = await pool.post(self.url, body, headers, timeout_s)
        except httpx.TransportError as exc:
            raise error_for_transport(exc) from exc
        if not 200 <= answer.status < 300:  # an httpx.Response only on this rare path
            error = error_for_response(answer.as_httpx("POST", self.url))
            if error is not None:
                raise error
        return self._result(
            answer.status, answer.content, lambda: answer.as_httpx("POST", self.url).text
        )

    def _result(self, status_code: int, content: bytes, text: Callable[[], str]) -> CallResult:
        """The result of a 2xx answer; ``text``: the body as text, if it is not JSON."""
        data: dict[str, Any]
        try:
            parsed = json.loads(content) if content else {}
        except ValueError:
            parsed = {"text": text()[:MAX_BODY_CHARS]}
        data = parsed if isinstance(parsed, dict) else {"data": parsed}
        if self.external_id is not None:
            found_id = self.external_id.find(data)
            return CallResult(found_id, response=data, status_code=status_code)
        external_id = None
        for path in self.external_id_paths:
            found = _lookup(data, path)
            if found not in (None, ""):
                external_id = str(found)
                break
        return CallResult(external_id=external_id, response=data, status_code=status_code)

"""Shared plumbing for the HTTP connectors (NetSuite, SAP S/4HANA, QuickBooks, Xero).

``HttpConnector`` owns or borrows an ``httpx.AsyncClient``, bounds each request by
``min(timeout_s, ctx.timeout_s)``, adds a bearer token from a ``TokenProvider``,
and classifies failures with ``revflow.connectors.http_errors`` (the rules every HTTP connector
shares), with the target's own error text as the message (``classify``).  A 401 invalidates the
cached token and is retryable, so the next attempt authenticates afresh.  Reads
(``GET``) that time out are retryable rather than ambiguous: nothing was changed.

Payload helpers (``require``, ``lines_of``, ``decimal``) turn a malformed mapped
payload into ``FatalError`` before anything is sent.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx

from revflow.connectors.base import CallContext, Connector
from revflow.connectors.errors import ConnectorError, FatalError, RetryableError
from revflow.connectors.http_client import HttpClientOwner
from revflow.connectors.http_errors import (
    MAX_BODY_CHARS,
    classify_response,
    classify_transport,
    target_label,
)
from revflow.connectors.oauth import TokenProvider

__all__ = ["HttpConnector", "classify", "decimal", "json_number", "lines_of", "require"]

DEFAULT_TIMEOUT_S = 30.0


def classify(
    response: httpx.Response,
    message: str | None,
    *,
    ambiguous_statuses: tuple[int, ...] = (),
) -> ConnectorError | None:
    """``revflow.connectors.http_errors.classify_response`` with the target's ``message``.

    ``ambiguous_statuses`` (e.g. 504 from a gateway in front of a non-idempotent
    create) become ``AmbiguousError``.
    """
    return classify_response(response, message=message, ambiguous_statuses=ambiguous_statuses)


def json_body(response: httpx.Response) -> Any:
    try:
        return response.json() if response.content else None
    except ValueError:
        return None


def require(payload: Mapping[str, Any], key: str) -> Any:
    value = payload.get(key)
    if value in (None, "", []):
        raise FatalError(f"payload is missing {key!r}")
    return value


def decimal(value: Any, what: str) -> Decimal:
    try:
        result = Decimal(str(value))
    except (InvalidOperation, ValueError) as exc:
        raise FatalError(f"{what} is not a number: {value!r}") from exc
    if not result.is_finite():
        raise FatalError(f"{what} is not a finite number: {value!r}")
    return result


def json_number(value: Decimal) -> int | float:
    """A JSON number for ``value`` (int when integral)."""
    return int(value) if value == value.to_integral_value() else float(value)


def lines_of(payload: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Validated order lines: ``sku``, ``quantity`` and ``unit_price`` as Decimals."""
    raw = require(payload, "lines")
    if not isinstance(raw, list):
        raise FatalError("payload 'lines' must be a list")
    lines = []
    for i, line in enumerate(raw):
        if not isinstance(line, Mapping):
            raise FatalError(f"payload lines[{i}] must be an object")
        sku = line.get("sku") or line.get("item_id")
        if not sku:
            raise FatalError(f"payload lines[{i}] needs 'sku'")
        lines.append(
            {
                **line,
                "sku": str(sku),
                "quantity": decimal(line.get("quantity"), f"lines[{i}].quantity"),
                "unit_price": decimal(line.get("unit_price", 0), f"lines[{i}].unit_price"),
            }
        )
    return lines


class HttpConnector(HttpClientOwner, Connector):
    """Base for connectors that make JSON requests to one base URL."""

    def __init__(
        self,
        base_url: str,
        *,
        token_provider: TokenProvider | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token_provider = token_provider
        self.timeout_s = timeout_s
        self.init_client(http_client)

    async def aclose(self) -> None:
        await self.close_client()
        closer = getattr(self.token_provider, "aclose", None)
        if closer is not None:
            await closer()

    def timeout_for(self, ctx: CallContext) -> float:
        return min(self.timeout_s, ctx.timeout_s) if ctx.timeout_s > 0 else self.timeout_s

    async def auth_headers(self) -> dict[str, str]:
        if self.token_provider is None:
            return {}
        return {"authorization": f"Bearer {await self.token_provider.get_token()}"}

    async def send(
        self,
        method: str,
        url: str,
        ctx: CallContext,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        auth: httpx.Auth | None = None,
    ) -> httpx.Response:
        """One request; transport failures raise classified errors."""
        all_headers = {
            "accept": "application/json",
            "x-correlation-id": ctx.correlation_id,
            **(await self.auth_headers()),
            **(headers or {}),
        }
        try:
            return await self.client.request(
                method,
                url,
                params=params,
                json=json,
                headers=all_headers,
                auth=auth if auth is not None else httpx.USE_CLIENT_DEFAULT,
                timeout=self.timeout_for(ctx),
            )
        except httpx.TransportError as exc:
            raise classify_transport(exc, safe=method.upper() == "GET") from exc

    def check(
        self,
        response: httpx.Response,
        message_of: Callable[[Any], str | None],
        *,
        ambiguous_statuses: tuple[int, ...] = (),
    ) -> None:
        """Raise the classified error for a non-2xx ``response``; 401 drops the token."""
        if 200 <= response.status_code < 300:
            return
        body = json_body(response)
        try:
            message = message_of(body) if body is not None else None
        except (KeyError, TypeError, IndexError, AttributeError):
            message = None
        if message is None and response.text:
            message = response.text[:MAX_BODY_CHARS]
        if response.status_code == 401:
            if self.token_provider is not None:
                self.token_provider.invalidate()
            raise RetryableError(
                f"{target_label(response)} 401: {message or 'unauthorized'}",
                status_code=401,
                details={"body": response.text[:MAX_BODY_CHARS]},
            )
        error = classify(response, message, ambiguous_statuses=ambiguous_statuses)
        if error is not None:
            raise error

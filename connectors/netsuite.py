"""NetSuite REST Record API: upsert sales orders by external ID.

Idempotency: NetSuite's own external-ID upsert.  Every attempt sends
``PUT /services/rest/record/v1/salesOrder/eid:{external_id}``; NetSuite creates the
record when no sales order has that external ID and updates it otherwise, and
answers ``204 No Content`` with a ``Location`` header ending in the internal id.
``replace=item`` makes a repeated upsert replace the item sublist rather than
append to it.  ``find_existing`` reads ``GET .../salesOrder/eid:{external_id}``.

Auth is OAuth 2.0 (``Authorization: Bearer``) through a token provider: from settings
(``connectors/netsuite_auth.py``: the machine-to-machine flow's signed JWT assertion, or
a refresh token), or any provider object, callable or token string.

Errors have the RFC 9457-style body ``{"type", "title", "status", "o:errorDetails":
[{"detail", "o:errorCode", "o:errorPath"}]}``; the details become the error
message.  429 (concurrency limit) is ``RateLimitedError``; 401 drops the token and
is retryable; other 4xx are ``FatalError``; 5xx retryable; timeouts after the PUT
went out are ``AmbiguousError`` (safe to retry: the upsert is keyed).

Payload keys: ``external_id`` (required), ``customer`` (entity internal id,
required), ``lines`` [{``sku`` or ``item_id`` (item internal id), ``quantity``,
``unit_price``, ``description``?}], optional ``currency`` (looked up in the
``currency_ids`` setting), ``order_date`` (YYYY-MM-DD), ``po_number`` /
``order_number`` (→ ``otherRefNum``), ``memo``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx

from revflow.connectors.actions import SALES_ORDER_ACTIONS, unsupported
from revflow.connectors.base import CallContext, CallResult
from revflow.connectors.errors import FatalError
from revflow.connectors.http_base import (
    DEFAULT_TIMEOUT_S,
    HttpConnector,
    json_number,
    lines_of,
    require,
)
from revflow.connectors.oauth import as_token_provider

__all__ = ["NetSuiteConnector", "netsuite_error_message"]

RECORD_PATH = "/services/rest/record/v1"


def netsuite_error_message(body: Any) -> str | None:
    """``detail (o:errorCode)`` for each entry of ``o:errorDetails``, else the title."""
    if not isinstance(body, Mapping):
        return None
    parts = []
    for item in body.get("o:errorDetails") or []:
        detail = item.get("detail") or ""
        code = item.get("o:errorCode")
        parts.append(f"{detail} ({code})" if code else detail)
    return "; ".join(p for p in parts if p) or body.get("title")


def account_base_url(account_id: str) -> str:
    """``1234567_SB1`` → ``https://1234567-sb1.suitetalk.api.netsuite.com``."""
    return f"https://{account_id.lower().replace('_', '-')}.suitetalk.api.netsuite.com"


class NetSuiteConnector(HttpConnector):
    """Upsert sales orders into NetSuite by external ID."""

    def __init__(
        self,
        base_url: str,
        token_provider: Any,
        *,
        record_type: str = "salesOrder",
        currency_ids: Mapping[str, str] | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        super().__init__(
            base_url,
            token_provider=as_token_provider(token_provider),
            timeout_s=timeout_s,
            http_client=http_client,
        )
        self.record_type = record_type
        self.currency_ids = dict(currency_ids or {})

    def record_url(self, external_id: str) -> str:
        return f"{self.base_url}{RECORD_PATH}/{self.record_type}/eid:{quote(external_id, safe='')}"

    def build_body(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        external_id = str(require(payload, "external_id"))
        items = []
        for line in lines_of(payload):
            item: dict[str, Any] = {
                "item": {"id": str(line.get("item_id") or line["sku"])},
                "quantity": json_number(line["quantity"]),
                "rate": json_number(line["unit_price"]),
            }
            if line.get("description"):
                item["description"] = str(line["description"])
            items.append(item)
        body: dict[str, Any] = {
            "externalId": external_id,
            "entity": {"id": str(require(payload, "customer"))},
            "item": {"items": items},
        }
        currency = payload.get("currency")
        if currency and currency in self.currency_ids:
            body["currency"] = {"id": self.currency_ids[currency]}
        if payload.get("order_date"):
            body["tranDate"] = str(payload["order_date"])
        ref = payload.get("po_number") or payload.get("order_number")
        if ref:
            body["otherRefNum"] = str(ref)
        if payload.get("memo"):
            body["memo"] = str(payload["memo"])
        return body

    async def call(self, action: str, payload: dict[str, Any], ctx: CallContext) -> CallResult:
        if action not in SALES_ORDER_ACTIONS:
            raise FatalError(unsupported("netsuite", action, SALES_ORDER_ACTIONS))
        body = self.build_body(payload)
        response = await self.send(
            "PUT",
            self.record_url(body["externalId"]),
            ctx,
            params={"replace": "item"},
            json=body,
        )
        self.check(response, netsuite_error_message)
        location = response.headers.get("location", "")
        internal_id = location.rstrip("/").rsplit("/", 1)[-1] if location else None
        if not internal_id:
            raise FatalError(
                "NetSuite accepted the upsert but sent no Location header",
                status_code=response.status_code,
            )
        return CallResult(
            external_id=internal_id,
            response={"id": internal_id, "externalId": body["externalId"], "location": location},
            status_code=response.status_code,
        )

    async def find_existing(
        self, action: str, payload: dict[str, Any], ctx: CallContext
    ) -> CallResult | None:
        external_id = str(require(payload, "external_id"))
        response = await self.send(
            "GET", self.record_url(external_id), ctx, params={"fields": "id,externalId,tranId"}
        )
        if response.status_code == 404:
            return None  # not there yet; the keyed upsert is safe to repeat
        self.check(response, netsuite_error_message)
        data = response.json()
        return CallResult(
            external_id=str(data["id"]), response=data, status_code=response.status_code
        )


def build(name: str, settings: Mapping[str, Any]) -> NetSuiteConnector:
    """Options: ``account_id`` or ``base_url``; a ``token_provider``, an ``access_token``,
    or the OAuth settings ``connectors/netsuite_auth.py`` turns into a provider."""
    from revflow.connectors.netsuite_auth import token_provider

    options = dict(settings)
    account_id = options.pop("account_id", None)
    base_url = options.pop("base_url", None) or (account_id and account_base_url(account_id))
    token = options.pop("token_provider", None) or options.pop("access_token", None)
    if not base_url:
        raise ValueError(f"netsuite connector {name!r} needs 'account_id' (or 'base_url')")
    try:
        oauth = token_provider(base_url, options)
    except ValueError as exc:
        raise ValueError(f"netsuite connector {name!r}: {exc}") from exc
    token = token or oauth
    if token is None:
        raise ValueError(
            f"netsuite connector {name!r} needs client_id, certificate_id and private_key "
            "(or client_id, client_secret and refresh_token, or a token_provider)"
        )
    try:
        return NetSuiteConnector(base_url, token, **options)
    except TypeError as exc:
        raise ValueError(f"netsuite connector {name!r}: {exc}") from exc

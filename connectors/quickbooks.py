"""QuickBooks Online Accounting API: create invoices.

Idempotency: QBO's ``requestid`` query parameter.  Every attempt of a plan step
sends ``POST /v3/company/{realmId}/invoice?requestid=<key>&minorversion=<n>`` with
the same ``requestid`` (``ctx.idempotency_key``, hashed when longer than 50
characters or unusual), and QBO answers a repeated request with the original
response instead of creating a second invoice.  ``find_existing`` additionally
queries ``select * from Invoice where DocNumber = '<order_number>'`` when the
payload carries an ``order_number``.

Errors: QBO's ``Fault`` body ``{"Fault": {"Error": [{"Message", "Detail", "code",
"element"}], "type": "ValidationFault"}, "time"}`` (also sent with 200, and in
lower case for authentication faults) becomes the message ``Message: Detail
(code N)``.  400 and validation faults are ``FatalError``; 401 drops the cached
token (the refresh hook) and is retryable; 429 (throttle) is ``RateLimitedError``;
5xx retryable; a timeout after sending is ``AmbiguousError`` (retry resends the
same ``requestid``).

Auth: OAuth 2.0 bearer from a ``token_provider``, or ``client_id``,
``client_secret`` and ``refresh_token`` for the built-in refresh-token provider.

Payload keys: ``external_id`` (required), ``customer`` (Customer Id, required),
``lines`` [{``sku`` or ``item_id`` (Item Id), ``quantity``, ``unit_price``,
``description``?}], optional ``currency``, ``order_number`` (→ DocNumber, max 21),
``order_date``, ``due_date`` (YYYY-MM-DD), ``memo``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import httpx

from revflow.connectors.actions import INVOICE_ACTIONS, unsupported
from revflow.connectors.base import CallContext, CallResult
from revflow.connectors.errors import FatalError
from revflow.connectors.http_base import (
    DEFAULT_TIMEOUT_S,
    HttpConnector,
    json_number,
    lines_of,
    require,
)
from revflow.connectors.oauth import OAuth2TokenProvider, as_token_provider

__all__ = ["QuickBooksConnector", "qbo_error_message", "request_id_for"]

PRODUCTION_URL = "https://quickbooks.api.intuit.com"
SANDBOX_URL = "https://sandbox-quickbooks.api.intuit.com"
TOKEN_URL = "https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer"
DEFAULT_MINOR_VERSION = "75"
_SAFE_ID = re.compile(r"[A-Za-z0-9_.:\-]{1,50}")


def request_id_for(idempotency_key: str) -> str:
    """The ``requestid`` for a key: the key itself, or a 40-char hash of odd keys."""
    if _SAFE_ID.fullmatch(idempotency_key):
        return idempotency_key
    return hashlib.sha256(idempotency_key.encode()).hexdigest()[:40]


def _fault(body: Any) -> Mapping[str, Any] | None:
    if not isinstance(body, Mapping):
        return None
    fault = body.get("Fault") or body.get("fault")
    return fault if isinstance(fault, Mapping) else None


def qbo_error_message(body: Any) -> str | None:
    fault = _fault(body)
    if fault is None:
        return None
    parts = []
    for err in fault.get("Error") or fault.get("error") or []:
        msg = err.get("Message") or err.get("message") or ""
        detail = err.get("Detail") or err.get("detail") or ""
        code = err.get("code")
        text = f"{msg}: {detail}" if msg and detail and detail != msg else (detail or msg)
        parts.append(f"{text} (code {code})" if code else text)
    kind = fault.get("type")
    joined = "; ".join(p for p in parts if p)
    return f"{kind}: {joined}" if kind and joined else joined or kind


class QuickBooksConnector(HttpConnector):
    """Create QBO invoices, deduplicated by ``requestid``."""

    def __init__(
        self,
        realm_id: str,
        token_provider: Any,
        *,
        base_url: str = PRODUCTION_URL,
        minor_version: str = DEFAULT_MINOR_VERSION,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        super().__init__(
            base_url,
            token_provider=as_token_provider(token_provider),
            timeout_s=timeout_s,
            http_client=http_client,
        )
        self.realm_id = str(realm_id)
        self.minor_version = str(minor_version)

    @property
    def company_url(self) -> str:
        return f"{self.base_url}/v3/company/{self.realm_id}"

    def build_body(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        require(payload, "external_id")
        lines = []
        for line in lines_of(payload):
            qty, price = line["quantity"], line["unit_price"]
            amount = (qty * price).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
            entry: dict[str, Any] = {
                "DetailType": "SalesItemLineDetail",
                "Amount": json_number(amount),
                "SalesItemLineDetail": {
                    "ItemRef": {"value": str(line.get("item_id") or line["sku"])},
                    "Qty": json_number(qty),
                    "UnitPrice": json_number(price),
                },
            }
            if line.get("description"):
                entry["Description"] = str(line["description"])
            lines.append(entry)
        body: dict[str, Any] = {
            "CustomerRef": {"value": str(require(payload, "customer"))},
            "Line": lines,
            "PrivateNote": str(payload.get("memo") or f"Salesforce order {payload['external_id']}"),
        }
        if payload.get("currency"):
            body["CurrencyRef"] = {"value": str(payload["currency"])}
        if payload.get("order_number"):
            doc = str(payload["order_number"])
            if len(doc) > 21:
                raise FatalError(f"order_number {doc!r} exceeds QuickBooks' 21-character DocNumber")
            body["DocNumber"] = doc
        if payload.get("order_date"):
            body["TxnDate"] = str(payload["order_date"])
        if payload.get("due_date"):
            body["DueDate"] = str(payload["due_date"])
        return body

    async def call(self, action: str, payload: dict[str, Any], ctx: CallContext) -> CallResult:
        if action not in INVOICE_ACTIONS:
            raise FatalError(unsupported("quickbooks", action, INVOICE_ACTIONS))
        body = self.build_body(payload)
        response = await self.send(
            "POST",
            self.company_url + "/invoice",
            ctx,
            params={
                "requestid": request_id_for(ctx.idempotency_key),
                "minorversion": self.minor_version,
            },
            json=body,
        )
        self.check(response, qbo_error_message)
        data = response.json()
        if _fault(data) is not None:  # QBO may report a fault with 200
            raise FatalError(
                f"QuickBooks fault: {qbo_error_message(data)}",
                status_code=response.status_code,
                details={"json": data},
            )
        invoice = data.get("Invoice") or {}
        if not invoice.get("Id"):
            raise FatalError("QuickBooks answered without an Invoice Id", details={"json": data})
        return CallResult(
            external_id=str(invoice["Id"]), response=invoice, status_code=response.status_code
        )

    async def find_existing(
        self, action: str, payload: dict[str, Any], ctx: CallContext
    ) -> CallResult | None:
        doc = payload.get("order_number")
        if not doc:
            return None  # unknown; a retry resends the same requestid
        escaped = str(doc).replace("\\", "\\\\").replace("'", "\\'")
        response = await self.send(
            "GET",
            self.company_url + "/query",
            ctx,
            params={
                "query": f"select * from Invoice where DocNumber = '{escaped}'",
                "minorversion": self.minor_version,
            },
        )
        self.check(response, qbo_error_message)
        found = ((response.json() or {}).get("QueryResponse") or {}).get("Invoice") or []
        if not found:
            return None
        return CallResult(
            external_id=str(found[0]["Id"]), response=found[0], status_code=response.status_code
        )


def build(name: str, settings: Mapping[str, Any]) -> QuickBooksConnector:
    options = dict(settings)
    realm_id = options.pop("realm_id", None)
    token = options.pop("token_provider", None) or options.pop("access_token", None)
    client_id = options.pop("client_id", None)
    client_secret = options.pop("client_secret", None)
    refresh_token = options.pop("refresh_token", None)
    token_url = options.pop("token_url", TOKEN_URL)
    if options.pop("sandbox", False):
        options.setdefault("base_url", SANDBOX_URL)
    if token is None and client_id and client_secret and refresh_token:
        token = OAuth2TokenProvider(
            token_url,
            client_id,
            client_secret,
            grant_type="refresh_token",
            refresh_token=refresh_token,
            on_refresh_token=options.pop("on_refresh_token", None),
        )
    if not realm_id or token is None:
        raise ValueError(
            f"quickbooks connector {name!r} needs 'realm_id' and a 'token_provider' "
            "(or client_id, client_secret and refresh_token)"
        )
    try:
        return QuickBooksConnector(realm_id, token, **options)
    except TypeError as exc:
        raise ValueError(f"quickbooks connector {name!r}: {exc}") from exc

"""Xero Accounting API: create sales invoices (``ACCREC``).

Idempotency: Xero's ``Idempotency-Key`` header.  Every attempt sends
``POST /api.xro/2.0/Invoices`` with ``Idempotency-Key: <ctx.idempotency_key>``
(hashed above 128 characters) and the organisation in ``xero-tenant-id``; Xero
returns the original answer for a repeated key instead of creating a duplicate.
``find_existing`` searches ``GET /api.xro/2.0/Invoices?where=Reference=="<ref>"``
(the reference is the Salesforce order number or id), ignoring deleted and voided
invoices.

Errors: a validation failure is ``400`` with ``{"ErrorNumber": 10, "Type":
"ValidationException", "Message", "Elements": [{"ValidationErrors": [{"Message"}]}]}``
→ ``FatalError`` listing the validation messages.  ``429`` (with ``Retry-After``
and ``X-Rate-Limit-Problem``: minute, day or concurrent) is ``RateLimitedError``;
401 (``{"Title": "Unauthorized", "Detail": "TokenExpired: ..."}``) drops the token
and is retryable; 403/404 are fatal; 5xx retryable; a timeout after sending is
``AmbiguousError`` (a retry reuses the key).

Auth: OAuth 2.0 bearer from ``token_provider``, or ``client_id``/``client_secret``
of a Xero custom connection (client-credentials grant).

Payload keys: ``external_id`` (required), ``customer`` (ContactID, required),
``lines`` [{``sku`` (ItemCode), ``quantity``, ``unit_price``, ``description``?,
``account_code``?}], optional ``currency``, ``order_number`` (→ Reference, else
``external_id``), ``order_date``, ``due_date`` (YYYY-MM-DD).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
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

__all__ = ["XeroConnector", "idempotency_key_for", "xero_error_message"]

API_URL = "https://api.xero.com"
TOKEN_URL = "https://identity.xero.com/connect/token"
MAX_KEY = 128


def idempotency_key_for(key: str) -> str:
    return key if len(key) <= MAX_KEY else hashlib.sha256(key.encode()).hexdigest()


def xero_error_message(body: Any) -> str | None:
    if not isinstance(body, Mapping):
        return None
    messages = []
    for element in body.get("Elements") or []:
        for err in element.get("ValidationErrors") or []:
            if err.get("Message"):
                messages.append(str(err["Message"]))
    if messages:
        return f"{body.get('Type') or 'ValidationException'}: " + "; ".join(messages)
    if body.get("Detail") or body.get("Title"):  # problem-details style (401/403)
        return ": ".join(str(v) for v in (body.get("Title"), body.get("Detail")) if v)
    if body.get("Message"):
        kind = body.get("Type")
        return f"{kind}: {body['Message']}" if kind else str(body["Message"])
    return None


class XeroConnector(HttpConnector):
    """Create Xero invoices, deduplicated by ``Idempotency-Key``."""

    def __init__(
        self,
        tenant_id: str,
        token_provider: Any,
        *,
        base_url: str = API_URL,
        account_code: str = "200",
        invoice_status: str = "AUTHORISED",
        line_amount_types: str = "Exclusive",
        timeout_s: float = DEFAULT_TIMEOUT_S,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        super().__init__(
            base_url,
            token_provider=as_token_provider(token_provider),
            timeout_s=timeout_s,
            http_client=http_client,
        )
        self.tenant_id = tenant_id
        self.account_code = account_code
        self.invoice_status = invoice_status
        self.line_amount_types = line_amount_types

    @property
    def invoices_url(self) -> str:
        return f"{self.base_url}/api.xro/2.0/Invoices"

    @staticmethod
    def reference(payload: Mapping[str, Any]) -> str:
        return str(payload.get("order_number") or require(payload, "external_id"))

    def build_body(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        items = []
        for line in lines_of(payload):
            item: dict[str, Any] = {
                "ItemCode": line["sku"],
                "Description": str(line.get("description") or line["sku"]),
                "Quantity": json_number(line["quantity"]),
                "UnitAmount": json_number(line["unit_price"]),
                "AccountCode": str(line.get("account_code") or self.account_code),
            }
            items.append(item)
        invoice: dict[str, Any] = {
            "Type": "ACCREC",
            "Contact": {"ContactID": str(require(payload, "customer"))},
            "LineItems": items,
            "Reference": self.reference(payload),
            "Status": self.invoice_status,
            "LineAmountTypes": self.line_amount_types,
        }
        if payload.get("currency"):
            invoice["CurrencyCode"] = str(payload["currency"])
        if payload.get("order_date"):
            invoice["Date"] = str(payload["order_date"])
        if payload.get("due_date"):
            invoice["DueDate"] = str(payload["due_date"])
        return {"Invoices": [invoice]}

    async def call(self, action: str, payload: dict[str, Any], ctx: CallContext) -> CallResult:
        if action not in INVOICE_ACTIONS:
            raise FatalError(unsupported("xero", action, INVOICE_ACTIONS))
        body = self.build_body(payload)
        response = await self.send(
            "POST",
            self.invoices_url,
            ctx,
            json=body,
            headers={
                "xero-tenant-id": self.tenant_id,
                "idempotency-key": idempotency_key_for(ctx.idempotency_key),
            },
        )
        self.check(response, xero_error_message)
        invoices = (response.json() or {}).get("Invoices") or []
        if not invoices or not invoices[0].get("InvoiceID"):
            raise FatalError("Xero answered without an InvoiceID", status_code=response.status_code)
        invoice = invoices[0]
        if invoice.get("HasErrors"):
            errors = "; ".join(e.get("Message", "") for e in invoice.get("ValidationErrors") or [])
            raise FatalError(f"Xero rejected the invoice: {errors}", details={"json": invoice})
        return CallResult(
            external_id=str(invoice["InvoiceID"]),
            response=invoice,
            status_code=response.status_code,
        )

    async def find_existing(
        self, action: str, payload: dict[str, Any], ctx: CallContext
    ) -> CallResult | None:
        ref = self.reference(payload).replace('"', '\\"')
        response = await self.send(
            "GET",
            self.invoices_url,
            ctx,
            params={"where": f'Type=="ACCREC" AND Reference=="{ref}"'},
            headers={"xero-tenant-id": self.tenant_id},
        )
        self.check(response, xero_error_message)
        for invoice in (response.json() or {}).get("Invoices") or []:
            if invoice.get("Status") not in ("DELETED", "VOIDED"):
                return CallResult(
                    external_id=str(invoice["InvoiceID"]),
                    response=invoice,
                    status_code=response.status_code,
                )
        return None


def build(name: str, settings: Mapping[str, Any]) -> XeroConnector:
    options = dict(settings)
    tenant_id = options.pop("tenant_id", None)
    token = options.pop("token_provider", None) or options.pop("access_token", None)
    client_id = options.pop("client_id", None)
    client_secret = options.pop("client_secret", None)
    scope = options.pop("scope", None)
    if token is None and client_id and client_secret:
        token = OAuth2TokenProvider(
            options.pop("token_url", TOKEN_URL), client_id, client_secret, scope=scope
        )
    options.pop("token_url", None)
    if not tenant_id or token is None:
        raise ValueError(
            f"xero connector {name!r} needs 'tenant_id' and a 'token_provider' "
            "(or a custom connection's client_id and client_secret)"
        )
    try:
        return XeroConnector(tenant_id, token, **options)
    except TypeError as exc:
        raise ValueError(f"xero connector {name!r}: {exc}") from exc

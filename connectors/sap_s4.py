"""SAP S/4HANA Cloud sales orders over OData v2 (``API_SALES_ORDER_SRV``).

Writes need a CSRF token: the connector sends ``GET <service>/`` with
``x-csrf-token: Fetch``, keeps the returned token and session cookies, and sends
both with ``POST <service>/A_SalesOrder``.  When SAP answers ``403`` with
``x-csrf-token: Required`` (token expired with its session) the token is fetched
again once and the POST repeated.

Idempotency: the OData service has no idempotency key, so the Salesforce order
reference goes into ``PurchaseOrderByCustomer`` (max 35 characters) and
``find_existing`` searches ``A_SalesOrder?$filter=PurchaseOrderByCustomer eq
'<ref>'``.  The executor asks ``find_existing`` before every retry, so a POST that
timed out (``AmbiguousError``) is not repeated once it landed.  A 504 from the
gateway after the POST is also treated as ambiguous.

SAP errors look like ``{"error": {"code", "message": {"lang", "value"},
"innererror": {"errordetails": [{"code", "message", "severity"}]}}}``; the message
and error-severity details become the error message.

Auth: communication-user basic auth (``username``/``password``) or a bearer
``token_provider``.

Payload keys: ``external_id`` (required; the reference unless ``po_number`` is
given), ``customer`` (SoldToParty, required), ``lines`` [{``sku`` (Material),
``quantity``, ``unit_price``, ``unit``?}], ``currency`` (TransactionCurrency),
optional ``po_number``, ``order_date`` (YYYY-MM-DD).  Item prices are sent as a
manual pricing element only if the ``price_condition_type`` setting is set.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import httpx

from revflow.connectors.actions import SALES_ORDER_ACTIONS, unsupported
from revflow.connectors.base import CallContext, CallResult
from revflow.connectors.errors import FatalError, RetryableError
from revflow.connectors.http_base import DEFAULT_TIMEOUT_S, HttpConnector, lines_of, require
from revflow.connectors.oauth import OAuth2TokenProvider, as_token_provider

__all__ = ["SapS4SalesOrderConnector", "sap_error_message"]

SERVICE_PATH = "/sap/opu/odata/sap/API_SALES_ORDER_SRV"
MAX_PO_REF = 35


def sap_error_message(body: Any) -> str | None:
    """``code: value`` plus the error-severity ``errordetails`` messages."""
    if not isinstance(body, Mapping) or not isinstance(body.get("error"), Mapping):
        return None
    error = body["error"]
    message = error.get("message")
    text = message.get("value") if isinstance(message, Mapping) else message
    parts = [f"{error.get('code')}: {text}" if error.get("code") else str(text or "")]
    inner = error.get("innererror") or {}
    for detail in inner.get("errordetails") or []:
        msg = detail.get("message")
        if msg and msg != text and detail.get("severity", "error") == "error":
            parts.append(f"{detail.get('code')}: {msg}" if detail.get("code") else msg)
    return "; ".join(p for p in parts if p) or None


def _odata_date(value: str) -> str:
    day = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
    return f"/Date({int(day.timestamp() * 1000)})/"


def _dec(value: Any) -> str:
    return format(value.normalize(), "f")


class SapS4SalesOrderConnector(HttpConnector):
    """Create sales orders in S/4HANA Cloud; dedupe on PurchaseOrderByCustomer."""

    def __init__(
        self,
        base_url: str,
        *,
        username: str | None = None,
        password: str | None = None,
        token_provider: Any = None,
        sales_order_type: str = "OR",
        sales_organization: str = "1010",
        distribution_channel: str = "10",
        organization_division: str = "00",
        default_unit: str = "PC",
        price_condition_type: str | None = None,
        service_path: str = SERVICE_PATH,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        super().__init__(
            base_url,
            token_provider=None if token_provider is None else as_token_provider(token_provider),
            timeout_s=timeout_s,
            http_client=http_client,
        )
        if token_provider is None and not (username and password):
            raise ValueError("SAP S/4HANA connector needs username/password or a token_provider")
        self.basic = httpx.BasicAuth(username, password) if username and password else None
        self.service_url = self.base_url + service_path.rstrip("/")
        self.defaults = {
            "SalesOrderType": sales_order_type,
            "SalesOrganization": sales_organization,
            "DistributionChannel": distribution_channel,
            "OrganizationDivision": organization_division,
        }
        self.default_unit = default_unit
        self.price_condition_type = price_condition_type
        self._csrf: str | None = None
        self._cookies: str | None = None
        self.csrf_fetches = 0

    @staticmethod
    def reference(payload: Mapping[str, Any]) -> str:
        ref = str(payload.get("po_number") or require(payload, "external_id"))
        if len(ref) > MAX_PO_REF:
            raise FatalError(f"PurchaseOrderByCustomer {ref!r} exceeds {MAX_PO_REF} characters")
        return ref

    def build_body(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        items = []
        for n, line in enumerate(lines_of(payload), start=1):
            item: dict[str, Any] = {
                "SalesOrderItem": str(n * 10),
                "Material": line["sku"],
                "RequestedQuantity": _dec(line["quantity"]),
                "RequestedQuantityUnit": str(line.get("unit") or self.default_unit),
            }
            if self.price_condition_type:
                item["to_PricingElement"] = {
                    "results": [
                        {
                            "ConditionType": self.price_condition_type,
                            "ConditionRateValue": _dec(line["unit_price"]),
                        }
                    ]
                }
            items.append(item)
        body: dict[str, Any] = {
            **self.defaults,
            "SoldToParty": str(require(payload, "customer")),
            "PurchaseOrderByCustomer": self.reference(payload),
            "to_Item": {"results": items},
        }
        if payload.get("currency"):
            body["TransactionCurrency"] = str(payload["currency"])
        if payload.get("order_date"):
            try:
                body["CustomerPurchaseOrderDate"] = _odata_date(str(payload["order_date"]))
            except ValueError as exc:
                raise FatalError(f"order_date is not YYYY-MM-DD: {exc}") from exc
        return body

    async def _fetch_csrf(self, ctx: CallContext) -> None:
        self._csrf = self._cookies = None
        response = await self.send(
            "GET", self.service_url + "/", ctx, headers={"x-csrf-token": "Fetch"}, auth=self.basic
        )
        self.check(response, sap_error_message)
        token = response.headers.get("x-csrf-token")
        if not token or token.lower() == "required":
            raise RetryableError(
                "SAP did not return a CSRF token", status_code=response.status_code
            )
        self.csrf_fetches += 1
        self._csrf = token
        cookies = "; ".join(f"{k}={v}" for k, v in response.cookies.items())
        self._cookies = cookies or None

    async def _post(self, body: dict[str, Any], ctx: CallContext) -> httpx.Response:
        headers = {"x-csrf-token": self._csrf or ""}
        if self._cookies:
            headers["cookie"] = self._cookies
        return await self.send(
            "POST",
            self.service_url + "/A_SalesOrder",
            ctx,
            json=body,
            headers=headers,
            auth=self.basic,
        )

    async def call(self, action: str, payload: dict[str, Any], ctx: CallContext) -> CallResult:
        if action not in SALES_ORDER_ACTIONS:
            raise FatalError(unsupported("sap_s4", action, SALES_ORDER_ACTIONS))
        body = self.build_body(payload)
        if self._csrf is None:
            await self._fetch_csrf(ctx)
        response = await self._post(body, ctx)
        if (
            response.status_code == 403
            and response.headers.get("x-csrf-token", "").lower() == "required"
        ):
            await self._fetch_csrf(ctx)  # once: the token or its session expired
            response = await self._post(body, ctx)
        self.check(response, sap_error_message, ambiguous_statuses=(504,))
        data = (response.json() or {}).get("d") or {}
        number = data.get("SalesOrder")
        if not number:
            raise FatalError("SAP created the order but returned no SalesOrder number")
        return CallResult(external_id=str(number), response=data, status_code=response.status_code)

    async def find_existing(
        self, action: str, payload: dict[str, Any], ctx: CallContext
    ) -> CallResult | None:
        ref = self.reference(payload).replace("'", "''")
        response = await self.send(
            "GET",
            self.service_url + "/A_SalesOrder",
            ctx,
            params={
                "$filter": f"PurchaseOrderByCustomer eq '{ref}'",
                "$select": "SalesOrder,PurchaseOrderByCustomer,SoldToParty",
                "$top": "1",
                "$format": "json",
            },
            auth=self.basic,
        )
        self.check(response, sap_error_message)
        results = ((response.json() or {}).get("d") or {}).get("results") or []
        if not results:
            return None
        found = results[0]
        return CallResult(
            external_id=str(found["SalesOrder"]), response=found, status_code=response.status_code
        )


def build(name: str, settings: Mapping[str, Any]) -> SapS4SalesOrderConnector:
    """Options: ``base_url``; ``username``/``password`` of the communication user, a
    ``token_provider`` or ``access_token``, or an OAuth client (``token_url``,
    ``client_id``, ``client_secret``, optional ``scope``: the client-credentials grant)."""
    options = dict(settings)
    base_url = options.pop("base_url", None)
    if not base_url:
        raise ValueError(f"sap_s4 connector {name!r} needs 'base_url'")
    client = {k: options.pop(k, None) for k in ("token_url", "client_id", "client_secret", "scope")}
    access_token = options.pop("access_token", None)
    if options.get("token_provider") is None and access_token:
        options["token_provider"] = access_token
    if options.get("token_provider") is None and all(
        client[k] for k in ("token_url", "client_id", "client_secret")
    ):
        options["token_provider"] = OAuth2TokenProvider(
            client["token_url"], client["client_id"], client["client_secret"], scope=client["scope"]
        )
    try:
        return SapS4SalesOrderConnector(base_url, **options)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"sap_s4 connector {name!r}: {exc}") from exc

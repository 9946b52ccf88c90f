"""SAP S/4HANA Cloud API_SALES_ORDER_SRV connector: CSRF, body, errors, look-up."""

from __future__ import annotations

import json

import httpx
import pytest
import respx

from revflow.connectors import (
    AmbiguousError,
    CallContext,
    FatalError,
    RateLimitedError,
    RetryableError,
    build_connector,
)
from revflow.connectors.sap_s4 import SapS4SalesOrderConnector

BASE = "https://my123456-api.s4hana.cloud.sap"
SERVICE = f"{BASE}/sap/opu/odata/sap/API_SALES_ORDER_SRV"
PAYLOAD = {
    "external_id": "801Dn000001abcDEF",
    "customer": "10100001",
    "currency": "EUR",
    "order_date": "2024-05-01",
    "lines": [{"sku": "TG11", "quantity": "2", "unit_price": "100.00"}],
}


def ctx(attempt: int = 1) -> CallContext:
    return CallContext("plan-1:step-so", "corr-1", attempt, "create_sales_order", 5.0)


def sap_error(code: str, value: str, details: list[dict[str, str]] | None = None) -> dict:
    return {
        "error": {
            "code": code,
            "message": {"lang": "en", "value": value},
            "innererror": {
                "application": {"component_id": "SD-SLS", "service_namespace": "/SAP/"},
                "transactionid": "5E1C2B2A1F0E4E2C",
                "errordetails": details or [],
            },
        }
    }


def csrf_response(token: str = "tok-A") -> httpx.Response:
    return httpx.Response(
        200,
        headers=[
            ("x-csrf-token", token),
            ("set-cookie", f"SAP_SESSIONID_ABC_100=sess-{token}; path=/; secure; HttpOnly"),
        ],
        json={"d": {"EntitySets": ["A_SalesOrder"]}},
    )


def created(number: str = "4711") -> httpx.Response:
    return httpx.Response(
        201,
        json={"d": {"SalesOrder": number, "PurchaseOrderByCustomer": PAYLOAD["external_id"]}},
    )


@pytest.fixture
def conn() -> SapS4SalesOrderConnector:
    return SapS4SalesOrderConnector(
        BASE,
        username="COMM_USER",
        password="secret",
        price_condition_type="PPR0",
        http_client=httpx.AsyncClient(),
    )


@respx.mock
async def test_fetches_csrf_then_posts_with_token_and_cookie(
    conn: SapS4SalesOrderConnector,
) -> None:
    fetch = respx.get(f"{SERVICE}/").mock(return_value=csrf_response())
    post = respx.post(f"{SERVICE}/A_SalesOrder").mock(return_value=created())
    result = await conn.call("create_sales_order", PAYLOAD, ctx())
    assert result.external_id == "4711"
    assert fetch.calls.last.request.headers["x-csrf-token"] == "Fetch"
    assert fetch.calls.last.request.headers["authorization"].startswith("Basic ")
    request = post.calls.last.request
    assert request.headers["x-csrf-token"] == "tok-A"
    assert "SAP_SESSIONID_ABC_100=sess-tok-A" in request.headers["cookie"]
    body = json.loads(request.content)
    assert body["PurchaseOrderByCustomer"] == "801Dn000001abcDEF"  # the idempotency reference
    assert body["SoldToParty"] == "10100001"
    assert body["SalesOrderType"] == "OR"
    assert body["TransactionCurrency"] == "EUR"
    assert body["CustomerPurchaseOrderDate"] == "/Date(1714521600000)/"
    assert body["to_Item"]["results"] == [
        {
            "SalesOrderItem": "10",
            "Material": "TG11",
            "RequestedQuantity": "2",
            "RequestedQuantityUnit": "PC",
            "to_PricingElement": {
                "results": [{"ConditionType": "PPR0", "ConditionRateValue": "100"}]
            },
        }
    ]
    # the token is reused for the next order
    await conn.call("create_sales_order", PAYLOAD, ctx())
    assert fetch.call_count == 1


@respx.mock
async def test_csrf_required_refetches_once(conn: SapS4SalesOrderConnector) -> None:
    fetch = respx.get(f"{SERVICE}/").mock(side_effect=[csrf_response("old"), csrf_response("new")])
    post = respx.post(f"{SERVICE}/A_SalesOrder").mock(
        side_effect=[
            httpx.Response(
                403, headers={"x-csrf-token": "Required"}, text="CSRF token validation failed"
            ),
            created("4712"),
        ]
    )
    result = await conn.call("create_sales_order", PAYLOAD, ctx())
    assert result.external_id == "4712"
    assert fetch.call_count == 2
    assert [c.request.headers["x-csrf-token"] for c in post.calls] == ["old", "new"]


@respx.mock
async def test_csrf_required_twice_is_fatal(conn: SapS4SalesOrderConnector) -> None:
    respx.get(f"{SERVICE}/").mock(return_value=csrf_response())
    post = respx.post(f"{SERVICE}/A_SalesOrder").mock(
        return_value=httpx.Response(
            403, headers={"x-csrf-token": "Required"}, text="CSRF token validation failed"
        )
    )
    with pytest.raises(FatalError, match="CSRF"):
        await conn.call("create_sales_order", PAYLOAD, ctx())
    assert post.call_count == 2


@respx.mock
async def test_business_error_is_fatal_with_sap_message(conn: SapS4SalesOrderConnector) -> None:
    respx.get(f"{SERVICE}/").mock(return_value=csrf_response())
    respx.post(f"{SERVICE}/A_SalesOrder").mock(
        return_value=httpx.Response(
            400,
            json=sap_error(
                "V1/382",
                "Sold-to party 10100099 not maintained for sales area 1010 10 00",
                [
                    {
                        "code": "V1/382",
                        "message": "Sold-to party 10100099 not maintained for "
                        "sales area 1010 10 00",
                        "severity": "error",
                        "target": "",
                    },
                    {
                        "code": "V4/219",
                        "message": "Sales document was not changed",
                        "severity": "error",
                        "target": "",
                    },
                ],
            ),
        )
    )
    with pytest.raises(FatalError) as info:
        await conn.call("create_sales_order", {**PAYLOAD, "customer": "10100099"}, ctx())
    assert "V1/382: Sold-to party 10100099 not maintained" in info.value.message
    assert "V4/219: Sales document was not changed" in info.value.message
    assert info.value.details["json"]["error"]["code"] == "V1/382"


@respx.mock
async def test_service_unavailable_and_server_error(conn: SapS4SalesOrderConnector) -> None:
    respx.get(f"{SERVICE}/").mock(return_value=csrf_response())
    respx.post(f"{SERVICE}/A_SalesOrder").mock(
        side_effect=[
            httpx.Response(503, headers={"Retry-After": "10"}, text="Service Unavailable"),
            httpx.Response(500, json=sap_error("/IWBEP/CM_MGW_RT/020", "Internal error")),
        ]
    )
    with pytest.raises(RateLimitedError) as info:
        await conn.call("create_sales_order", PAYLOAD, ctx())
    assert info.value.retry_after == 10.0
    with pytest.raises(RetryableError, match="Internal error"):
        await conn.call("create_sales_order", PAYLOAD, ctx())


@respx.mock
async def test_timeout_is_ambiguous_then_found_by_purchase_order_reference(
    conn: SapS4SalesOrderConnector,
) -> None:
    respx.get(f"{SERVICE}/").mock(return_value=csrf_response())
    respx.post(f"{SERVICE}/A_SalesOrder").mock(side_effect=httpx.ReadTimeout("timed out"))
    with pytest.raises(AmbiguousError):
        await conn.call("create_sales_order", PAYLOAD, ctx())
    lookup = respx.get(f"{SERVICE}/A_SalesOrder").mock(
        return_value=httpx.Response(
            200,
            json={
                "d": {
                    "results": [
                        {
                            "SalesOrder": "4711",
                            "PurchaseOrderByCustomer": "801Dn000001abcDEF",
                            "SoldToParty": "10100001",
                        }
                    ]
                }
            },
        )
    )
    found = await conn.find_existing("create_sales_order", PAYLOAD, ctx(attempt=2))
    assert found is not None and found.external_id == "4711"
    params = lookup.calls.last.request.url.params
    assert params["$filter"] == "PurchaseOrderByCustomer eq '801Dn000001abcDEF'"
    assert params["$format"] == "json"


@respx.mock
async def test_gateway_timeout_after_post_is_ambiguous(conn: SapS4SalesOrderConnector) -> None:
    respx.get(f"{SERVICE}/").mock(return_value=csrf_response())
    respx.post(f"{SERVICE}/A_SalesOrder").mock(
        return_value=httpx.Response(504, text="Gateway Timeout")
    )
    with pytest.raises(AmbiguousError):
        await conn.call("create_sales_order", PAYLOAD, ctx())


@respx.mock
async def test_find_existing_none_and_quote_escaping(conn: SapS4SalesOrderConnector) -> None:
    lookup = respx.get(f"{SERVICE}/A_SalesOrder").mock(
        return_value=httpx.Response(200, json={"d": {"results": []}})
    )
    payload = {**PAYLOAD, "po_number": "O'Brien-1"}
    assert await conn.find_existing("create_sales_order", payload, ctx(attempt=2)) is None
    assert lookup.calls.last.request.url.params["$filter"] == (
        "PurchaseOrderByCustomer eq 'O''Brien-1'"
    )


async def test_reference_longer_than_35_is_fatal(conn: SapS4SalesOrderConnector) -> None:
    with pytest.raises(FatalError, match="35"):
        await conn.call("create_sales_order", {**PAYLOAD, "po_number": "X" * 36}, ctx())


def test_registry_builds_sap_s4() -> None:
    conn = build_connector(
        "s4", {"type": "sap_s4", "base_url": BASE, "username": "u", "password": "p"}
    )
    assert isinstance(conn, SapS4SalesOrderConnector)
    with pytest.raises(ValueError):
        build_connector("s4", {"type": "sap_s4", "base_url": BASE})

"""Xero invoice connector: Idempotency-Key, tenant header, error bodies, look-up."""

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
from revflow.connectors.oauth import OAuth2TokenProvider
from revflow.connectors.xero import TOKEN_URL, XeroConnector, idempotency_key_for

INVOICES = "https://api.xero.com/api.xro/2.0/Invoices"
TENANT = "70784a63-d24b-46a9-a4db-0e70a274b056"
PAYLOAD = {
    "external_id": "801Dn000001abcDEF",
    "customer": "eaa28f49-6028-4b6e-bb12-d8f6278073fc",
    "currency": "NZD",
    "order_number": "00012345",
    "order_date": "2024-05-01",
    "due_date": "2024-05-31",
    "lines": [{"sku": "GB1-White", "quantity": 2, "unit_price": "18.75"}],
}


def ctx(attempt: int = 1, key: str = "plan-1:step-inv") -> CallContext:
    return CallContext(key, "corr-1", attempt, "create_invoice", 5.0)


@pytest.fixture
def conn() -> XeroConnector:
    return XeroConnector(TENANT, "at-1", http_client=httpx.AsyncClient())


@respx.mock
async def test_create_invoice_with_idempotency_key(conn: XeroConnector) -> None:
    route = respx.post(INVOICES).mock(
        return_value=httpx.Response(
            200,
            json={
                "Id": "d2b1b5a4",
                "Status": "OK",
                "ProviderName": "Revflow",
                "Invoices": [
                    {
                        "Type": "ACCREC",
                        "InvoiceID": "243216c5-369e-4056-ac67-05388f86dc81",
                        "InvoiceNumber": "INV-0042",
                        "Reference": "00012345",
                        "Status": "AUTHORISED",
                        "HasErrors": False,
                    }
                ],
            },
        )
    )
    result = await conn.call("create_invoice", PAYLOAD, ctx())
    assert result.external_id == "243216c5-369e-4056-ac67-05388f86dc81"
    assert result.response["InvoiceNumber"] == "INV-0042"
    request = route.calls.last.request
    assert request.headers["idempotency-key"] == "plan-1:step-inv"
    assert request.headers["xero-tenant-id"] == TENANT
    assert request.headers["authorization"] == "Bearer at-1"
    assert json.loads(request.content) == {
        "Invoices": [
            {
                "Type": "ACCREC",
                "Contact": {"ContactID": "eaa28f49-6028-4b6e-bb12-d8f6278073fc"},
                "LineItems": [
                    {
                        "ItemCode": "GB1-White",
                        "Description": "GB1-White",
                        "Quantity": 2,
                        "UnitAmount": 18.75,
                        "AccountCode": "200",
                    }
                ],
                "Reference": "00012345",
                "Status": "AUTHORISED",
                "LineAmountTypes": "Exclusive",
                "CurrencyCode": "NZD",
                "Date": "2024-05-01",
                "DueDate": "2024-05-31",
            }
        ]
    }


def test_long_keys_are_hashed() -> None:
    assert idempotency_key_for("k" * 128) == "k" * 128
    assert len(idempotency_key_for("k" * 129)) == 64


@respx.mock
async def test_validation_exception_is_fatal_with_messages(conn: XeroConnector) -> None:
    respx.post(INVOICES).mock(
        return_value=httpx.Response(
            400,
            json={
                "ErrorNumber": 10,
                "Type": "ValidationException",
                "Message": "A validation exception occurred",
                "Elements": [
                    {
                        "Type": "ACCREC",
                        "ValidationErrors": [
                            {
                                "Message": "Account code '999' is not a valid code "
                                "for this document."
                            },
                            {"Message": "Item code 'GB1-White' is not valid"},
                        ],
                    }
                ],
            },
        )
    )
    with pytest.raises(FatalError) as info:
        await conn.call("create_invoice", PAYLOAD, ctx())
    assert "ValidationException" in info.value.message
    assert "Account code '999' is not a valid code" in info.value.message
    assert "Item code 'GB1-White' is not valid" in info.value.message


@respx.mock
async def test_429_is_rate_limited_with_retry_after(conn: XeroConnector) -> None:
    respx.post(INVOICES).mock(
        return_value=httpx.Response(
            429, headers={"Retry-After": "42", "X-Rate-Limit-Problem": "minute"}, text=""
        )
    )
    with pytest.raises(RateLimitedError) as info:
        await conn.call("create_invoice", PAYLOAD, ctx())
    assert info.value.retry_after == 42.0


@respx.mock
async def test_401_fetches_new_client_credentials_token() -> None:
    tokens = OAuth2TokenProvider(TOKEN_URL, "cid", "sec", http_client=httpx.AsyncClient())
    conn = XeroConnector(TENANT, tokens, http_client=httpx.AsyncClient())
    token_route = respx.post(TOKEN_URL).mock(
        side_effect=[
            httpx.Response(
                200, json={"access_token": "a1", "expires_in": 1800, "token_type": "Bearer"}
            ),
            httpx.Response(
                200, json={"access_token": "a2", "expires_in": 1800, "token_type": "Bearer"}
            ),
        ]
    )
    route = respx.post(INVOICES).mock(
        side_effect=[
            httpx.Response(
                401,
                json={
                    "Type": None,
                    "Title": "Unauthorized",
                    "Status": 401,
                    "Detail": "TokenExpired: token expired at 05/01/2024",
                },
            ),
            httpx.Response(200, json={"Invoices": [{"InvoiceID": "inv-1"}]}),
        ]
    )
    with pytest.raises(RetryableError, match="TokenExpired"):
        await conn.call("create_invoice", PAYLOAD, ctx())
    assert (await conn.call("create_invoice", PAYLOAD, ctx(attempt=2))).external_id == "inv-1"
    assert token_route.calls[0].request.headers["authorization"].startswith("Basic ")
    assert "grant_type=client_credentials" in token_route.calls[0].request.content.decode()
    assert route.calls.last.request.headers["authorization"] == "Bearer a2"


@respx.mock
async def test_forbidden_is_fatal(conn: XeroConnector) -> None:
    respx.post(INVOICES).mock(
        return_value=httpx.Response(
            403,
            json={
                "Type": None,
                "Title": "Forbidden",
                "Status": 403,
                "Detail": "AuthenticationUnsuccessful",
            },
        )
    )
    with pytest.raises(FatalError, match="AuthenticationUnsuccessful"):
        await conn.call("create_invoice", PAYLOAD, ctx())


@respx.mock
async def test_timeout_is_ambiguous_then_found_by_reference(conn: XeroConnector) -> None:
    respx.post(INVOICES).mock(side_effect=httpx.ReadTimeout("timed out"))
    with pytest.raises(AmbiguousError):
        await conn.call("create_invoice", PAYLOAD, ctx())
    lookup = respx.get(INVOICES).mock(
        return_value=httpx.Response(
            200,
            json={
                "Invoices": [
                    {"InvoiceID": "old", "Reference": "00012345", "Status": "VOIDED"},
                    {
                        "InvoiceID": "inv-9",
                        "InvoiceNumber": "INV-0042",
                        "Reference": "00012345",
                        "Status": "AUTHORISED",
                    },
                ]
            },
        )
    )
    found = await conn.find_existing("create_invoice", PAYLOAD, ctx(attempt=2))
    assert found is not None and found.external_id == "inv-9"
    request = lookup.calls.last.request
    assert request.url.params["where"] == 'Type=="ACCREC" AND Reference=="00012345"'
    assert request.headers["xero-tenant-id"] == TENANT
    lookup.mock(return_value=httpx.Response(200, json={"Invoices": []}))
    assert await conn.find_existing("create_invoice", PAYLOAD, ctx(attempt=2)) is None


def test_registry_builds_xero() -> None:
    conn = build_connector(
        "xero", {"type": "xero", "tenant_id": TENANT, "client_id": "c", "client_secret": "s"}
    )
    assert isinstance(conn, XeroConnector)
    assert isinstance(conn.token_provider, OAuth2TokenProvider)
    with pytest.raises(ValueError, match="tenant_id"):
        build_connector("xero", {"type": "xero"})

"""QuickBooks Online invoice connector: requestid, Fault bodies, token refresh, look-up."""

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
from revflow.connectors.quickbooks import TOKEN_URL, QuickBooksConnector, request_id_for

BASE = "https://sandbox-quickbooks.api.intuit.com"
INVOICE = f"{BASE}/v3/company/9130350000000000/invoice"
QUERY = f"{BASE}/v3/company/9130350000000000/query"
PAYLOAD = {
    "external_id": "801Dn000001abcDEF",
    "customer": "58",
    "order_number": "00012345",
    "lines": [{"sku": "5", "quantity": 3, "unit_price": "19.99", "description": "Rock Fountain"}],
}


def ctx(attempt: int = 1) -> CallContext:
    return CallContext("plan-1:step-inv", "corr-1", attempt, "create_invoice", 5.0)


def fault(kind: str, message: str, detail: str, code: str) -> dict:
    return {
        "Fault": {
            "Error": [{"Message": message, "Detail": detail, "code": code, "element": ""}],
            "type": kind,
        },
        "time": "2024-05-01T09:17:31.892-07:00",
    }


@pytest.fixture
def tokens() -> OAuth2TokenProvider:
    return OAuth2TokenProvider(
        TOKEN_URL,
        "cid",
        "csecret",
        grant_type="refresh_token",
        refresh_token="rt-1",
        http_client=httpx.AsyncClient(),
    )


@pytest.fixture
def conn(tokens: OAuth2TokenProvider) -> QuickBooksConnector:
    return QuickBooksConnector(
        "9130350000000000", tokens, base_url=BASE, http_client=httpx.AsyncClient()
    )


def mock_token(token: str = "at-1", refresh: str = "rt-2") -> respx.Route:
    return respx.post(TOKEN_URL).mock(
        return_value=httpx.Response(
            200,
            json={
                "token_type": "bearer",
                "access_token": token,
                "expires_in": 3600,
                "refresh_token": refresh,
                "x_refresh_token_expires_in": 8726400,
            },
        )
    )


@respx.mock
async def test_create_invoice_with_requestid(
    conn: QuickBooksConnector, tokens: OAuth2TokenProvider
) -> None:
    token_route = mock_token()
    route = respx.post(INVOICE).mock(
        return_value=httpx.Response(
            200,
            json={
                "Invoice": {
                    "Id": "130",
                    "DocNumber": "00012345",
                    "TotalAmt": 59.97,
                    "SyncToken": "0",
                },
                "time": "2024-05-01T09:17:31.892-07:00",
            },
        )
    )
    result = await conn.call("create_invoice", PAYLOAD, ctx())
    assert result.external_id == "130"
    request = route.calls.last.request
    assert request.url.params["requestid"] == "plan-1:step-inv"
    assert request.url.params["minorversion"] == "75"
    assert request.headers["authorization"] == "Bearer at-1"
    form = token_route.calls.last.request.content.decode()
    assert "grant_type=refresh_token" in form and "refresh_token=rt-1" in form
    assert tokens.refresh_token == "rt-2"  # rotated refresh token kept
    body = json.loads(request.content)
    assert body["CustomerRef"] == {"value": "58"}
    assert body["DocNumber"] == "00012345"
    assert body["Line"] == [
        {
            "DetailType": "SalesItemLineDetail",
            "Amount": 59.97,
            "Description": "Rock Fountain",
            "SalesItemLineDetail": {"ItemRef": {"value": "5"}, "Qty": 3, "UnitPrice": 19.99},
        }
    ]
    # the token is cached
    await conn.call("create_invoice", PAYLOAD, ctx())
    assert token_route.call_count == 1


def test_request_id_hashes_long_keys() -> None:
    assert request_id_for("a" * 50) == "a" * 50
    assert len(request_id_for("a" * 51)) == 40
    assert request_id_for("a" * 51) == request_id_for("a" * 51)


@respx.mock
async def test_validation_fault_is_fatal_with_detail(conn: QuickBooksConnector) -> None:
    mock_token()
    respx.post(INVOICE).mock(
        return_value=httpx.Response(
            400,
            json=fault(
                "ValidationFault",
                "Duplicate Document Number Error",
                "Duplicate Document Number Error : You must specify a different number. "
                "This number has already been used. DocNumber=00012345 is assigned to "
                "TxnType=Invoice with TxnId=129",
                "6140",
            ),
        )
    )
    with pytest.raises(FatalError) as info:
        await conn.call("create_invoice", PAYLOAD, ctx())
    assert "ValidationFault" in info.value.message
    assert "This number has already been used" in info.value.message
    assert "code 6140" in info.value.message


@respx.mock
async def test_fault_inside_200_is_fatal(conn: QuickBooksConnector) -> None:
    mock_token()
    respx.post(INVOICE).mock(
        return_value=httpx.Response(
            200,
            json=fault(
                "ValidationFault",
                "Object Not Found",
                "Object Not Found : Something you're trying to use has been made "
                "inactive. Check the fields with accounts.",
                "610",
            ),
        )
    )
    with pytest.raises(FatalError, match="made inactive"):
        await conn.call("create_invoice", PAYLOAD, ctx())


@respx.mock
async def test_401_refreshes_token_on_next_attempt(conn: QuickBooksConnector) -> None:
    token_route = respx.post(TOKEN_URL).mock(
        side_effect=[
            httpx.Response(200, json={"access_token": "at-1", "expires_in": 3600}),
            httpx.Response(200, json={"access_token": "at-2", "expires_in": 3600}),
        ]
    )
    route = respx.post(INVOICE).mock(
        side_effect=[
            httpx.Response(
                401,
                json={
                    "fault": {
                        "error": [
                            {
                                "message": "message=AuthenticationFailed; errorCode=003200; "
                                "statusCode=401",
                                "detail": "Token expired: at-1",
                                "code": "3200",
                            }
                        ],
                        "type": "AUTHENTICATION",
                    },
                    "time": "2024-05-01T09:17:31.892-07:00",
                },
            ),
            httpx.Response(200, json={"Invoice": {"Id": "130"}}),
        ]
    )
    with pytest.raises(RetryableError, match="Token expired"):
        await conn.call("create_invoice", PAYLOAD, ctx())
    result = await conn.call("create_invoice", PAYLOAD, ctx(attempt=2))
    assert result.external_id == "130"
    assert token_route.call_count == 2
    assert route.calls.last.request.headers["authorization"] == "Bearer at-2"
    assert (
        route.calls[0].request.url.params["requestid"]
        == route.calls[1].request.url.params["requestid"]
    )


@respx.mock
async def test_throttle_is_rate_limited(conn: QuickBooksConnector) -> None:
    mock_token()
    respx.post(INVOICE).mock(
        return_value=httpx.Response(
            429,
            json=fault(
                "ThrottleExceeded",
                "message=ThrottleExceeded; errorCode=003001; statusCode=429",
                "The request limit was reached.",
                "3001",
            ),
        )
    )
    with pytest.raises(RateLimitedError, match="request limit"):
        await conn.call("create_invoice", PAYLOAD, ctx())


@respx.mock
async def test_bad_refresh_token_is_fatal(conn: QuickBooksConnector) -> None:
    respx.post(TOKEN_URL).mock(return_value=httpx.Response(400, json={"error": "invalid_grant"}))
    with pytest.raises(FatalError, match="invalid_grant"):
        await conn.call("create_invoice", PAYLOAD, ctx())


@respx.mock
async def test_timeout_is_ambiguous_then_found_by_doc_number(conn: QuickBooksConnector) -> None:
    mock_token()
    respx.post(INVOICE).mock(side_effect=httpx.ReadTimeout("timed out"))
    with pytest.raises(AmbiguousError):
        await conn.call("create_invoice", PAYLOAD, ctx())
    query = respx.get(QUERY).mock(
        return_value=httpx.Response(
            200,
            json={
                "QueryResponse": {
                    "Invoice": [{"Id": "130", "DocNumber": "00012345"}],
                    "startPosition": 1,
                    "maxResults": 1,
                },
                "time": "2024-05-01T09:17:31.892-07:00",
            },
        )
    )
    found = await conn.find_existing("create_invoice", PAYLOAD, ctx(attempt=2))
    assert found is not None and found.external_id == "130"
    assert query.calls.last.request.url.params["query"] == (
        "select * from Invoice where DocNumber = '00012345'"
    )
    query.mock(return_value=httpx.Response(200, json={"QueryResponse": {}}))
    assert await conn.find_existing("create_invoice", PAYLOAD, ctx(attempt=2)) is None
    no_doc = {k: v for k, v in PAYLOAD.items() if k != "order_number"}
    assert await conn.find_existing("create_invoice", no_doc, ctx(attempt=2)) is None


def test_registry_builds_quickbooks() -> None:
    conn = build_connector(
        "qbo",
        {
            "type": "quickbooks",
            "realm_id": "1",
            "client_id": "c",
            "client_secret": "s",
            "refresh_token": "r",
            "sandbox": True,
        },
    )
    assert isinstance(conn, QuickBooksConnector)
    assert conn.base_url == BASE
    with pytest.raises(ValueError, match="realm_id"):
        build_connector("qbo", {"type": "quickbooks"})

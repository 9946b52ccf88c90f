"""NetSuite REST Record API connector against documented request/response shapes."""

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
from revflow.connectors.netsuite import NetSuiteConnector, account_base_url

BASE = "https://1234567-sb1.suitetalk.api.netsuite.com"
RECORD = f"{BASE}/services/rest/record/v1/salesOrder/eid:SF-00012345"
PAYLOAD = {
    "external_id": "SF-00012345",
    "customer": "107",
    "currency": "USD",
    "order_date": "2024-05-01",
    "order_number": "00012345",
    "lines": [{"sku": "99", "quantity": 2, "unit_price": "12.50", "description": "Widget"}],
}


def ctx(attempt: int = 1) -> CallContext:
    return CallContext("plan-1:step-so", "corr-1", attempt, "create_sales_order", 5.0)


class Tokens:
    def __init__(self) -> None:
        self.invalidated = 0

    async def get_token(self) -> str:
        return "tok-1"

    def invalidate(self) -> None:
        self.invalidated += 1


def problem(status: int, title: str, detail: str, code: str) -> dict[str, object]:
    return {
        "type": "https://www.rfc-editor.org/rfc/rfc9110.html#section-15.5.1",
        "title": title,
        "status": status,
        "o:errorDetails": [{"detail": detail, "o:errorCode": code}],
    }


@pytest.fixture
def tokens() -> Tokens:
    return Tokens()


@pytest.fixture
def conn(tokens: Tokens) -> NetSuiteConnector:
    return NetSuiteConnector(
        BASE, tokens, currency_ids={"USD": "1"}, http_client=httpx.AsyncClient()
    )


def test_account_base_url() -> None:
    assert account_base_url("1234567_SB1") == BASE


@respx.mock
async def test_upsert_by_external_id(conn: NetSuiteConnector) -> None:
    route = respx.put(RECORD).mock(
        return_value=httpx.Response(
            204, headers={"Location": f"{BASE}/services/rest/record/v1/salesOrder/4711"}
        )
    )
    result = await conn.call("create_sales_order", PAYLOAD, ctx())
    assert result.external_id == "4711"
    request = route.calls.last.request
    assert request.method == "PUT"
    assert request.url.params["replace"] == "item"
    assert request.headers["authorization"] == "Bearer tok-1"
    body = json.loads(request.content)
    assert body == {
        "externalId": "SF-00012345",
        "entity": {"id": "107"},
        "item": {
            "items": [{"item": {"id": "99"}, "quantity": 2, "rate": 12.5, "description": "Widget"}]
        },
        "currency": {"id": "1"},
        "tranDate": "2024-05-01",
        "otherRefNum": "00012345",
    }


@respx.mock
async def test_validation_error_is_fatal_with_netsuite_detail(conn: NetSuiteConnector) -> None:
    respx.put(RECORD).mock(
        return_value=httpx.Response(
            400,
            json=problem(
                400,
                "Bad Request",
                "Invalid value for the resource or sub-resource field 'entity'. "
                "Provide a valid value.",
                "INVALID_VALUE",
            ),
        )
    )
    with pytest.raises(FatalError) as info:
        await conn.call("create_sales_order", PAYLOAD, ctx())
    assert "field 'entity'" in info.value.message
    assert "INVALID_VALUE" in info.value.message
    assert info.value.status_code == 400


@respx.mock
async def test_concurrency_limit_is_rate_limited(conn: NetSuiteConnector) -> None:
    respx.put(RECORD).mock(
        return_value=httpx.Response(
            429,
            headers={"Retry-After": "3"},
            json=problem(
                429,
                "Too Many Requests",
                "Request rejected due to concurrency limit exceeded.",
                "CONCURRENCY_LIMIT_EXCEEDED",
            ),
        )
    )
    with pytest.raises(RateLimitedError) as info:
        await conn.call("create_sales_order", PAYLOAD, ctx())
    assert info.value.retry_after == 3.0
    assert "concurrency limit" in info.value.message


@respx.mock
async def test_401_invalidates_token_and_is_retryable(
    conn: NetSuiteConnector, tokens: Tokens
) -> None:
    respx.put(RECORD).mock(
        return_value=httpx.Response(
            401, json=problem(401, "Unauthorized", "Invalid login attempt.", "INVALID_LOGIN")
        )
    )
    with pytest.raises(RetryableError) as info:
        await conn.call("create_sales_order", PAYLOAD, ctx())
    assert not isinstance(info.value, RateLimitedError)
    assert tokens.invalidated == 1
    assert "Invalid login attempt" in info.value.message


@respx.mock
async def test_server_error_is_retryable(conn: NetSuiteConnector) -> None:
    respx.put(RECORD).mock(
        return_value=httpx.Response(
            500, json=problem(500, "Internal Server Error", "Unexpected error.", "UNEXPECTED_ERROR")
        )
    )
    with pytest.raises(RetryableError):
        await conn.call("create_sales_order", PAYLOAD, ctx())


@respx.mock
async def test_timeout_is_ambiguous_then_find_existing_by_eid(conn: NetSuiteConnector) -> None:
    respx.put(RECORD).mock(side_effect=httpx.ReadTimeout("timed out"))
    with pytest.raises(AmbiguousError):
        await conn.call("create_sales_order", PAYLOAD, ctx())
    get = respx.get(RECORD).mock(
        return_value=httpx.Response(
            200, json={"id": "4711", "externalId": "SF-00012345", "tranId": "SO1042"}
        )
    )
    found = await conn.find_existing("create_sales_order", PAYLOAD, ctx(attempt=2))
    assert found is not None and found.external_id == "4711"
    assert found.response["tranId"] == "SO1042"
    assert get.calls.last.request.headers["authorization"] == "Bearer tok-1"


@respx.mock
async def test_find_existing_404_is_unknown(conn: NetSuiteConnector) -> None:
    respx.get(RECORD).mock(
        return_value=httpx.Response(
            404,
            json=problem(404, "Not Found", "The record instance does not exist.", "NONEXISTENT_ID"),
        )
    )
    assert await conn.find_existing("create_sales_order", PAYLOAD, ctx(attempt=2)) is None


async def test_missing_customer_is_fatal_before_sending(conn: NetSuiteConnector) -> None:
    with pytest.raises(FatalError, match="customer"):
        await conn.call("create_sales_order", {**PAYLOAD, "customer": None}, ctx())


def test_registry_builds_netsuite() -> None:
    conn = build_connector(
        "ns", {"type": "netsuite", "account_id": "1234567_SB1", "token_provider": "tok"}
    )
    assert isinstance(conn, NetSuiteConnector)
    assert conn.base_url == BASE
    with pytest.raises(ValueError, match="account_id"):
        build_connector("ns", {"type": "netsuite"})

"""The Tryton connector against a real Tryton server (app/sandbox/tryton.py).

The server runs once per test session on a copy of the cached database (the first
run builds the cache, about 30 s); each test uses its own Salesforce order ids.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

pytest.importorskip("trytond")

from revflow.config import ConfigError, TrytonConnectorSettings, load_settings  # noqa: E402
from revflow.connectors.base import CallContext  # noqa: E402
from revflow.connectors.errors import AmbiguousError, FatalError, RetryableError  # noqa: E402
from revflow.connectors.registry import build_connector  # noqa: E402
from revflow.connectors.tryton import TrytonConnector, tryton_error  # noqa: E402
from revflow.sandbox.tryton import TrytonServer  # noqa: E402

PRODUCTS = [
    ("T-WIDGET", "Widget", "goods", "25"),
    ("T-SUPPORT", "Support, yearly", "service", "480"),
]
_order_ids = itertools.count(1)


@pytest.fixture(scope="session")
def tryton() -> Iterator[TrytonServer]:
    with TrytonServer() as server:
        server.create_products(PRODUCTS)
        yield server


@pytest.fixture
async def connector(tryton: TrytonServer) -> AsyncIterator[TrytonConnector]:
    built = build_connector("erp", tryton.connector_settings())
    assert isinstance(built, TrytonConnector)
    yield built
    await built.aclose()


def order(**overrides: Any) -> dict[str, Any]:
    """A mapped order (order_to_sales_order's shape) with a fresh Salesforce id."""
    n = next(_order_ids)
    payload: dict[str, Any] = {
        "external_id": f"801TRY{n:012d}",
        "order_number": f"{n:08d}",
        "customer": {"name": "Tryton Test Customer", "account_number": "ACC-T-1"},
        "currency": "EUR",
        "order_date": "2026-12-01",
        "po_number": f"PO-{n}",
        "lines": [
            {"sku": "T-WIDGET", "quantity": 2.0, "unit_price": "25.00", "description": "Widget"},
            {"sku": "T-SUPPORT", "quantity": 1.0, "unit_price": "480.00"},
        ],
    }
    payload.update(overrides)
    return payload


def ctx(action: str, attempt: int = 1) -> CallContext:
    return CallContext(
        idempotency_key=f"key-{action}",
        correlation_id="corr",
        attempt=attempt,
        action=action,
        timeout_s=30.0,
    )


def sales(tryton: TrytonServer, reference: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = tryton.rpc(
        "model.sale.sale.search_read",
        [("reference", "=", reference)],
        0,
        None,
        None,
        ["number", "state", "reference", "lines", "party.code", "invoices"],
    )
    return rows


async def test_sales_order_is_created_confirmed_and_processed(tryton, connector):
    payload = order()
    result = await connector.call("sales_order.create", payload, ctx("sales_order.create"))

    (sale,) = sales(tryton, payload["external_id"])
    assert result.external_id == sale["number"]
    assert sale["number"].startswith("SO-")
    assert sale["state"] == "processing"
    assert len(sale["lines"]) == 2
    assert sale["party."]["code"] == "ACC-T-1"
    assert result.response["created"] is True


async def test_repeated_call_returns_the_same_sale(tryton, connector):
    payload = order()
    first = await connector.call("sales_order.create", payload, ctx("sales_order.create"))
    again = await connector.call("sales_order.create", payload, ctx("sales_order.create", 2))

    assert again.external_id == first.external_id
    assert again.response["created"] is False
    assert len(sales(tryton, payload["external_id"])) == 1


async def test_invoice_is_posted_with_a_number_once(tryton, connector):
    payload = order()
    await connector.call("sales_order.create", payload, ctx("sales_order.create"))
    result = await connector.call("invoice.create", payload, ctx("invoice.create"))

    (sale,) = sales(tryton, payload["external_id"])
    (invoice,) = tryton.rpc(
        "model.account.invoice.read", sale["invoices"], ["number", "state", "total_amount"]
    )
    assert invoice["state"] == "posted"
    assert invoice["number"].startswith("INV-")
    assert result.external_id == invoice["number"]
    assert str(invoice["total_amount"]) == "530.00"

    again = await connector.call("invoice.create", payload, ctx("invoice.create", 2))
    assert again.external_id == invoice["number"]
    assert again.response["posted_now"] == []


async def test_tryton_user_error_is_fatal_with_its_message(tryton, connector):
    # Tryton's "Unit" has no decimals: its own validation refuses 1.5 units
    payload = order(lines=[{"sku": "T-WIDGET", "quantity": 1.5, "unit_price": "25.00"}])
    with pytest.raises(FatalError) as caught:
        await connector.call("sales_order.create", payload, ctx("sales_order.create"))

    assert 'for field "Quantity"' in caught.value.message
    assert "exceeds the limit" in caught.value.message
    assert caught.value.details["tryton_error"] == "UserError"
    assert sales(tryton, payload["external_id"]) == []


async def test_unknown_product_is_fatal_and_names_the_code(tryton, connector):
    payload = order(lines=[{"sku": "NO-SUCH", "quantity": 1, "unit_price": "1.00"}])
    with pytest.raises(FatalError, match="NO-SUCH"):
        await connector.call("sales_order.create", payload, ctx("sales_order.create"))
    assert sales(tryton, payload["external_id"]) == []


class _LoseAnswer(httpx.AsyncHTTPTransport):
    """Sends each request to Tryton, but drops the answer to the named method once."""

    def __init__(self, method: str) -> None:
        super().__init__()
        self.method = method
        self.dropped = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await super().handle_async_request(request)
        if self.dropped == 0 and f'"method":"{self.method}"' in request.content.decode().replace(
            " ", ""
        ):
            await response.aread()
            self.dropped += 1
            raise httpx.ReadTimeout("answer lost", request=request)
        return response


@pytest.mark.parametrize("lost", ["model.sale.sale.create", "model.sale.sale.confirm"])
async def test_retry_after_ambiguous_timeout_does_not_duplicate(tryton, lost):
    transport = _LoseAnswer(lost)
    async with httpx.AsyncClient(transport=transport) as http:
        connector = build_connector("erp", tryton.connector_settings(), http_client=http)
        payload = order()
        with pytest.raises(AmbiguousError):
            await connector.call("sales_order.create", payload, ctx("sales_order.create"))
        assert transport.dropped == 1

        # the executor's second attempt: check before retrying
        found = await connector.find_existing(
            "sales_order.create", payload, ctx("sales_order.create", 2)
        )
        assert found is not None
        again = await connector.call("sales_order.create", payload, ctx("sales_order.create", 3))

    (sale,) = sales(tryton, payload["external_id"])
    assert found.external_id == again.external_id == sale["number"]
    assert sale["state"] == "processing"  # the half-done workflow was finished


async def test_find_existing_answers_none_for_an_unknown_order(connector):
    payload = order()
    assert await connector.find_existing("sales_order.create", payload, ctx("x", 2)) is None


async def test_expired_session_logs_in_again(tryton, connector):
    payload = order()
    await connector.call("sales_order.create", payload, ctx("sales_order.create"))
    assert connector.logins == 1
    connector._session = "Session " + "bm9ib2R5OjE6ZXhwaXJlZA=="  # an expired session

    result = await connector.call("invoice.create", payload, ctx("invoice.create"))

    assert connector.logins == 2
    assert result.external_id and result.external_id.startswith("INV-")


async def test_bad_password_is_fatal(tryton):
    connector = build_connector("erp", tryton.connector_settings(password="wrong"))
    try:
        with pytest.raises(FatalError, match="refused the login"):
            await connector.call("sales_order.create", order(), ctx("sales_order.create"))
    finally:
        await connector.aclose()


# -- without a server ---------------------------------------------------------------


async def test_unreachable_server_is_retryable():
    connector = TrytonConnector("http://127.0.0.1:9", "db", "admin", "pw")  # nobody listens
    try:
        with pytest.raises(RetryableError):
            await connector.call("sales_order.create", order(), ctx("sales_order.create"))
    finally:
        await connector.aclose()


def test_error_classification():
    user_error = tryton_error(["UserError", ["The sale is wrong.", "Fix it.", None]], "m")
    assert isinstance(user_error, FatalError) and user_error.message == "The sale is wrong. Fix it."
    warning = tryton_error(["UserWarning", ["w1", "Quotation expired.", ""]], "m")
    assert isinstance(warning, FatalError) and warning.message == "Quotation expired."
    concurrency = tryton_error(["ConcurrencyException", ["Records were modified."]], "m")
    assert isinstance(concurrency, RetryableError)
    locked = tryton_error(["database is locked", "Traceback ..."], "m")
    assert isinstance(locked, RetryableError)
    bug = tryton_error(["'NoneType' object is not subscriptable", "Traceback ..."], "m")
    assert type(bug) is FatalError


def test_erp_setting_accepts_tryton(monkeypatch):
    for key, value in {
        "REVFLOW_ERP__TYPE": "tryton",
        "REVFLOW_ERP__URL": "http://127.0.0.1:8000",
        "REVFLOW_ERP__DATABASE": "erp",
        "REVFLOW_ERP__USER": "revflow",
        "REVFLOW_SALESFORCE__INSTANCE_URL": "https://example.my.salesforce.com",
        "REVFLOW_SALESFORCE__CLIENT_ID": "id",
        "REVFLOW_SALESFORCE__AUTH": "client_credentials",
        "REVFLOW_SALESFORCE__CLIENT_SECRET": "secret",
    }.items():
        monkeypatch.setenv(key, value)
    settings = load_settings()
    assert isinstance(settings.erp, TrytonConnectorSettings)
    with pytest.raises(ConfigError, match="REVFLOW_ERP__PASSWORD"):
        settings.require_org()

    monkeypatch.setenv("REVFLOW_ERP__PASSWORD", "pw")
    settings = load_settings()
    settings.require_org()  # no webhook secrets needed
    built = build_connector("erp", settings.erp.connector_options())
    assert isinstance(built, TrytonConnector) and built.rpc_url == "http://127.0.0.1:8000/erp/rpc/"

    monkeypatch.setenv("REVFLOW_ERP__SECRETS", '["whsec_abc"]')
    with pytest.raises(ConfigError, match="REVFLOW_ERP__SECRETS"):
        load_settings()


async def test_an_amended_order_is_a_sale_of_its_own_revision(tryton, connector):
    first = order()
    oid = first["external_id"]
    one = await connector.call("sales_order.create", first, ctx("sales_order.create"))
    amended = {**first, "revision": 2, "lines": first["lines"][:1]}
    two = await connector.call("sales_order.create", amended, ctx("sales_order.create"))
    assert two.external_id != one.external_id and two.response["created"] is True
    again = await connector.call("sales_order.create", amended, ctx("sales_order.create", 2))
    assert again.external_id == two.external_id  # found by its revision's reference
    (revised,) = sales(tryton, f"{oid}/r2")
    assert len(revised["lines"]) == 1 and revised["state"] == "processing"
    assert len(sales(tryton, oid)) == 1  # the first sale stays as it was
    # the invoice step (not sent before the amendment: no revision) posts the newest sale's
    result = await connector.call("invoice.create", first, ctx("invoice.create"))
    assert result.response["sale"] == two.external_id


async def test_a_quote_is_a_sale_left_in_quotation_once(tryton, connector):
    """quote.create (the quote_to_erp_quote mapping's shape): a numbered quotation,
    the discount in the price; a retry and find_existing answer the same sale."""
    n = next(_order_ids)
    quote_id = f"0Q0TRY{n:012d}"
    payload: dict[str, Any] = {
        "external_id": quote_id,
        "quote_number": f"{n:08d}",
        "customer": {"name": "Tryton Test Customer", "account_number": "ACC-T-1"},
        "currency": "EUR",
        "lines": [
            {"sku": "T-WIDGET", "quantity": 4.0, "unit_price": "25.00", "discount_percent": 10},
            {"sku": "T-SUPPORT", "quantity": 1.0, "unit_price": "480.00", "discount_percent": 0},
        ],
    }
    result = await connector.call("quote.create", payload, ctx("quote.create"))
    (sale,) = sales(tryton, quote_id)
    assert sale["state"] == "quotation"
    assert result.external_id == sale["number"] and sale["number"]
    prices = tryton.rpc("model.sale.line.read", sale["lines"], ["unit_price", "quantity"])
    assert sorted(float(p["unit_price"]) for p in prices) == [22.5, 480.0]
    again = await connector.call("quote.create", payload, ctx("quote.create", 2))
    assert (again.external_id, again.response["created"]) == (result.external_id, False)
    found = await connector.find_existing("quote.create", payload, ctx("quote.create", 3))
    assert found is not None and found.external_id == result.external_id
    assert len(sales(tryton, quote_id)) == 1

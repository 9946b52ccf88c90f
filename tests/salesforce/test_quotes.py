"""Reading Quotes from the sandbox org over loopback: one query per 200 with their lines,
the fields the Quote mappings read, a single-currency org, and lines' Quotes."""

from __future__ import annotations

from revflow.salesforce.orders import query_fields
from revflow.salesforce.quotes import (
    LINE_FIELDS,
    QUOTE_FIELDS,
    fetch_quotes,
    quote_fields,
    quotes_of_lines,
)
from revflow.sandbox.ids import to18
from revflow.sandbox.org import DEMO_USER_ID, SandboxOrg
from revflow.sandbox.records import RecordStore
from tests.orgkit import MAPPINGS, settings_for, sf_client


def _quote(store: RecordStore, lines: int, **values: object) -> tuple[str, list[str]]:
    account = store.create(
        "Account", {"Name": "Acme", "VAT_Number__c": "DE1"}, user_id=DEMO_USER_ID
    )
    product = store.create("Product2", {"Name": "W", "ProductCode": "W-1"}, user_id=DEMO_USER_ID)
    qid = store.create("Quote", {"Name": "Q", "AccountId": account, **values}, user_id=DEMO_USER_ID)
    ids = [
        store.create(
            "QuoteLineItem",
            {"QuoteId": qid, "Product2Id": product, "Quantity": 1.0, "UnitPrice": 4.0},
            user_id=DEMO_USER_ID,
        )
        for _ in range(lines)
    ]
    return qid, ids


def test_quote_fields_add_what_the_quote_mappings_read() -> None:
    fields = quote_fields(MAPPINGS.values())
    assert fields.order[: len(QUOTE_FIELDS)] == QUOTE_FIELDS
    assert "Account.VAT_Number__c" in fields.order  # read by quote_to_erp_quote
    assert fields.items[: len(LINE_FIELDS)] == LINE_FIELDS
    # and the Order query is not widened by the Quote mapping
    assert "QuoteNumber" not in query_fields(MAPPINGS.values()).order
    single = quote_fields(MAPPINGS.values(), "EUR")
    assert "CurrencyIsoCode" not in single.order + single.items


async def test_quotes_are_read_with_their_lines_in_one_query(org: SandboxOrg) -> None:
    store = RecordStore(org)
    qid, lines = _quote(store, 2, CurrencyIsoCode="USD")
    empty, _ = _quote(store, 0)
    client = sf_client(settings_for(org, "sqlite+aiosqlite://"))
    found = await fetch_quotes(
        client, [qid, empty, to18("0Q05e00000ZZZZZ")], quote_fields(MAPPINGS.values())
    )
    assert set(found) == {qid, empty}
    assert [line["Id"] for line in found[qid]["QuoteLineItems"]] == lines
    assert found[qid]["Account"]["VAT_Number__c"] == "DE1"
    assert found[empty]["QuoteLineItems"] == []
    assert client.usage.calls_made == 1 + 0  # one query (the token is not an API call)
    assert await quotes_of_lines(client, [*lines, to18("0QL5e00000ZZZZZ")]) == dict.fromkeys(
        lines, qid
    )
    await client.aclose()


async def test_a_single_currency_org_gets_its_currency_supplied(org: SandboxOrg) -> None:
    org.single_currency = "NOK"
    qid, _ = _quote(RecordStore(org), 1)
    client = sf_client(settings_for(org, "sqlite+aiosqlite://"))
    found = await fetch_quotes(client, [qid], quote_fields(MAPPINGS.values(), "NOK"))
    assert found[qid]["CurrencyIsoCode"] == "NOK"
    assert found[qid]["QuoteLineItems"][0]["CurrencyIsoCode"] == "NOK"
    await client.aclose()

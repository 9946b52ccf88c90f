"""Read Quotes with their line items, products and account: one SOQL query per 200.

As for Orders (``orders``), the fields read are Revflow's own plus every Quote and
QuoteLineItem path the Quote mappings use, so a field named in a mapping is fetched.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from revflow.salesforce.client import SalesforceClient
from revflow.salesforce.orders import CURRENCY, IDS_PER_QUERY, QueryFields, normalize, query_fields

QUOTE_FIELDS = (
    "Id",
    "QuoteNumber",
    "Name",
    "Status",
    "ExpirationDate",
    "CurrencyIsoCode",
    "TotalPrice",
    "AccountId",
    "Account.Name",
    "Account.AccountNumber",
    "Account.BillingCountry",
    "SystemModstamp",
)
LINE_FIELDS = (
    "Id",
    "Quantity",
    "UnitPrice",
    "ListPrice",
    "Discount",
    "TotalPrice",
    "Product2Id",
    "Product2.ProductCode",
    "Product2.Name",
    "Product2.Family",
)
LINES = "QuoteLineItems"


def quote_fields(mappings: Iterable[Any], currency: str | None = None) -> QueryFields:
    """Revflow's Quote and QuoteLineItem fields plus those the Quote mappings read."""
    return query_fields(
        mappings, currency, source="Quote", head=QUOTE_FIELDS, lines=LINE_FIELDS, children=LINES
    )


def _ids(ids: Iterable[str]) -> list[str]:
    return [i for i in dict.fromkeys(ids) if i.isalnum()]


def quote_query(ids: list[str], fields: QueryFields) -> str:
    quoted = ", ".join(f"'{i}'" for i in _ids(ids))
    lines = f"(SELECT {', '.join(fields.items)} FROM {LINES})"
    return f"SELECT {', '.join(fields.order)}, {lines} FROM Quote WHERE Id IN ({quoted})"


def _supply_currency(quote: dict[str, Any], currency: str) -> None:
    """What a multicurrency org would have returned, from the org's one currency."""
    records = [quote, quote.get("Account")]
    for line in quote[LINES]:
        records += [line, line.get("Product2")]
    for record in records:
        if isinstance(record, dict):
            record.setdefault(CURRENCY, currency)


async def fetch_quotes(
    client: SalesforceClient, ids: Iterable[str], fields: QueryFields
) -> dict[str, dict[str, Any]]:
    """The Quotes that exist, by id, each with its ``QuoteLineItems`` as a list."""
    found: dict[str, dict[str, Any]] = {}
    unique = _ids(ids)
    for start in range(0, len(unique), IDS_PER_QUERY):
        for rec in await client.query(quote_query(unique[start : start + IDS_PER_QUERY], fields)):
            quote = normalize(rec)
            quote[LINES] = quote.get(LINES) or []
            if fields.currency is not None:
                _supply_currency(quote, fields.currency)
            found[quote["Id"]] = quote
    return found


async def quotes_of_lines(client: SalesforceClient, line_ids: Iterable[str]) -> dict[str, str]:
    """Quote id by QuoteLineItem id, for the lines that still exist (one query per 200)."""
    found: dict[str, str] = {}
    unique = _ids(line_ids)
    for start in range(0, len(unique), IDS_PER_QUERY):
        quoted = ", ".join(f"'{i}'" for i in unique[start : start + IDS_PER_QUERY])
        soql = f"SELECT Id, QuoteId FROM QuoteLineItem WHERE Id IN ({quoted})"
        for rec in await client.query(soql):
            found[rec["Id"]] = rec["QuoteId"]
    return found

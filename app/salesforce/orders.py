"""Read orders with their items, products and account in one SOQL query per 200 orders.

The fields read are the ones the mappings use (``query_fields``) plus what Revflow
itself needs, so a custom field named in a mapping is fetched, and `revflow mappings
lint --org` checks that it exists before a query could fail on it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from revflow.salesforce.client import SalesforceClient

ORDER_FIELDS = (
    "Id",
    "OrderNumber",
    "Status",
    "EffectiveDate",
    "EndDate",
    "CurrencyIsoCode",
    "TotalAmount",
    "PoNumber",
    "Description",
    "Type",
    "AccountId",
    "Account.Name",
    "Account.AccountNumber",
    "Account.BillingCountry",
    "SystemModstamp",
)
ITEM_FIELDS = (
    "Id",
    "Quantity",
    "UnitPrice",
    "TotalPrice",
    "Description",
    "Product2Id",
    "Product2.ProductCode",
    "Product2.Name",
    "Product2.Family",
)
IDS_PER_QUERY = 200
ITEMS = "OrderItems"


CURRENCY = "CurrencyIsoCode"


@dataclass(frozen=True)
class QueryFields:
    order: tuple[str, ...] = ORDER_FIELDS
    items: tuple[str, ...] = ITEM_FIELDS
    # a single-currency org's currency: CurrencyIsoCode is not selected (the org has no
    # such field) but set to this on the order, its account, items and products
    currency: str | None = None


def query_fields(
    mappings: Iterable[Any],
    currency: str | None = None,
    *,
    source: str = "Order",
    head: tuple[str, ...] = ORDER_FIELDS,
    lines: tuple[str, ...] = ITEM_FIELDS,
    children: str = ITEMS,
) -> QueryFields:
    """The default fields plus every Order and OrderItem path the mappings read (or,
    with ``source`` and the others, a Quote's and its ``QuoteLineItems``' paths).

    With ``currency`` (a single-currency org) no ``CurrencyIsoCode`` path is selected.
    """
    order, items = dict.fromkeys(head), dict.fromkeys(lines)
    for mapping in mappings:
        if getattr(mapping, "source", None) != source:
            continue
        for ref in getattr(mapping, "source_refs", ()):
            parts = tuple(ref.base) + tuple(ref.parts)
            if not parts or any(p.startswith("_") for p in parts):
                continue  # expression roots, not fields
            if parts[0] == children:
                if 1 < len(parts) <= 3:
                    items.setdefault(".".join(parts[1:]))
            elif len(parts) <= 2:
                order.setdefault(".".join(parts))
    if currency is not None:
        order = {p: None for p in order if p.split(".")[-1] != CURRENCY}
        items = {p: None for p in items if p.split(".")[-1] != CURRENCY}
    return QueryFields(tuple(order), tuple(items), currency)


def _supply_currency(order: dict[str, Any], currency: str) -> None:
    """What a multicurrency org would have returned, from the org's one currency."""
    records = [order, order.get("Account")]
    for item in order["OrderItems"]:
        records += [item, item.get("Product2")]
    for record in records:
        if isinstance(record, dict):
            record.setdefault(CURRENCY, currency)


def order_query(ids: list[str], fields: QueryFields | None = None) -> str:
    f = fields or QueryFields()
    quoted = ", ".join(f"'{i}'" for i in ids if i.isalnum())
    items = f"(SELECT {', '.join(f.items)} FROM {ITEMS})"
    return f"SELECT {', '.join(f.order)}, {items} FROM Order WHERE Id IN ({quoted})"


def normalize(record: Any) -> Any:
    """Drop ``attributes`` and turn child query results into plain lists."""
    if isinstance(record, list):
        return [normalize(r) for r in record]
    if not isinstance(record, dict):
        return record
    out: dict[str, Any] = {}
    for key, value in record.items():
        if key == "attributes":
            continue
        if isinstance(value, dict) and "records" in value and "totalSize" in value:
            out[key] = [normalize(r) for r in value["records"]]
        else:
            out[key] = normalize(value)
    return out


async def fetch_orders(
    client: SalesforceClient, ids: list[str], fields: QueryFields | None = None
) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    unique = list(dict.fromkeys(ids))
    for start in range(0, len(unique), IDS_PER_QUERY):
        for rec in await client.query(order_query(unique[start : start + IDS_PER_QUERY], fields)):
            order = normalize(rec)
            order.setdefault("OrderItems", [])
            order["OrderItems"] = order["OrderItems"] or []
            if fields is not None and fields.currency is not None:
                _supply_currency(order, fields.currency)
            found[order["Id"]] = order
    return found


async def orders_of_items(client: SalesforceClient, item_ids: list[str]) -> dict[str, str]:
    """Order id by OrderItem id, for the items that still exist (one query per 200)."""
    found: dict[str, str] = {}
    unique = [i for i in dict.fromkeys(item_ids) if i.isalnum()]
    for start in range(0, len(unique), IDS_PER_QUERY):
        quoted = ", ".join(f"'{i}'" for i in unique[start : start + IDS_PER_QUERY])
        for rec in await client.query(f"SELECT Id, OrderId FROM OrderItem WHERE Id IN ({quoted})"):
            found[rec["Id"]] = rec["OrderId"]
    return found

"""Read orders with their items, products and account in one SOQL query per 200 orders."""

from __future__ import annotations

from typing import Any

from app.salesforce.client import SalesforceClient

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


def order_query(ids: list[str]) -> str:
    quoted = ", ".join(f"'{i}'" for i in ids if i.isalnum())
    items = f"(SELECT {', '.join(ITEM_FIELDS)} FROM OrderItems)"
    return f"SELECT {', '.join(ORDER_FIELDS)}, {items} FROM Order WHERE Id IN ({quoted})"


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


async def fetch_orders(client: SalesforceClient, ids: list[str]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    unique = list(dict.fromkeys(ids))
    for start in range(0, len(unique), IDS_PER_QUERY):
        for rec in await client.query(order_query(unique[start : start + IDS_PER_QUERY])):
            order = normalize(rec)
            order.setdefault("OrderItems", [])
            order["OrderItems"] = order["OrderItems"] or []
            found[order["Id"]] = order
    return found

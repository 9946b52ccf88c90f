"""An order's facets the console filters plans by: region, channel, account, families.

Pure: reads the order record as Revflow fetched it (``Account.BillingCountry``,
``Type``, ``OrderItems[].Product2.Family``).  Region and channel come from configured
dotted paths (``REVFLOW_CONSOLE__REGION_FIELD``, ``__CHANNEL_FIELD``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

REGION_FIELD = "Account.BillingCountry"
CHANNEL_FIELD = "Type"
MAX_LEN = 80


@dataclass(frozen=True)
class Facets:
    region: str | None
    channel: str | None
    account_id: str | None
    families: tuple[str, ...]


def value_at(record: dict[str, Any], path: str) -> Any:
    """The value at a dotted path, or None when any part is missing."""
    here: Any = record
    for part in path.split("."):
        if not isinstance(here, dict):
            return None
        here = here.get(part)
    return here


def _text(value: Any, limit: int = MAX_LEN) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    text = str(value).strip()
    return text[:limit] or None


def _lines(record: dict[str, Any]) -> list[Any]:
    items = record.get("OrderItems") or record.get("QuoteLineItems")
    if isinstance(items, dict):  # a REST relationship: {"records": [...]}
        items = items.get("records")
    return items if isinstance(items, list) else []


def facets_of(
    record: dict[str, Any], region_field: str = REGION_FIELD, channel_field: str = CHANNEL_FIELD
) -> Facets:
    families = {
        family
        for line in _lines(record)
        if isinstance(line, dict)
        and (family := _text(value_at(line, "Product2.Family"))) is not None
    }
    return Facets(
        region=_text(value_at(record, region_field)),
        channel=_text(value_at(record, channel_field)),
        account_id=_text(record.get("AccountId"), 18),
        families=tuple(sorted(families)),
    )

"""What to re-read for a gap or overflow change event (wire facts 3.3).

Gap events carry record ids but no data: re-read the Orders (for OrderItems, their
parent Orders) and trust their current state; GAP_DELETE is only noted.  Overflow
events, and gap events with wildcard ids (``801*``), carry no usable ids: run a
reconciliation query from ``commitTimestamp - skew``.  Only Order and OrderItem
lead to plans; other entities are noted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from revflow.clock import utcnow
from revflow.ingest.events import OVERFLOW, IncomingEvent
from revflow.ingest.reconcile import order_ids_modified_since
from revflow.salesforce.client import SalesforceClient
from revflow.salesforce.orders import orders_of_items


@dataclass
class Recovery:
    """The Orders to re-read for one gap/overflow event, and what was done (for its
    incident)."""

    kind: str  # gap | overflow
    order_ids: list[str]
    action: str
    detail: dict[str, Any]


def commit_time(event: IncomingEvent) -> datetime | None:
    ms = (event.payload.get("ChangeEventHeader") or {}).get("commitTimestamp")
    return datetime.fromtimestamp(ms / 1000, UTC) if isinstance(ms, int | float) else None


async def plan_recovery(client: SalesforceClient, event: IncomingEvent, skew_s: float) -> Recovery:
    """Work out (reading Salesforce where needed) which Orders a gap/overflow concerns."""
    entity, ids = event.entity or "", list(event.record_ids)
    kind = "overflow" if event.change_type == OVERFLOW else "gap"
    detail: dict[str, Any] = {
        "change_type": event.change_type,
        "record_ids": ids,
        "transaction_key": event.transaction_key,
        "replay_id": event.replay_id,
    }
    order_ids: list[str] = []
    if entity not in ("Order", "OrderItem"):
        action = f"none: Revflow does not act on {entity} changes"
    elif kind == "overflow" or any("*" in i for i in ids):
        since = (commit_time(event) or utcnow()) - timedelta(seconds=skew_s)
        order_ids = await order_ids_modified_since(client, entity, since)
        detail["since"] = since.isoformat()
        action = (
            f"reconciliation query on {entity} SystemModstamp >= {since.isoformat()}: "
            f"{len(order_ids)} Order(s) checked"
        )
    elif event.change_type == "GAP_DELETE":
        action = f"noted: {entity} record(s) deleted in Salesforce; nothing to plan"
    elif entity == "Order":
        order_ids = ids
        action = f"re-read {len(ids)} Order(s) over REST"
    else:
        order_ids = await parent_orders(client, ids)
        action = f"re-read {len(order_ids)} parent Order(s) of {len(ids)} OrderItem(s)"
    return Recovery(kind, order_ids, action, detail)


async def parent_orders(client: SalesforceClient, item_ids: list[str]) -> list[str]:
    """The OrderIds of OrderItems (one query per 200)."""
    return list(dict.fromkeys((await orders_of_items(client, item_ids)).values()))

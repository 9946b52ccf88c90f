"""Read one Order from the org as the intake does, for the mappings page's preview: the
fields the current mappings read, the lookups they use, the org's single currency."""

from __future__ import annotations

from typing import Any

from revflow.console.context import OrderFetcher
from revflow.orchestration.intake import Intake
from revflow.salesforce.orders import fetch_orders, query_fields


def order_reader(intake: Intake) -> OrderFetcher:
    async def read(order_id: str) -> dict[str, Any] | None:
        mappings = intake.mappings()
        fields = query_fields(mappings.values(), intake.org_currency)
        order = (await fetch_orders(intake.client, [order_id], fields)).get(order_id)
        if order is not None:
            await intake.lookups.attach([order], mappings.values())
        return order

    return read

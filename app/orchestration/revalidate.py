"""Validation failures are retried when the order's data changes, not before.

A plan whose ``validate`` step failed (a mapping rule or a missing required value)
is on hold.  Retrying it with the same data would fail the same way, so Revflow
waits for the Order (or Quote) to change in Salesforce: then it re-reads it, rebuilds
the payloads of the steps that have not run with the current data and mappings,
and retries ``validate`` (audited as actor ``revflow``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from revflow.config import Settings
from revflow.db.database import Database
from revflow.db.models import OrderSnapshot, StepState
from revflow.ingest import singleton
from revflow.orchestration import hold_queries, operator, repository
from revflow.orchestration.errors import OperatorError
from revflow.plans.decompose import CompiledMapping, decompose
from revflow.plans.definitions import PlanDefinition
from revflow.salesforce.client import SalesforceClient
from revflow.salesforce.lookups import LookupCache
from revflow.salesforce.orders import fetch_orders, query_fields

VALIDATE = "validate"
NOT_RUN = (StepState.PENDING, StepState.FAILED)

# reads the records by id (for Quotes: ``salesforce.quotes.fetch_quotes``)
Fetch = Callable[[list[str]], Awaitable[Mapping[str, dict[str, Any]]]]


def activated(order: dict[str, Any]) -> bool:
    return order.get("Status") == "Activated"


async def plans_waiting_for_data(s: AsyncSession, order_ids: Iterable[str]) -> dict[str, int]:
    """Order id -> plan id, for plans on hold because validation failed."""
    ids = list(dict.fromkeys(order_ids))
    if not ids:
        return {}
    return await hold_queries.plans_failed_validation(s, ids, VALIDATE)


async def revalidate(
    db: Database,
    client: SalesforceClient,
    settings: Settings,
    definition: PlanDefinition,
    mappings: Callable[[], Mapping[str, CompiledMapping]],
    order_ids: Iterable[str],
    *,
    lookups: LookupCache | None = None,
    org_currency: str | None = None,
    fetch: Fetch | None = None,
    live: Callable[[dict[str, Any]], bool] = activated,
) -> list[int]:
    """Retry validation for changed orders whose plans wait for better data; plan ids.

    Part of the intake loop, so it owns its transactions: one to store the rebuilt
    payloads, one for the retry (an operator's action meanwhile stands).
    ``org_currency``: a single-currency org's currency (see ``query_fields``).
    ``fetch`` and ``live``: how the records are read and which may be retried (default:
    Orders, Activated ones)."""
    async with db.read() as s:
        waiting = await plans_waiting_for_data(s, order_ids)
    if not waiting:
        return []
    current = mappings()
    orders: Mapping[str, dict[str, Any]]
    if fetch is None:
        fields = query_fields(current.values(), org_currency)
        orders = await fetch_orders(client, list(waiting), fields)
    else:
        orders = await fetch(list(waiting))
    await (lookups or LookupCache(client)).attach(orders.values(), current.values())
    retried = []
    for order_id, plan_id in waiting.items():
        order = orders.get(order_id)
        if order is None or not live(order):
            continue
        draft = decompose(definition, order, current)
        async with db.write() as s:
            await singleton.fence(s)  # under intake's lease, when run by its loop
            s.add(OrderSnapshot(order_id=order_id, record=order))
            for sd in draft.steps:
                if sd.key == VALIDATE:
                    continue
                values = {"input": sd.input, "mapping_hash": sd.mapping_hash}
                await repository.update_steps_not_run(s, plan_id, sd.key, NOT_RUN, values)
        validate = next((sd for sd in draft.steps if sd.key == VALIDATE), None)
        try:
            async with db.write() as s:
                await singleton.fence(s)
                await operator.retry(
                    s,
                    settings.writeback,
                    plan_id,
                    VALIDATE,
                    actor="revflow",
                    reason=f"{definition.source.lower()} data changed in Salesforce",
                    input=validate.input if validate else None,
                )
        except OperatorError:
            continue  # an operator acted meanwhile; their action stands
        retried.append(plan_id)
    return retried

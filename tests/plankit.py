"""Build plans straight into the database for worker, operator and API tests."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from revflow.clock import utcnow
from revflow.config import WritebackSettings
from revflow.connectors.base import CallResult, FakeConnector
from revflow.db.database import Database
from revflow.db.models import OrderSnapshot, Plan, PlanState, Signal, Step, StepState, WritebackItem
from revflow.orchestration.executor import StepExecutor
from revflow.orchestration.worker import Worker
from revflow.plans.state import StepView, newly_ready

ORDER_ID = "8015e00000Q7mNpAAJ"


T = TypeVar("T")


async def transact(
    db: Database, service: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any
) -> T:
    """Call a service in a write transaction of its own, as an API route or CLI command
    does (a refusal rolls it back)."""
    session: AsyncSession
    async with db.write() as session:
        return await service(session, *args, **kwargs)


async def insert_plan(db: Database, steps: list[dict[str, Any]], order_id: str = ORDER_ID) -> int:
    """A plan of ``steps`` (dicts of Step columns; ``key`` and ``kind`` at least)."""
    views = [StepView(s["key"], StepState.PENDING, tuple(s.get("depends_on", ()))) for s in steps]
    ready = set(newly_ready(views))
    async with db.write() as s:
        snap = OrderSnapshot(order_id=order_id, record={"Id": order_id})
        s.add(snap)
        await s.flush()
        plan = Plan(
            order_id=order_id,
            definition="test",
            correlation_id=f"rf-{order_id}",
            state=PlanState.IN_PROGRESS,
            snapshot_id=snap.id,
        )
        s.add(plan)
        await s.flush()
        for position, spec in enumerate(steps):
            spec = dict(spec)
            key = spec.pop("key")
            s.add(
                Step(
                    plan_id=plan.id,
                    key=key,
                    position=position,
                    kind=spec.pop("kind", "milestone"),
                    depends_on=list(spec.pop("depends_on", ())),
                    state=StepState.READY if key in ready else StepState.PENDING,
                    due_at=utcnow() if key in ready else None,
                    idempotency_key=spec.pop("idempotency_key", f"{order_id}-{key}"),
                    input=spec.pop("input", {}),
                    connector=spec.pop("connector", "erp" if "action" in spec else None),
                    **spec,
                )
            )
        return plan.id


def make_worker(
    db: Database, handler: Any = None, owner: str = "w1", writeback: WritebackSettings | None = None
) -> Worker:
    handler = handler or (lambda *a: CallResult(external_id="X"))
    return Worker(
        db,
        StepExecutor({"erp": FakeConnector(handler)}),
        {},
        writeback or WritebackSettings(),
        owner=owner,
        signal_poll_s=0.0,
    )


async def states(db: Database, plan_id: int) -> tuple[Plan, dict[str, Step]]:
    async with db.read() as s:
        plan = (await s.scalars(select(Plan).where(Plan.id == plan_id))).one()
        steps = {
            st.key: st for st in (await s.scalars(select(Step).where(Step.plan_id == plan_id)))
        }
    return plan, steps


async def outbox(db: Database) -> list[tuple[str, str, dict[str, Any]]]:
    async with db.read() as s:
        items = await s.scalars(select(WritebackItem).order_by(WritebackItem.id))
        return [(i.sobject, i.record_id, i.fields) for i in items]


async def signal(db: Database, key: str, payload: dict[str, Any] | None = None, n: int = 1) -> None:
    async with db.write() as s:
        s.add(
            Signal(
                source="platform_event",
                name="/event/Fulfillment_Callback__e",
                dedupe_key=f"{key}-{n}",
                correlation_key=key,
                payload=payload or {"Correlation_Key__c": key},
            )
        )

"""Named queries on plans, steps and what they touch; the services' only SQL.

Every function takes the caller's session and neither commits nor rolls back: the
edge (API route, worker loop, CLI command) owns the transaction.  ``lock_*`` take
row locks on PostgreSQL (``FOR UPDATE``); SQLite has one writer and needs none.
The lease queries live in ``claims``, the connector call log in ``call_log``, those on
plans held by a failed validation in ``hold_queries``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ARRAY, Row, Table, any_, bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from revflow.db.models import (
    AuditEntry,
    EventStatus,
    OrderSnapshot,
    Plan,
    PlanState,
    ReceivedEvent,
    Signal,
    Step,
    StepState,
)
from revflow.plans.ponr import ChangeView
from revflow.plans.state import FINAL_PLAN, StepView

STEPS = cast(Table, Step.__table__)  # Core table: executemany updates by bound id
PLANS = cast(Table, Plan.__table__)
FIRST = "new"  # the scenario of an order's first plan


def on_sqlite(s: AsyncSession) -> bool:
    """SQLite has one writer and no row locks: ``FOR UPDATE`` is left out there."""
    return s.get_bind().dialect.name == "sqlite"


# -- plans -----------------------------------------------------------------------------


async def lock_plan(s: AsyncSession, plan_id: int, is_sqlite: bool) -> Plan | None:
    """The plan row, locked on PostgreSQL so sibling changes are serialised."""
    q = select(Plan).where(Plan.id == plan_id)
    if not is_sqlite:
        q = q.with_for_update()
    return (await s.scalars(q)).one_or_none()


async def lock_plans(s: AsyncSession, plan_ids: Iterable[int], is_sqlite: bool) -> dict[int, Plan]:
    """Several plan rows, locked in id order on PostgreSQL (no deadlock between batches).
    This and the worker's other per-batch queries are built once, bound per call."""
    ids = sorted(set(plan_ids))
    if not ids:
        return {}
    q = _PLANS_BY_ID if is_sqlite else _PLANS_BY_ID_LOCKED
    return {p.id: p for p in (await s.scalars(q, {"b_ids": ids})).all()}


def any_of(column: Any, name: str) -> Any:
    """PostgreSQL's ``column = ANY(:name)``: the ids bound as one array.  Unlike an
    expanding IN, nothing is rendered per execution, and the statement's text (one
    prepared statement) is the same for any number of ids."""
    return column == any_(bindparam(name, type_=ARRAY(column.type)))


_PLANS_BY_ID = select(Plan).where(Plan.id.in_(bindparam("b_ids", expanding=True))).order_by(Plan.id)
_PLANS_BY_ID_LOCKED = (
    select(Plan).where(any_of(Plan.id, "b_ids")).order_by(Plan.id).with_for_update()
)


SETTLED_PLAN = ("state", "hold_reason", "error", "completed_at", "jeopardy")  # settle's


async def write_plans(s: AsyncSession, plans: Sequence[Plan], now: datetime) -> None:
    """Store the loaded ``plans``' ``SETTLED_PLAN`` values, as set on them, with one
    Core executemany instead of the ORM's flush (values assigned through the ORM, as
    ``jeopardy_watch`` does, are marked stored too)."""
    if not plans:
        return
    rows = []
    for plan in plans:
        values = {name: getattr(plan, name) for name in SETTLED_PLAN}
        # committed before the UPDATE runs: its autoflush must not write them again
        for name, value in values.items():
            set_committed_value(plan, name, value)
        set_committed_value(plan, "updated_at", now)
        rows.append(
            {"b_id": plan.id, "b_updated_at": now, **{f"b_{k}": v for k, v in values.items()}}
        )
    await s.execute(_SET_PLANS, rows)


_SET_PLANS = (
    update(PLANS)
    .where(PLANS.c.id == bindparam("b_id"))
    .values({name: bindparam(f"b_{name}") for name in (*SETTLED_PLAN, "updated_at")})
)


async def get_plan(s: AsyncSession, plan_id: int) -> Plan | None:
    return await s.get(Plan, plan_id)


async def plan_id_of_order(s: AsyncSession, order_id: str, scenario: str = FIRST) -> int | None:
    return await s.scalar(
        select(Plan.id).where(Plan.order_id == order_id, Plan.scenario == scenario)
    )


async def planned_orders(s: AsyncSession, order_ids: Sequence[str]) -> set[str]:
    """Of ``order_ids``, those with a first plan (500 ids per query)."""
    found: set[str] = set()
    for start in range(0, len(order_ids), 500):
        chunk = order_ids[start : start + 500]
        stmt = select(Plan.order_id).where(Plan.order_id.in_(chunk), Plan.scenario == FIRST)
        found.update((await s.scalars(stmt)).all())
    return found


async def plans_of_order(s: AsyncSession, order_id: str) -> list[Plan]:
    q = select(Plan).where(Plan.order_id == order_id).order_by(Plan.id)
    return list((await s.scalars(q)).all())


async def open_plans_due(s: AsyncSession, after_id: int, limit: int, is_sqlite: bool) -> list[Plan]:
    """Open plans with a due date, by id after ``after_id`` (skipping locked ones)."""
    open_states = [state for state in PlanState if state not in FINAL_PLAN]
    q = (
        select(Plan)
        .where(Plan.id > after_id, Plan.state.in_(open_states), Plan.due_at.is_not(None))
        .order_by(Plan.id)
        .limit(limit)
    )
    if not is_sqlite:
        q = q.with_for_update(skip_locked=True)
    return list((await s.scalars(q)).all())


async def snapshot_record(s: AsyncSession, snapshot_id: int | None) -> dict[str, Any] | None:
    return await s.scalar(select(OrderSnapshot.record).where(OrderSnapshot.id == snapshot_id))


# -- steps -----------------------------------------------------------------------------


async def step_views(s: AsyncSession, plan_id: int) -> list[StepView]:
    rows = (
        await s.execute(
            select(Step.key, Step.state, Step.depends_on, Step.kind)
            .where(Step.plan_id == plan_id)
            .order_by(Step.position)
        )
    ).all()
    return [StepView(r.key, StepState(r.state), tuple(r.depends_on), r.kind) for r in rows]


async def change_views(s: AsyncSession, plan_id: int) -> list[ChangeView]:
    rows = (
        await s.execute(
            select(Step.key, Step.state, Step.depends_on, Step.ponr, Step.input, Step.note)
            .where(Step.plan_id == plan_id)
            .order_by(Step.position)
        )
    ).all()
    return [
        ChangeView(
            r.key,
            StepState(r.state),
            tuple(r.depends_on),
            bool(r.ponr),
            bool((r.input or {}).get("compensation")),
            r.note,
        )
        for r in rows
    ]


async def plan_steps(s: AsyncSession, plan_id: int) -> list[Step]:
    """A plan's step rows in order, re-read (others update steps in SQL)."""
    q = (
        select(Step)
        .where(Step.plan_id == plan_id)
        .order_by(Step.position)
        .execution_options(populate_existing=True)
    )
    return list((await s.scalars(q)).all())


async def steps_of_plans(s: AsyncSession, plan_ids: Sequence[int]) -> list[Step]:
    q = select(Step).where(Step.plan_id.in_(plan_ids)).order_by(Step.plan_id, Step.position)
    return list((await s.scalars(q)).all())


async def settle_rows(s: AsyncSession, plan_ids: Sequence[int]) -> Sequence[Row[Any]]:
    """What settling and jeopardy need of the plans' steps, by plan and position."""
    return (await s.execute(_SETTLE_ROWS, {"b_plans": list(plan_ids)})).all()


# what settling a plan reads of its steps (``settle_rows``, ``claims.fence_and_read``)
SETTLE_COLUMNS = (
    "id",
    "plan_id",
    "key",
    "state",
    "depends_on",
    "kind",
    "error",
    "wait_until",
    "expected_duration_s",
    "started_at",
    "finished_at",
    "jeopardy",
)
_SETTLE_ROWS = (
    select(*(getattr(Step, name) for name in SETTLE_COLUMNS))
    .where(Step.plan_id.in_(bindparam("b_plans", expanding=True)))
    .order_by(Step.plan_id, Step.position)
)


async def last_position(s: AsyncSession, plan_id: int) -> int:
    return await s.scalar(select(func.max(Step.position)).where(Step.plan_id == plan_id)) or 0


async def ready_steps(
    s: AsyncSession, now_ids: Sequence[int], at: Sequence[dict[str, Any]], now: datetime
) -> None:
    """Pending steps become ready: ``now_ids`` now, ``at`` ({b_id, b_due}) at their time."""
    if now_ids:
        await s.execute(_READY_NOW, {"b_ids": list(now_ids), "b_now": now})
    if at:
        await s.execute(_READY_AT, list(at))


_READY_NOW = (
    update(Step)
    .where(Step.id.in_(bindparam("b_ids", expanding=True)), Step.state == StepState.PENDING)
    .values(state=StepState.READY, due_at=bindparam("b_now", type_=Step.due_at.type))
)
_READY_AT = (
    update(STEPS)
    .where(STEPS.c.id == bindparam("b_id"), STEPS.c.state == StepState.PENDING)
    .values(state=StepState.READY, due_at=bindparam("b_due", type_=STEPS.c.due_at.type))
)


async def set_jeopardy(s: AsyncSession, step_ids: Sequence[int], verdict: str | None) -> None:
    await s.execute(update(Step).where(Step.id.in_(step_ids)).values(jeopardy=verdict))


async def update_step_in_state(
    s: AsyncSession, plan_id: int, key: str, old: StepState, values: dict[str, Any]
) -> bool:
    """Set ``values`` on a plan's step if it is still ``old``; False if it moved on."""
    done = await s.execute(
        update(Step)
        .where(Step.plan_id == plan_id, Step.key == key, Step.state == old)
        .values(**values)
    )
    return bool(done.rowcount)  # type: ignore[attr-defined]


async def update_steps_not_run(
    s: AsyncSession,
    plan_id: int,
    key: str,
    states: Sequence[StepState],
    values: dict[str, Any],
) -> None:
    """Set ``values`` on a plan's step while it is in one of ``states``."""
    await s.execute(
        update(Step)
        .where(Step.plan_id == plan_id, Step.key == key, Step.state.in_(states))
        .values(**values)
    )


async def fallout(s: AsyncSession, order_id: str | None, limit: int) -> Sequence[Row[Any]]:
    """Fatally failed steps of open plans, oldest first."""
    q = (
        select(Step.plan_id, Plan.order_id, Plan.state, Step.key, Step.kind)
        .add_columns(Step.error, Step.attempts, Step.finished_at)
        .join(Plan, Plan.id == Step.plan_id)
        .where(Step.state == StepState.FAILED, Plan.state.not_in(list(FINAL_PLAN)))
        .order_by(Step.finished_at, Step.id)
        .limit(limit)
    )
    if order_id:
        q = q.where(Plan.order_id == order_id)
    return (await s.execute(q)).all()


# -- audit and inbox entries about plans ----------------------------------------------------


async def plan_audit(s: AsyncSession, plan_id: int) -> list[AuditEntry]:
    q = select(AuditEntry).where(AuditEntry.plan_id == plan_id).order_by(AuditEntry.id)
    return list((await s.scalars(q)).all())


async def order_audited(s: AsyncSession, order_id: str, action: str) -> bool:
    found = await s.scalar(
        select(AuditEntry.id).where(AuditEntry.order_id == order_id, AuditEntry.action == action)
    )
    return found is not None


async def received_events(s: AsyncSession, limit: int) -> list[ReceivedEvent]:
    """The inbox's oldest events still to handle."""
    q = (
        select(ReceivedEvent)
        .where(ReceivedEvent.status == EventStatus.RECEIVED)
        .order_by(ReceivedEvent.id)
        .limit(limit)
    )
    return list((await s.scalars(q)).all())


async def mark_events(
    s: AsyncSession, ids: Sequence[int], status: str, note: str | None, now: datetime
) -> None:
    await s.execute(
        update(ReceivedEvent)
        .where(ReceivedEvent.id.in_(ids))
        .values(status=status, note=note, processed_at=now)
    )


async def release_deferred(s: AsyncSession, order_id: str, note: str) -> int:
    """Deferred inbox events naming ``order_id`` go back to ``received``; how many."""
    rows = (
        await s.execute(
            select(ReceivedEvent.id, ReceivedEvent.record_ids).where(
                ReceivedEvent.status == EventStatus.DEFERRED
            )
        )
    ).all()
    ids = [r.id for r in rows if order_id in (r.record_ids or ())]
    if ids:
        await s.execute(
            update(ReceivedEvent)
            .where(ReceivedEvent.id.in_(ids))
            .values(status=EventStatus.RECEIVED, note=note)
        )
    return len(ids)


# -- signals ---------------------------------------------------------------------------------


async def consume_signal(s: AsyncSession, signal_id: int, step_id: int) -> None:
    await s.execute(
        update(Signal).where(Signal.id == signal_id).values(consumed_by_step_id=step_id)
    )


async def first_signal(s: AsyncSession, key: str | None, is_sqlite: bool) -> Row[Any] | None:
    """The oldest unconsumed signal for ``key`` (id, payload), skipping locked ones."""
    q = (
        select(Signal.id, Signal.payload)
        .where(Signal.correlation_key == key, Signal.consumed_by_step_id.is_(None))
        .order_by(Signal.id)
        .limit(1)
    )
    if not is_sqlite:
        q = q.with_for_update(skip_locked=True)
    return (await s.execute(q)).first()


async def signalled_waits(s: AsyncSession, limit: int, is_sqlite: bool) -> Sequence[Row[Any]]:
    """Waiting steps with an unconsumed signal for their key (step and signal columns)."""
    q = (
        select(Step.id, Step.plan_id, Step.key, Signal.id.label("signal_id"), Signal.payload)
        .join(Signal, Signal.correlation_key == Step.wait_key)
        .where(
            Step.state == StepState.WAITING,
            Step.kind == "wait",
            Signal.consumed_by_step_id.is_(None),
        )
        .order_by(Signal.id)
        .limit(limit)
    )
    if not is_sqlite:
        q = q.with_for_update(skip_locked=True)
    return (await s.execute(q)).all()


async def expired_waits(
    s: AsyncSession, now: datetime, limit: int, is_sqlite: bool
) -> Sequence[Row[Any]]:
    """Waiting steps past their timeout."""
    q = (
        select(Step.id, Step.plan_id, Step.key, Step.wait_key, Step.input)
        .where(
            Step.state == StepState.WAITING,
            Step.kind == "wait",
            Step.due_at.is_not(None),
            Step.due_at <= now,
        )
        .limit(limit)
    )
    if not is_sqlite:
        q = q.with_for_update(skip_locked=True)
    return (await s.execute(q)).all()


async def finish_wait(s: AsyncSession, step_id: int, values: dict[str, Any]) -> bool:
    """End a waiting step with ``values``; False if it is no longer waiting."""
    done = await s.execute(
        update(Step).where(Step.id == step_id, Step.state == StepState.WAITING).values(**values)
    )
    return bool(done.rowcount)  # type: ignore[attr-defined]

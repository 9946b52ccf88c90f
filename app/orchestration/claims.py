"""Leases on steps: the one claim both the worker and compensations use, and the
queries that keep, check and release a lease.

Queries only: the caller (the worker's claim) owns the transaction.  Picks up to
``limit`` steps matching ``due`` (oldest plan first, so orders finish one
by one; ``FOR UPDATE SKIP LOCKED`` on PostgreSQL), then leases them in one UPDATE
that re-checks ``due``: on SQLite the SELECT runs before the write lock is taken, so
another process may have claimed some meanwhile.  Returns the leased steps' columns
and the plans they belong to.

An outcome is written only while the lease is held: ``fence`` locks the steps this
owner still leases, and the outcome's UPDATE repeats the check (``release_steps``,
``release_compensation``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Integer,
    Table,
    and_,
    bindparam,
    exists,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from revflow.db.models import Plan, PlanState, Step, StepState
from revflow.orchestration.repository import SETTLE_COLUMNS, any_of, on_sqlite

PlanRow = Any  # a row of Plan.id, order_id, correlation_id, definition
STEPS = cast(Table, Step.__table__)  # Core table: executemany updates by bound id
FROZEN_STATES = [PlanState.FREEZING, PlanState.FROZEN]


def due_steps(now: Any) -> ColumnElement[bool]:
    """Steps a worker may claim: ready or retrying and due, or running on a lapsed lease.

    A freezing or frozen plan (a change arrived) starts no step; a running step whose
    lease expired is still taken over, so that it can finish.  ``now``: a time, or a
    bound parameter for a statement built once.
    """
    held = exists().where(Plan.id == Step.plan_id, Plan.state.in_(FROZEN_STATES))
    return or_(
        and_(Step.state.in_([StepState.READY, StepState.RETRYING]), Step.due_at <= now, ~held),
        and_(Step.state == StepState.RUNNING, Step.lease_expires_at < now),
    )


def due_compensations(now: Any) -> ColumnElement[bool]:
    """Compensations due and not leased (or on a lapsed lease)."""
    return and_(
        Step.state == StepState.COMPENSATING,
        Step.due_at <= now,
        or_(Step.lease_owner.is_(None), Step.lease_expires_at < now),
    )


WAITING_FOR_TIME = [StepState.READY, StepState.RETRYING, StepState.COMPENSATING]


async def next_due_at(s: AsyncSession, now: datetime) -> datetime | None:
    """When the next step or compensation waiting for its time falls due (None: none)."""
    query = select(func.min(Step.due_at)).where(Step.state.in_(WAITING_FOR_TIME), Step.due_at > now)
    return cast("datetime | None", (await s.execute(query)).scalar())


async def lease_due_steps(
    s: AsyncSession,
    due: Callable[[Any], ColumnElement[bool]],
    *,
    owner: str,
    lease: timedelta,
    now: datetime,
    limit: int,
    columns: Sequence[Any],
    values: Mapping[str, Any] | None = None,
) -> tuple[list[Any], dict[int, PlanRow]]:
    """Lease steps matching ``due(now)`` (``values`` set too); their ``columns`` and
    their plans by id.

    PostgreSQL: one statement (pick, lease and the plans' columns), built once per
    shape and bound per call: the claim runs several times a second per worker, and
    both a round trip and building the statement cost CPU.  SQLite has no UPDATE in a
    WITH clause: three statements there."""
    if s.get_bind().dialect.name != "sqlite":
        stmt = _claim_statement(due, tuple(columns), tuple(sorted((values or {}).items())))
        params = {"b_now": now, "b_until": now + lease, "b_owner": owner, "b_limit": limit}
        rows = list((await s.execute(stmt, params)).all())
        return rows, {r.plan_id: r for r in rows}
    pick = select(Step.id).where(due(now)).order_by(Step.plan_id, Step.due_at).limit(limit)
    ids = list((await s.scalars(pick)).all())
    if not ids:
        return [], {}
    leased = (
        update(Step)
        .where(Step.id.in_(ids), due(now))
        .values(
            lease_owner=owner,
            lease_expires_at=now + lease,
            attempts=Step.attempts + 1,
            started_at=now,
            **(values or {}),
        )
        .returning(Step.id, Step.plan_id, *columns)
    )
    rows = list((await s.execute(leased)).all())
    of_plans = select(Plan.id, Plan.order_id, Plan.correlation_id, Plan.definition).where(
        Plan.id.in_({r.plan_id for r in rows})
    )
    plans = {p.id: p for p in (await s.execute(of_plans)).all()}
    return rows, plans


_CLAIMS: dict[tuple[Any, ...], Any] = {}


def _claim_statement(
    due: Callable[[Any], ColumnElement[bool]],
    columns: tuple[Any, ...],
    values: tuple[tuple[str, Any], ...],
) -> Any:
    """PostgreSQL's claim for one shape (bound: b_now, b_until, b_owner, b_limit):
    ``WITH leased AS (UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED)
    RETURNING ...) SELECT leased.*, <plan columns> FROM leased JOIN plans``."""
    key = (due, tuple(str(c) for c in columns), values)
    stmt = _CLAIMS.get(key)
    if stmt is None:
        now = bindparam("b_now", type_=Step.due_at.type)
        pick = (
            select(Step.id)
            .where(due(now))
            .order_by(Step.plan_id, Step.due_at)
            .limit(bindparam("b_limit", type_=Integer))
            .with_for_update(skip_locked=True)
        )
        leased = (
            update(Step)
            .where(Step.id.in_(pick.scalar_subquery()), due(now))
            .values(
                lease_owner=bindparam("b_owner", type_=Step.lease_owner.type),
                lease_expires_at=bindparam("b_until", type_=Step.lease_expires_at.type),
                attempts=Step.attempts + 1,
                started_at=now,
                **dict(values),
            )
            .returning(Step.id, Step.plan_id, *columns)
            .cte("leased")
        )
        stmt = _CLAIMS[key] = select(
            leased, Plan.order_id, Plan.correlation_id, Plan.definition
        ).join_from(leased, Plan, Plan.id == leased.c.plan_id)
    return stmt


# what a worker needs of a step it leases (besides id and plan_id): see worker/claim.py
LEASED_COLUMNS = (
    Step.key,
    Step.kind,
    Step.connector,
    Step.action,
    Step.attempts,
    Step.idempotency_key,
    Step.input,
    Step.wait_key,
    Step.wait_until,
    Step.assignee,
    Step.retry_policy,
)


async def lease_pending(
    s: AsyncSession, step_ids: Sequence[int], owner: str, lease: timedelta, now: datetime
) -> list[Any]:
    """Pending steps straight to ``running`` on ``owner``'s lease (a claim's values),
    their ``LEASED_COLUMNS``: a commit chaining the successors it makes due.  They
    never pass through ``ready``, so no other worker is notified of them."""
    if not step_ids:
        return []
    params = {"b_ids": list(step_ids), "b_owner": owner, "b_now": now, "b_until": now + lease}
    stmt = _LEASE_PENDING_SQLITE if on_sqlite(s) else _LEASE_PENDING
    return list((await s.execute(stmt, params)).all())


# Core (the table, not the mapped class): the ORM's bulk UPDATE would look for the
# rows in the session to synchronise them, per statement, for steps it never loads
_NOW = bindparam("b_now", type_=STEPS.c.due_at.type)


def _lease_pending(ids: ColumnElement[bool]) -> Any:
    return (
        update(STEPS)
        .where(ids, STEPS.c.state == StepState.PENDING)
        .values(
            state=StepState.RUNNING,
            due_at=_NOW,
            started_at=_NOW,
            attempts=STEPS.c.attempts + 1,
            lease_owner=bindparam("b_owner", type_=STEPS.c.lease_owner.type),
            lease_expires_at=bindparam("b_until", type_=STEPS.c.lease_expires_at.type),
        )
        .returning(STEPS.c.id, STEPS.c.plan_id, *(STEPS.c[c.key] for c in LEASED_COLUMNS))
    )


_LEASE_PENDING = _lease_pending(any_of(STEPS.c.id, "b_ids"))
_LEASE_PENDING_SQLITE = _lease_pending(STEPS.c.id.in_(bindparam("b_ids", expanding=True)))


async def extend_leases(
    s: AsyncSession, step_ids: Sequence[int], owner: str, until: datetime
) -> None:
    """Extend ``owner``'s leases on running (or compensating) steps to ``until``."""
    await s.execute(
        update(Step)
        .where(
            Step.id.in_(step_ids),
            Step.lease_owner == owner,
            Step.state.in_([StepState.RUNNING, StepState.COMPENSATING]),
        )
        .values(lease_expires_at=until)
    )


async def fence(s: AsyncSession, step_ids: Sequence[int], owner: str, is_sqlite: bool) -> set[int]:
    """Of ``step_ids``, those ``owner`` still leases, locked for this transaction.

    PostgreSQL: ``SELECT ... FOR UPDATE``.  SQLite: a no-op UPDATE, which takes the
    database's write lock at once, so no other process can take a lease over
    between this check and the outcome's UPDATE.
    """
    if not step_ids:
        return set()
    q = _FENCE_SQLITE if is_sqlite else _FENCE
    return set((await s.scalars(q, {"b_ids": list(step_ids), "b_owner": owner})).all())


_OWNER = STEPS.c.lease_owner == bindparam("b_owner", type_=STEPS.c.lease_owner.type)
_RUNNING = STEPS.c.state == StepState.RUNNING
_FENCE = select(STEPS.c.id).where(any_of(STEPS.c.id, "b_ids"), _OWNER, _RUNNING).with_for_update()
_FENCE_SQLITE = (
    update(STEPS)
    .where(STEPS.c.id.in_(bindparam("b_ids", expanding=True)), _OWNER, _RUNNING)
    .values(lease_expires_at=STEPS.c.lease_expires_at)
    .returning(STEPS.c.id)
)


async def fence_and_read(
    s: AsyncSession, step_ids: Sequence[int], plan_ids: Sequence[int], owner: str
) -> tuple[set[int], list[Any]]:
    """PostgreSQL: ``fence`` and the plans' steps as ``repository.settle_rows`` reads
    them, in one round trip (a worker's batch commit needs both).  The caller has
    locked the plans already (plans before steps, the lock order of every batch); the
    rows are read before the caller's outcomes are written, so it applies them."""
    params = {"b_ids": list(step_ids) or [0], "b_owner": owner, "b_plans": list(plan_ids)}
    rows = list((await s.execute(_FENCE_READ, params)).all())
    return {r.id for r in rows if r.mine}, rows


# the fence's FOR UPDATE in a CTE read in full (a hashed IN): every step that is still
# ours is locked, whatever the order the plans' rows are read in
_FENCED = _FENCE.cte("fenced")
_FENCE_READ = (
    select(*(STEPS.c[c] for c in SETTLE_COLUMNS))
    .add_columns(STEPS.c.id.in_(select(_FENCED.c.id)).label("mine"))
    .where(any_of(STEPS.c.plan_id, "b_plans"))
    .order_by(STEPS.c.plan_id, STEPS.c.position)
)


async def release_steps(
    s: AsyncSession, owner: str, changes: Sequence[tuple[int, dict[str, object]]]
) -> None:
    """Write running steps' outcomes and release their leases: one executemany UPDATE
    per set of changed columns, the fence repeated in the statement (``attempts`` in
    the values means "one less": a deferred step gives its attempt back)."""
    groups: dict[tuple[str, ...], list[dict[str, object]]] = {}
    for step_id, values in changes:
        params = {f"b_{k}": v for k, v in values.items() if k != "attempts"}
        params["b_id"] = step_id
        params["b_owner"] = owner
        groups.setdefault(tuple(sorted(values)), []).append(params)
    for columns, rows in groups.items():
        await s.execute(_release_statement(columns), rows)


_RELEASES: dict[tuple[str, ...], Any] = {}


def _release_statement(columns: tuple[str, ...]) -> Any:
    """The executemany UPDATE of ``release_steps`` for one set of columns, built once."""
    stmt = _RELEASES.get(columns)
    if stmt is None:
        c = STEPS.c
        new: dict[str, Any] = {"lease_owner": None, "lease_expires_at": None}
        for name in columns:
            if name == "attempts":
                new[name] = c.attempts - 1
            else:
                new[name] = bindparam(f"b_{name}", type_=c[name].type)
        stmt = _RELEASES[columns] = (
            update(STEPS)
            .where(
                c.id == bindparam("b_id"),
                c.lease_owner == bindparam("b_owner", type_=c.lease_owner.type),
                c.state == StepState.RUNNING,
            )
            .values(new)
        )
    return stmt


async def release_compensation(
    s: AsyncSession, step_id: int, owner: str, values: Mapping[str, Any]
) -> bool:
    """Write a compensation's outcome if ``owner`` still leases it; False if it lost it."""
    done = await s.execute(
        update(Step)
        .where(Step.id == step_id, Step.lease_owner == owner, Step.state == StepState.COMPENSATING)
        .values(**values)
    )
    return bool(done.rowcount)  # type: ignore[attr-defined]

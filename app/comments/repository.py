"""The comments package's named queries.  Functions take the caller's session and never
commit; the route, loop or command that calls the service owns the transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from revflow.db.models import AuthSession, Comment, LocalUser, Plan, Step


async def get_plan(s: AsyncSession, plan_id: int) -> Plan | None:
    return await s.get(Plan, plan_id)


async def step_exists(s: AsyncSession, plan_id: int, key: str) -> bool:
    q = select(Step.id).where(Step.plan_id == plan_id, Step.key == key)
    return (await s.scalar(q)) is not None


def add(s: AsyncSession, comment: Comment) -> None:
    s.add(comment)


async def of_plan(
    s: AsyncSession, plan_id: int, step_key: str | None = None, limit: int = 500
) -> list[Comment]:
    """A plan's comments (or one step's), oldest first."""
    q = select(Comment).where(Comment.plan_id == plan_id)
    if step_key is not None:
        q = q.where(Comment.step_key == step_key)
    q = q.order_by(Comment.created_at, Comment.id).limit(limit)
    return list((await s.scalars(q)).all())


async def local_users(s: AsyncSession, usernames: Sequence[str]) -> list[LocalUser]:
    """Enabled local users with these usernames (compared without case)."""
    if not usernames:
        return []
    q = select(LocalUser).where(
        func.lower(LocalUser.username).in_([u.lower() for u in usernames]),
        LocalUser.disabled_at.is_(None),
    )
    return list((await s.scalars(q)).all())


async def session_identities(s: AsyncSession, names: Sequence[str]) -> list[tuple[str, str]]:
    """(subject, name) of identities that have logged in under one of ``names`` (or an
    email whose local part is one of them): OpenID Connect people Revflow has seen."""
    if not names:
        return []
    lowered = [n.lower() for n in names]
    name = func.lower(AuthSession.name)
    q = (
        select(AuthSession.subject, AuthSession.name)
        .where(or_(name.in_(lowered), *[name.like(f"{n}@%") for n in lowered]))
        .distinct()
    )
    return [(row[0], row[1]) for row in (await s.execute(q)).all()]


async def due_mirrors(
    s: AsyncSession, now: datetime, limit: int, is_sqlite: bool
) -> list[tuple[Comment, str]]:
    """Comments whose Chatter copy is due and not leased, with their Order's id; locked
    (FOR UPDATE SKIP LOCKED on PostgreSQL) until the caller's transaction ends."""
    q = (
        select(Comment, Plan.order_id)
        .join(Plan, Plan.id == Comment.plan_id)
        .where(
            Comment.mirror_state == "pending",
            Comment.mirror_due_at <= now,
            or_(Comment.mirror_lease_until.is_(None), Comment.mirror_lease_until < now),
        )
        .order_by(Comment.mirror_due_at, Comment.id)
        .limit(limit)
    )
    if not is_sqlite:
        q = q.with_for_update(of=Comment, skip_locked=True)
    return [(row[0], row[1]) for row in (await s.execute(q)).all()]


async def lease_mirrors(s: AsyncSession, ids: Sequence[int], until: datetime) -> None:
    await s.execute(update(Comment).where(Comment.id.in_(ids)).values(mirror_lease_until=until))


async def update_mirror(s: AsyncSession, comment_id: int, values: dict[str, Any]) -> None:
    await s.execute(update(Comment).where(Comment.id == comment_id).values(**values))

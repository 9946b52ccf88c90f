"""Why a demo run did not end: each unfinished order as the org and Revflow's
database see it, and the tail of the Revflow process's log. For failing tests."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import select

from revflow.db.database import Database
from revflow.db.models import Plan, Step


async def diagnose(
    database_url: str,
    statuses: dict[str, tuple[str | None, str | None]],
    log_path: Path | None = None,
    log_lines: int = 40,
) -> str:
    """``statuses``: order id -> (status, error field) as the org holds them."""
    lines: list[str] = []
    db = Database(database_url)
    try:
        async with db.read() as s:
            for oid, (status, error) in statuses.items():
                lines.append(f"order {oid}: status={status!r} error={error!r}")
                plans = (await s.scalars(select(Plan).where(Plan.order_id == oid))).all()
                for plan in plans:
                    lines.append(f"  plan {plan.id} {plan.state} error={plan.error!r}")
                    steps = await s.scalars(select(Step).where(Step.plan_id == plan.id))
                    for step in steps:
                        lines.append(
                            f"    step {step.key} {step.state} attempts={step.attempts}"
                            f" due={step.due_at} wait={step.wait_key} error={step.error!r}"
                        )
    finally:
        await db.dispose()
    if log_path is not None:
        lines.extend(await asyncio.to_thread(_tail, log_path, log_lines))
    return "\n".join(lines)


def _tail(path: Path, count: int) -> list[str]:
    if not path.exists():
        return []
    tail = path.read_text(errors="replace").splitlines()[-count:]
    return [f"-- last {len(tail)} lines of {path.name}", *tail]

"""The audit log as JSON lines for a SIEM, one entry a line, in chain order."""

from __future__ import annotations

import json
from datetime import datetime
from typing import IO, Any

from sqlalchemy.ext.asyncio import AsyncSession

from revflow.audit import repository
from revflow.clock import aware
from revflow.db.models import AuditEntry

PAGE = 1000


def as_json(e: AuditEntry) -> dict[str, Any]:
    return {
        "seq": e.seq,
        "id": e.id,
        "at": aware(e.at).isoformat(),
        "actor": e.actor,
        "action": e.action,
        "plan_id": e.plan_id,
        "order_id": e.order_id,
        "correlation_id": e.correlation_id,
        "detail": e.detail,
        "prev_hash": e.prev_hash,
        "hash": e.hash,
    }


async def export(
    s: AsyncSession, out: IO[str], *, since: datetime | None = None, after_seq: int = 0
) -> tuple[int, int]:
    """Write entries at or after ``since`` (and after ``after_seq``); (count, last seq)."""
    written, last = 0, after_seq
    while batch := await repository.page(s, last, PAGE, since=since):
        for e in batch:
            out.write(json.dumps(as_json(e), ensure_ascii=False, default=str) + "\n")
            written += 1
            last = e.seq or last
    return written, last

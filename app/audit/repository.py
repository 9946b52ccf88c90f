"""The audit log's queries: pages of entries in chain order, the head, unsealed rows."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from revflow.db.models import AuditChainHead, AuditEntry


async def page(
    s: AsyncSession, after_seq: int, limit: int, since: datetime | None = None
) -> list[AuditEntry]:
    """Up to ``limit`` sealed entries after ``after_seq`` in chain order (at or after ``since``)."""
    q = select(AuditEntry).where(AuditEntry.seq > after_seq)
    if since is not None:
        q = q.where(AuditEntry.at >= since)
    q = q.order_by(AuditEntry.seq).limit(limit)
    return list((await s.scalars(q)).all())


async def head(s: AsyncSession) -> AuditChainHead | None:
    return await s.get(AuditChainHead, 1)


async def unsealed_ids(s: AsyncSession, limit: int = 20) -> list[int]:
    """Committed entries without a chain link (written around ``revflow.audit``)."""
    q = select(AuditEntry.id).where(AuditEntry.seq.is_(None)).order_by(AuditEntry.id)
    return list((await s.scalars(q.limit(limit))).all())


async def count(s: AsyncSession) -> int:
    return int(await s.scalar(select(func.count()).select_from(AuditEntry)) or 0)

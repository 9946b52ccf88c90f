"""Purge payloads of finished work older than the retention age, a batch per transaction."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from revflow import audit
from revflow.clock import utcnow
from revflow.db.database import Database
from revflow.metrics import RETENTION_PURGED
from revflow.retention import repository

log = logging.getLogger("revflow.retention")


def cutoff_for(days: float) -> datetime:
    return utcnow() - timedelta(days=days)


async def count_due(db: Database, cutoff: datetime) -> dict[str, int]:
    """What a purge at ``cutoff`` would touch, per table (``--dry-run``)."""
    async with db.read() as s:
        return {name: await repository.due_count(s, name, cutoff) for name in repository.TARGETS}


async def purge(db: Database, cutoff: datetime, *, actor: str, batch_size: int) -> dict[str, int]:
    """Purge everything due at ``cutoff``; the counts per table, audited when not all 0."""
    counts = dict.fromkeys(repository.TARGETS, 0)
    for name in repository.TARGETS:
        while True:
            async with db.write() as s:
                ids = await repository.due_ids(s, name, cutoff, batch_size)
                if ids:
                    await repository.purge_ids(s, name, ids)
            counts[name] += len(ids)
            RETENTION_PURGED.labels(name).inc(len(ids))
            if len(ids) < batch_size:
                break
    if any(counts.values()):
        async with db.write() as s:
            audit.record(s, actor, "retention.purged", cutoff=cutoff.isoformat(), counts=counts)
        log.info("retention purged payloads", extra={"counts": counts})
    return counts

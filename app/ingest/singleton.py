"""Loops that run in one process per database at a time, held by a lease.

Intake and the reconciliation sweep read Salesforce and create plans without locking
the inbox, so two processes running them would read each order twice and race on
``uq_plans_order_scenario``.  ``leased`` wraps such a loop: it runs only while this
process holds the named lease (a ``channel_leases`` row, like a consumer's channel);
otherwise it stands by, checking the lease every third of its length, and takes over
once the holder's lease lapses.

Both loops share the one ``INTAKE_LEASE``: they also create plans between themselves,
and in one process they take turns (``Intake._planning``), which two processes could
not.

Fencing: while the wrapped loop runs, ``fence(session)`` (called first in every
transaction that stores plans or marks events) renews the lease in that transaction
and raises ``LeaseLost`` if another process took it; the row stays locked until the
commit, so no one takes it over mid-transaction.  The lease a task acts under is a
context variable, set by ``leased``: the same intake code called from elsewhere (the
consumer's replay-expiry reconcile, the API, tests) is not fenced.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from contextvars import ContextVar

from sqlalchemy.ext.asyncio import AsyncSession

from revflow.aio import Beat, sleep_until
from revflow.ingest.errors import LeaseLost
from revflow.ingest.leases import ChannelLeases
from revflow.supervisor import LoopFn

log = logging.getLogger("revflow.leases")

# lease names in ``channel_leases``; channel names start with "/", so none clashes
INTAKE_LEASE = "intake"
# the write-back flusher: its items are leased, so two would be safe, but each would
# coalesce only its own share of a record's updates (more, smaller Salesforce calls)
WRITEBACK_LEASE = "writeback"

_acting: ContextVar[ChannelLeases | None] = ContextVar("revflow_acting_lease", default=None)


async def fence(session: AsyncSession) -> None:
    """Renew the lease the current task acts under in ``session`` (raising
    ``LeaseLost`` if it is another process's now); nothing outside ``leased``."""
    lease = _acting.get()
    if lease is not None:
        await lease.renew(session)


def leased(lease: ChannelLeases, name: str, loop: LoopFn) -> LoopFn:
    """``loop`` run while this process holds ``lease``, standing by otherwise."""
    every_s = lease.lease.total_seconds() / 3

    async def run(stop: asyncio.Event, beat: Beat) -> None:
        standing_by = False
        while not stop.is_set():
            if not await lease.acquire():
                if not standing_by:
                    log.info("standing by", extra={"loop": name, "owner": lease.owner})
                standing_by = True
                beat()  # waiting for the lease is this loop's healthy state
                await sleep_until(every_s, stop)
                continue
            standing_by = False
            log.info("holding the lease", extra={"loop": name, "owner": lease.owner})
            try:
                await _hold(lease, loop, stop, beat, every_s)
            except LeaseLost as exc:
                log.error("lease lost; standing by", extra={"loop": name, "error": str(exc)})
                continue
            break  # the loop ended by itself (stopped)
        # only on a clean stop: a loop that failed is restarted by the supervisor and
        # should find the lease still its own, not hand it over for nothing
        with contextlib.suppress(Exception):  # it lapses by itself otherwise
            await lease.release()

    return run


async def _hold(
    lease: ChannelLeases, loop: LoopFn, stop: asyncio.Event, beat: Beat, every_s: float
) -> None:
    """Run ``loop`` under ``lease`` with a keeper renewing it; whichever ends first
    (the loop, or the keeper on a lost lease or a database error) ends the other."""

    async def keep() -> None:
        while True:
            await asyncio.sleep(every_s)
            await lease.renew()

    token = _acting.set(lease)  # copied into the tasks created below
    try:
        work = asyncio.ensure_future(loop(stop, beat))
        keeper = asyncio.create_task(keep())
    finally:
        _acting.reset(token)
    try:
        done, _ = await asyncio.wait((work, keeper), return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (work, keeper):
            task.cancel()
        await asyncio.gather(work, keeper, return_exceptions=True)
    for task in (keeper, work):  # the keeper's LeaseLost is why the loop was cut short
        if task in done and not task.cancelled() and (exc := task.exception()) is not None:
            raise exc

"""Revflow's share of the org's daily API allocation.

Every REST response carries ``Sforce-Limit-Info: api-usage=N/M``.  ``N`` is the
**org-wide** use in Salesforce's rolling 24-hour window (every integration and user
together), ``M`` the org's allocation.  Revflow therefore counts its **own** calls
itself: each call is added to an hourly row of ``salesforce_api_usage`` (shared by all
Revflow processes, kept across restarts), and its use is the sum of the last 24 rows.

The budget is ``salesforce.api_budget_share × M``.  When Revflow's own use would
exceed it, non-urgent work (write-back flushes, reconciliation sweeps, record
lookups) pauses, an alert is recorded once, and the work resumes when old hours roll
out of the window (or the share or ``M`` grows).  Paused work keeps its place: outbox
items stay pending, the sweep cursor does not move, intake retries.

Before that, the budget's ``pacer`` (``pacing.CallPacer``) spaces order reads and
write-back calls out more as Revflow's use approaches its share.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from revflow import audit
from revflow.aio import Beat, no_beat, sleep_until
from revflow.alerts.hooks import budget_exhausted
from revflow.alerts.service import raise_alert
from revflow.clock import aware, utcnow
from revflow.db.database import Database
from revflow.metrics import (
    SALESFORCE_API_BUDGET,
    SALESFORCE_API_LIMIT,
    SALESFORCE_API_REVFLOW,
    SALESFORCE_API_USED,
)
from revflow.salesforce import repository
from revflow.salesforce.errors import BudgetExhausted
from revflow.salesforce.pacing import CallPacer

log = logging.getLogger("revflow.salesforce.budget")

WINDOW = timedelta(hours=24)
_LIMIT_RE = re.compile(r"api-usage=(\d+)/(\d+)")


def hour_of(when: datetime) -> datetime:
    return when.replace(minute=0, second=0, microsecond=0)


@dataclass
class UsageReport:
    """What ``GET /api/salesforce/usage`` answers."""

    revflow_calls_24h: int
    revflow_calls_today: int
    org_used: int | None
    org_limit: int | None
    share: float
    budget: int | None
    paused: bool
    revflow_share_of_org: float | None

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


class ApiBudget:
    """Counts Revflow's calls and decides whether non-urgent work may call Salesforce."""

    def __init__(
        self, share: float = 0.5, sync_interval_s: float = 1.0, pacer: CallPacer | None = None
    ) -> None:
        self.share = share
        # the process's one pacer of order reads and write-back calls (None: unpaced)
        self._pacer = pacer
        self.sync_interval_s = sync_interval_s
        self.org_used: int | None = None
        self.org_limit: int | None = None
        self._unsaved: dict[datetime, int] = {}
        self._synced_calls = 0  # Revflow's calls in the window as of the last sync
        self._last_sync = 0.0
        self.paused = False  # an alert was recorded for the current pause

    # -- counting ------------------------------------------------------------------
    def count(self, limit_info: str | None) -> None:
        """One call made (its response carried ``limit_info``)."""
        hour = hour_of(utcnow())
        self._unsaved[hour] = self._unsaved.get(hour, 0) + 1
        if limit_info and (m := _LIMIT_RE.search(limit_info)):
            self.org_used, self.org_limit = int(m.group(1)), int(m.group(2))

    @property
    def calls(self) -> int:
        """Revflow's calls in the rolling 24 hours (all processes, as of the last sync)."""
        return self._synced_calls + sum(self._unsaved.values())

    @property
    def budget(self) -> int | None:
        """``share × M``; None until a response has told Revflow the org's allocation."""
        return math.floor(self.share * self.org_limit) if self.org_limit else None

    @property
    def pacer(self) -> CallPacer | None:
        """The pacer, its rates scaled for Revflow's use of its budget so far."""
        if self._pacer is not None:
            self._pacer.tighten(self.calls, self.budget)
        return self._pacer

    def allows(self, calls: int = 1) -> bool:
        """Whether ``calls`` more non-urgent calls fit in the budget."""
        budget = self.budget
        return budget is None or self.calls + calls <= budget

    def check(self, calls: int = 1) -> None:
        """Raise ``BudgetExhausted`` unless ``calls`` more fit (for non-urgent callers)."""
        if not self.allows(calls):
            raise BudgetExhausted(self.calls, self.budget or 0)

    # -- persistence -----------------------------------------------------------------
    async def sync(self, db: Database, *, force: bool = False) -> None:
        """Add the unsaved counts to the hourly rows and re-read the window's total.

        Its own transaction, unlike other services: the counts go back to unsaved if
        the commit fails, so they are counted in a later sync."""
        now = time.monotonic()
        if not force and now - self._last_sync < self.sync_interval_s:
            return
        self._last_sync = now
        unsaved, self._unsaved = self._unsaved, {}
        try:
            async with db.write() as s:
                for hour, calls in sorted(unsaved.items()):
                    await repository.add_usage(
                        s, hour, calls, self.org_used, self.org_limit, utcnow()
                    )
                since = hour_of(utcnow()) - WINDOW + timedelta(hours=1)
                total = await repository.calls_since(s, since)
                if self.org_limit is None:  # after a restart: the last figures seen
                    figures = await repository.last_org_figures(s)
                    if figures is not None:
                        self.org_used, self.org_limit = figures
                self._synced_calls = total
        except Exception:
            for hour, calls in unsaved.items():  # keep them for the next sync
                self._unsaved[hour] = self._unsaved.get(hour, 0) + calls
            raise
        self._gauges()

    async def run(self, db: Database, stop: asyncio.Event, beat: Beat = no_beat) -> None:
        """Sync every ``sync_interval_s`` until ``stop``, and once more then: every
        process records its own calls and sees the others', whichever of the loops that
        call Salesforce it holds (the write-back flusher runs in one process only)."""
        try:
            while not stop.is_set():
                await self.sync(db)
                beat()
                await sleep_until(self.sync_interval_s, stop)
        finally:
            await self.sync(db, force=True)

    def _gauges(self) -> None:
        SALESFORCE_API_REVFLOW.set(self.calls)
        if self.org_used is not None:
            SALESFORCE_API_USED.set(self.org_used)
        if self.org_limit is not None:
            SALESFORCE_API_LIMIT.set(self.org_limit)
        if self.budget is not None:
            SALESFORCE_API_BUDGET.set(self.budget)

    async def pause_alert(self, db: Database, work: str) -> None:
        """Record (once per pause) that non-urgent work stopped for the budget."""
        if self.paused:
            return
        self.paused = True
        log.error(
            "Revflow's Salesforce API budget is used up; non-urgent work paused",
            extra={"calls": self.calls, "budget": self.budget, "work": work},
        )
        async with db.write() as s:
            audit.record(
                s,
                "salesforce",
                "salesforce.budget_exhausted",
                calls=self.calls,
                budget=self.budget,
                share=self.share,
                org_used=self.org_used,
                org_limit=self.org_limit,
                work=work,
            )
            await raise_alert(s, budget_exhausted(self.calls, self.budget, work))

    async def resume_alert(self, db: Database) -> None:
        if not self.paused:
            return
        self.paused = False
        log.warning("Salesforce API budget allows work again", extra={"calls": self.calls})
        async with db.write() as s:
            audit.record(
                s, "salesforce", "salesforce.budget_resumed", calls=self.calls, budget=self.budget
            )


async def usage_report(s: AsyncSession, share: float) -> UsageReport:
    """Revflow's use and the org's, from the table (any process may answer)."""
    now = utcnow()
    since = hour_of(now) - WINDOW + timedelta(hours=1)
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    rows = await repository.usage_since(s, min(since, today))
    last = next((r for r in reversed(rows) if r.org_limit is not None), None)
    calls_24h = sum(r.calls for r in rows if aware(r.hour) >= since)
    calls_today = sum(r.calls for r in rows if aware(r.hour) >= today)
    org_used = last.org_used if last else None
    org_limit = last.org_limit if last else None
    budget = math.floor(share * org_limit) if org_limit else None
    return UsageReport(
        revflow_calls_24h=calls_24h,
        revflow_calls_today=calls_today,
        org_used=org_used,
        org_limit=org_limit,
        share=share,
        budget=budget,
        paused=budget is not None and calls_24h >= budget,
        revflow_share_of_org=round(calls_24h / org_used, 4) if org_used else None,
    )

"""Quote intake: plans for Quotes that reach a configured status (``REVFLOW_QUOTES__*``).

Part of the intake loop (``intake.Intake`` hands it the Quote and QuoteLineItem
events of each batch, after skipping Revflow's own write-backs):

- a Quote whose ``Status`` became one of ``quotes.statuses`` (created with it, or
  changed to it) gets a plan from the Quote plan definition, once: a Quote that has a
  plan is not planned again (Approved, then Accepted, syncs once);
- any other change of a Quote, or of its lines (the Quote is the line's ``QuoteId``),
  retries a plan on hold because validation failed (``revalidate``), e.g. a Quote
  approved before its lines were added;
- gap events re-read the Quotes they name (their current state is the truth), and
  overflow events query the Quotes in a trigger status modified since the overflow;
  both are recorded as incidents, as for Orders.

Quotes are read before the batch's transaction (one query per 200), paced by the
intake's read gate as Orders are; their plans are stored in the transaction that marks
the events, as Orders' are.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from revflow.clock import utcnow
from revflow.config import Settings
from revflow.db.database import Database
from revflow.db.models import EventStatus, Incident, ReceivedEvent
from revflow.ingest.events import (
    GAP_TYPES,
    NO_TRIGGER_NOTE,
    OVERFLOW,
    IncomingEvent,
    echo_reason,
)
from revflow.ingest.reconcile import scan_modified
from revflow.metrics import PLANS_CREATED
from revflow.orchestration import hold_queries, repository
from revflow.orchestration.batches import BatchWork, OrderOutcome, event_of, finish_batch
from revflow.orchestration.plans import create_plan
from revflow.orchestration.quote_events import ENTITIES, LINE, QUOTE, reached_status
from revflow.orchestration.read_gate import spend_reads
from revflow.orchestration.recovery import commit_time
from revflow.orchestration.revalidate import VALIDATE, revalidate
from revflow.plans.decompose import CompiledMapping, decompose
from revflow.plans.definitions import PlanDefinition
from revflow.salesforce.client import SalesforceClient
from revflow.salesforce.lookups import LookupCache, soql_string
from revflow.salesforce.quotes import fetch_quotes, quote_fields, quotes_of_lines
from revflow.salesforce.targets import QUOTE_KEY_PREFIX

log = logging.getLogger("revflow.intake.quotes")

Outcome = tuple[str, str | None]


@dataclass
class QuoteRecovery:
    """A gap or overflow event about Quotes: what was done, for its incident."""

    row: ReceivedEvent
    kind: str  # gap | overflow
    action: str
    query: bool = False  # an overflow or wildcard gap: a reconciliation query
    lines: bool = False  # a gap naming QuoteLineItems: their Quotes are re-read


@dataclass
class QuoteWork:
    """What one inbox batch asks of Quotes, and what became of each event."""

    reached: dict[str, list[int]] = field(default_factory=dict)  # quote id -> event ids
    changed: dict[str, list[int]] = field(default_factory=dict)  # data changed
    lines: dict[str, list[int]] = field(default_factory=dict)  # line id -> event ids
    recoveries: list[QuoteRecovery] = field(default_factory=list)
    quotes: dict[str, dict[str, Any]] = field(default_factory=dict)  # read before storing
    planned: set[str] = field(default_factory=set)  # Quotes with a plan already
    created: set[str] = field(default_factory=set)  # Quotes planned by this batch
    outcome: dict[int, Outcome] = field(default_factory=dict)


class QuoteIntake:
    """Turns Quote events into Quote plans (see the module docstring)."""

    def __init__(
        self,
        db: Database,
        client: SalesforceClient,
        settings: Settings,
        definition: PlanDefinition,
        mappings: Callable[[], Mapping[str, CompiledMapping]],
        lookups: LookupCache,
    ) -> None:
        self.db = db
        self.client = client
        self.settings = settings
        self.definition = definition
        self.mappings = mappings
        self.lookups = lookups
        self.org_currency: str | None = None  # a single-currency org's (see org_check)

    @property
    def statuses(self) -> list[str]:
        return self.settings.quotes.statuses

    @staticmethod
    def claims(event: IncomingEvent) -> bool:
        return event.entity in ENTITIES

    def classify(
        self,
        row: ReceivedEvent,
        event: IncomingEvent,
        work: QuoteWork,
        own_fields: frozenset[str] = frozenset(),
    ) -> str | None:
        """Note what the event asks (no I/O; its outcome is set when the batch is
        stored).  Returns why it is Revflow's own write-back (``echo_reason`` with
        ``own_fields``), or None."""
        ids = list(event.record_ids)
        sf = self.settings.salesforce
        gap = event.change_type in GAP_TYPES or event.change_type == OVERFLOW
        echo = None  # a gap or overflow is a header only: never an echo
        if not gap:
            echo = echo_reason(event, sf.call_options_client, sf.integration_user_id, own_fields)
        if echo is not None:
            work.outcome[row.id] = (EventStatus.SKIPPED, f"echo of Revflow's own write ({echo})")
        elif gap:
            self._recovery(row, event, work)
        elif reached_status(event, self.statuses):
            for qid in ids:
                work.reached.setdefault(qid, []).append(row.id)
        elif event.entity == QUOTE and event.change_type in ("UPDATE", "UNDELETE"):
            for qid in ids:
                work.changed.setdefault(qid, []).append(row.id)
            work.outcome[row.id] = (EventStatus.SKIPPED, NO_TRIGGER_NOTE)
        elif event.entity == LINE and event.change_type != "DELETE":
            parent = event.payload.get("QuoteId")  # in CREATE events; else read
            for lid in ids:
                if isinstance(parent, str):
                    work.changed.setdefault(parent, []).append(row.id)
                else:
                    work.lines.setdefault(lid, []).append(row.id)
            work.outcome[row.id] = (EventStatus.SKIPPED, NO_TRIGGER_NOTE)
        else:
            work.outcome[row.id] = (EventStatus.SKIPPED, NO_TRIGGER_NOTE)
        return echo

    def _recovery(self, row: ReceivedEvent, event: IncomingEvent, work: QuoteWork) -> None:
        ids = list(event.record_ids)
        kind = "overflow" if event.change_type == OVERFLOW else "gap"
        if kind == "overflow" or any("*" in i for i in ids):
            work.recoveries.append(QuoteRecovery(row, kind, "reconciliation query", query=True))
        elif event.change_type == "GAP_DELETE":
            action = f"noted: {event.entity} record(s) deleted; nothing to plan"
            work.recoveries.append(QuoteRecovery(row, kind, action))
        elif event.entity == QUOTE:
            for qid in ids:
                work.reached.setdefault(qid, []).append(row.id)
            action = f"re-read {len(ids)} Quote(s) over REST"
            work.recoveries.append(QuoteRecovery(row, kind, action))
        else:  # lines: their Quotes are re-read, and planned if in a trigger status
            for lid in ids:
                work.lines.setdefault(lid, []).append(row.id)
            action = f"re-read the Quotes of {len(ids)} QuoteLineItem(s)"
            work.recoveries.append(QuoteRecovery(row, kind, action, lines=True))

    # -- before the batch's transaction: Salesforce reads --------------------------------

    async def read(self, work: QuoteWork) -> None:
        """Find the Quotes of changed lines and read the Quotes that may get a plan."""
        await self._overflows(work)
        if work.lines and await self._lines_matter(work):
            parents = await quotes_of_lines(self.client, list(work.lines))
            spend_reads(self.client, len(work.lines))
            recovered = {r.row.id for r in work.recoveries if r.lines}
            for lid, row_ids in work.lines.items():
                qid = parents.get(lid)
                if qid is None:
                    continue
                work.changed.setdefault(qid, []).extend(row_ids)
                if recovered.intersection(row_ids):  # a gap: the Quote may need a plan
                    work.reached.setdefault(qid, []).extend(recovered.intersection(row_ids))
        for row_ids in work.lines.values():  # recovered lines are re-read with their Quote
            for row_id in row_ids:
                work.outcome.setdefault(row_id, (EventStatus.SKIPPED, NO_TRIGGER_NOTE))
        async with self.db.read() as s:
            work.planned = await repository.planned_orders(s, list(work.reached))
        to_read = [q for q in work.reached if q not in work.planned]
        if to_read:
            mappings = self.mappings()
            fields = quote_fields(mappings.values(), self.org_currency)
            work.quotes = await fetch_quotes(self.client, to_read, fields)
            spend_reads(self.client, len(to_read))  # the read gate paced them (``hold``)
            await self.lookups.attach(work.quotes.values(), mappings.values())

    async def _lines_matter(self, work: QuoteWork) -> bool:
        """Line changes only matter to Quote plans waiting for better data, and to
        recoveries: without either, their Quotes are not looked up."""
        if any(r.lines for r in work.recoveries):
            return True
        async with self.db.read() as s:
            return await hold_queries.any_failed_validation(s, QUOTE_KEY_PREFIX, VALIDATE)

    async def _overflows(self, work: QuoteWork) -> None:
        """An overflow (or wildcard gap): the Quotes in a trigger status modified since."""
        skew = timedelta(seconds=self.settings.reconcile.skew_s)
        statuses = ", ".join(soql_string(s) for s in self.statuses)
        for rec in work.recoveries:
            if not rec.query:
                continue
            since = (commit_time(event_of(rec.row)) or utcnow()) - skew
            found: list[str] = []
            where = f"Status IN ({statuses})"
            async for page in scan_modified(self.client, QUOTE, since, where=where):
                found.extend(r["Id"] for r in page)
            for qid in found:
                work.reached.setdefault(qid, []).append(rec.row.id)
            rec.action = (
                f"reconciliation query on Quote SystemModstamp >= {since.isoformat()}: "
                f"{len(found)} Quote(s) checked"
            )

    # -- in the batch's transaction -------------------------------------------------------

    async def store(self, s: AsyncSession, work: QuoteWork) -> int:
        """Create the plans of Quotes that reached a trigger status; set every event's
        outcome and record recoveries as incidents.  Returns the plans created."""
        mappings = self.mappings()
        results: dict[str, Outcome] = {}
        for qid in work.reached:
            if qid in work.planned or await repository.plan_id_of_order(s, qid) is not None:
                results[qid] = (EventStatus.PROCESSED, "plan already exists")
                continue
            quote = work.quotes.get(qid)
            if quote is None:
                results[qid] = (EventStatus.SKIPPED, "quote not found in Salesforce (deleted?)")
            elif quote.get("Status") not in self.statuses:
                results[qid] = (EventStatus.SKIPPED, f"quote is {quote.get('Status')!r} now")
            else:
                draft = decompose(self.definition, quote, mappings)
                await create_plan(s, draft, quote, self.settings.writeback)
                results[qid] = (EventStatus.PROCESSED, None)
                work.created.add(qid)
        for qid, row_ids in work.reached.items():
            for row_id in row_ids:
                work.outcome.setdefault(row_id, results[qid])
        now = utcnow()
        for rec in work.recoveries:
            row = rec.row
            made = sum(1 for q in work.created if row.id in work.reached[q])
            recovery = f"{rec.action}; {made} plan(s) created"
            work.outcome[row.id] = (EventStatus.PROCESSED, f"{rec.kind}: {recovery}")
            s.add(
                Incident(
                    kind=rec.kind,
                    channel=row.channel,
                    entity=row.entity,
                    detail={"change_type": row.change_type, "record_ids": row.record_ids},
                    recovery=recovery,
                    resolved_at=now,
                )
            )
        return len(work.created)

    # -- after the transaction --------------------------------------------------------------

    async def more_work(self, work: QuoteWork) -> bool:
        """After the batch's transaction: retry validation of changed Quotes; whether
        the worker has new work (plans created or retried)."""
        return bool(await self.revalidate(work)) or bool(work.created)

    async def revalidate(self, work: QuoteWork) -> list[int]:
        """Retry validation of changed Quotes whose plans wait for better data."""
        if not work.changed:
            return []

        async def fetch(ids: list[str]) -> Mapping[str, dict[str, Any]]:
            fields = quote_fields(self.mappings().values(), self.org_currency)
            return await fetch_quotes(self.client, ids, fields)

        return await revalidate(
            self.db,
            self.client,
            self.settings,
            self.definition,
            self.mappings,
            work.changed,
            lookups=self.lookups,
            fetch=fetch,
            live=lambda quote: quote.get("Status") in self.statuses,
        )


async def finish_with_quotes(
    quotes: QuoteIntake | None,
    qwork: QuoteWork,
    work: BatchWork,
    s: AsyncSession,
    outcomes: Mapping[str, OrderOutcome],
) -> None:
    """In the batch's transaction: the Quotes' plans, then every event's outcome."""
    if quotes is not None:
        PLANS_CREATED.inc(await quotes.store(s, qwork))
        work.outcome.update(qwork.outcome)
    await finish_batch(work, s, outcomes)

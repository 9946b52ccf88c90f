"""Intake: turn recorded events into plans.

- Reads the inbox in id order, in batches, and never splits a Salesforce transaction
  across batches: when a batch is full the trailing transaction is held back (unless
  it is the only one).  Each transaction's events are handled in sequence order.
- Skips Revflow's own echoes: client tag, integration user, or (``echo_by_fields``)
  an UPDATE of only the write-back and system fields.
- Activated Orders, gap events (re-read the records over REST) and overflow events
  (a reconciliation query over the window) all end in ``create_plans_for_orders``:
  the one path that reads orders (one query per 200), decomposes them and stores the
  plans, in one transaction with marking the events and recording incidents.
- Quote and QuoteLineItem events go to ``quotes`` (``QuoteIntake``), if set; its Quote
  plans are stored in that same transaction.
- Run by ``revflow run`` under the intake lease (``ingest.singleton``): one intake per
  database, and each transaction that stores plans, amendments, cancellations or marks
  events first checks the lease (``singleton.fence``) and fails if it was lost.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
from functools import partial
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from tenacity import RetryCallState, retry_if_exception

from revflow.aio import Beat, no_beat, sleep_beating, sleep_until
from revflow.config import Settings
from revflow.db.database import Database
from revflow.db.models import EventStatus, ReceivedEvent
from revflow.incidents import StandingFailure, is_permanent
from revflow.ingest import singleton
from revflow.ingest.events import (
    GAP_TYPES,
    NO_TRIGGER,
    NO_TRIGGER_NOTE,
    OVERFLOW,
    IncomingEvent,
    echo_note,
    echo_reason,
    is_activation,
)
from revflow.metrics import EVENTS_SKIPPED, PLANS_CREATED
from revflow.orchestration import repository
from revflow.orchestration.amendments import request_amendment
from revflow.orchestration.batches import (
    PLANNED,
    BatchWork,
    OrderOutcome,
    event_of,
    group_transactions,
)
from revflow.orchestration.changes import CANCELLED_STATUSES, is_cancellation, request_cancellation
from revflow.orchestration.planning import plan_orders
from revflow.orchestration.quotes import QuoteIntake, QuoteWork, finish_with_quotes
from revflow.orchestration.read_gate import ReadGate
from revflow.orchestration.recovery import plan_recovery
from revflow.orchestration.revalidate import revalidate
from revflow.plans.decompose import CompiledMapping, PlanDraft, decompose
from revflow.plans.definitions import PlanDefinition
from revflow.plans.retry import forever
from revflow.retrying import forever_until, wait_policy
from revflow.salesforce.client import SalesforceClient
from revflow.salesforce.errors import SalesforceError
from revflow.salesforce.lookups import LookupCache
from revflow.salesforce.orders import fetch_orders, orders_of_items, query_fields
from revflow.salesforce.targets import own_fields

log = logging.getLogger("revflow.intake")
# retries of a failed order read (not an incident): 1 s doubling up to 60 s
READ_BACKOFF = forever(1.0, 60.0, jitter=0.0)

NO_AMENDMENT_CHECK = frozenset({"activation", "sweep"})  # reasons that never re-check plans
READ_INCIDENT = "salesforce:intake:order_read"  # incident key while reads fail permanently


InTransaction = Callable[[AsyncSession, Mapping[str, OrderOutcome]], Awaitable[None]]


class Intake:
    def __init__(
        self,
        db: Database,
        client: SalesforceClient,
        settings: Settings,
        definition: PlanDefinition,
        mappings: Callable[[], Mapping[str, CompiledMapping]],
        *,
        on_plans: Callable[[], Any] | None = None,
    ) -> None:
        self.db = db
        self.client = client
        self.settings = settings
        self.definition = definition
        self.mappings = mappings
        self.on_plans = on_plans
        self.lookups = LookupCache(client)  # records the mappings' record_lookups read
        self.wakeup = asyncio.Event()
        # the intake loop and the reconciler both create plans: one transaction at a time,
        # so the second sees the first's plan instead of failing on the unique key
        self._planning = asyncio.Lock()
        self.skipped: dict[str, int] = {}
        self.org_currency: str | None = None  # a single-currency org's (see org_check)
        self.read_failure = StandingFailure(db, READ_INCIDENT, "reading orders from Salesforce")
        self.quotes: QuoteIntake | None = None  # set when Quotes are orchestrated
        self.read_gate = ReadGate(client, settings)  # paced order reads

    @property
    def own_fields(self) -> frozenset[str]:
        """Write-back fields whose sole change marks an echo (empty when disabled)."""
        if not self.settings.ingest.echo_by_fields:
            return frozenset()
        return own_fields(self.settings.writeback)  # the Order's and the Quote's

    async def run(self, stop: asyncio.Event, beat: Beat = no_beat) -> None:
        """Handle received events until ``stop``: a transient read failure is retried
        (``READ_BACKOFF``, cut short by new events), a permanent one is an incident
        retried every ``incident_retry_s``; other errors end the loop (for a restart)."""
        reading = forever_until(
            stop,
            wait=wait_policy(READ_BACKOFF),
            retry=retry_if_exception(
                lambda e: isinstance(e, SalesforceError) and not is_permanent(e)
            ),
            before_sleep=self._read_failed,
            wake=(self.wakeup,),
        )
        poll_s = self.settings.ingest.poll_interval_s
        while not stop.is_set():
            try:
                done: int | None = await reading(self.process_batch)
            except SalesforceError as exc:  # permanent: an incident, slow retries
                wait_s = self.settings.salesforce.incident_retry_s
                await self.read_failure.failed(exc, wait_s)
                self.wakeup.clear()
                # new events do not cut an incident's wait short: they would fail the same way
                await sleep_beating(wait_s, beat, poll_s, stop)
                continue
            if done is None:  # stopped while retrying
                return
            await self.read_failure.worked()
            beat()
            if done == 0:
                self.wakeup.clear()
                await sleep_until(poll_s, self.wakeup, stop)

    def _read_failed(self, retry: RetryCallState) -> None:
        exc = retry.outcome.exception() if retry.outcome else None
        log.warning(
            "reading orders failed; retrying",
            extra={"error": str(exc), "retry_in_s": retry.upcoming_sleep},
        )
        self.wakeup.clear()  # only events that arrive from now on cut the wait short

    def _skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1
        EVENTS_SKIPPED.labels(reason=reason).inc()

    # ---- the inbox ------------------------------------------------------------------

    async def process_batch(self) -> int:
        """Handle up to one batch of received events; returns how many were handled."""
        limit = self.settings.ingest.batch_size
        async with self.db.read() as s:
            rows = await repository.received_events(s, limit)
        if not rows or self.read_gate.hold(rows, limit):
            return 0
        work = BatchWork()
        quotes = QuoteWork()
        handled = 0
        for txn in group_transactions(rows, full=len(rows) >= limit):
            handled += len(txn)
            for row in txn:
                await self._classify(row, event_of(row), work, quotes)
        if self.quotes is not None:
            await self.quotes.read(quotes)
        await self._amend_planned(work)
        finish = partial(finish_with_quotes, self.quotes, quotes, work)
        await self.create_plans_for_orders(
            list(work.reasons), work.reasons, in_transaction=finish, unplanned=work.unplanned
        )
        if self.quotes is not None and await self.quotes.more_work(quotes) and self.on_plans:
            self.on_plans()  # wake the worker: Quotes' steps are ready
        retried = work.changed and await revalidate(
            self.db,
            self.client,
            self.settings,
            self.definition,
            self.mappings,
            work.changed,
            lookups=self.lookups,
            org_currency=self.org_currency,
        )
        if retried and self.on_plans:
            self.on_plans()
        return handled

    async def _classify(
        self, row: ReceivedEvent, event: IncomingEvent, work: BatchWork, quotes: QuoteWork
    ) -> None:
        if self.quotes is not None and self.quotes.claims(event):
            if (echo := self.quotes.classify(row, event, quotes, self.own_fields)) is not None:
                self._skip(echo)
            return
        if event.change_type in GAP_TYPES or event.change_type == OVERFLOW:
            # header only, so never judged an echo: re-reading is idempotent
            rec = await plan_recovery(self.client, event, self.settings.reconcile.skew_s)
            work.want(rec.order_ids, rec.kind)
            work.recoveries.append((row, rec))
            return
        sf = self.settings.salesforce
        reason = echo_reason(event, sf.call_options_client, sf.integration_user_id, self.own_fields)
        if reason is not None:
            work.outcome[row.id] = (EventStatus.SKIPPED, echo_note(reason))
            self._skip(reason)
        elif event.entity == "OrderItem" and event.change_type == "UPDATE":
            # a line edited on an activated order ("Edit Activated Orders"): an amendment;
            # added or removed lines need the order deactivated, then activated again
            for record_id in event.record_ids:
                work.items.setdefault(record_id, []).append(row.id)
        elif is_activation(event):
            for record_id in event.record_ids:
                work.activated.setdefault(record_id, []).append(row.id)
            work.want(event.record_ids, "activation")
        else:
            if event.entity == "Order" and event.change_type == "UPDATE":
                if await self._order_change(row, event, work):
                    return
                work.changed.update(event.record_ids)
            work.outcome[row.id] = (EventStatus.SKIPPED, NO_TRIGGER_NOTE)
            self._skip(NO_TRIGGER)

    async def _cancel(self, order_id: str, actor: str = "salesforce") -> tuple[str, str]:
        async with self.db.write() as s:
            await singleton.fence(s)
            return await request_cancellation(
                s,
                self.settings.writeback,
                order_id,
                actor,
                partial(self._scenario, "cancellation"),
            )

    async def _order_change(
        self, row: ReceivedEvent, event: IncomingEvent, work: BatchWork
    ) -> bool:
        """An in-flight change of an Order (see ``changes``); False if it is none."""
        if not is_cancellation(event):
            return False
        results = [
            await self._cancel(oid, event.commit_user or "salesforce") for oid in event.record_ids
        ]
        status = next(
            (st for st, _ in results if st == EventStatus.DEFERRED), EventStatus.PROCESSED
        )
        work.outcome[row.id] = (status, "; ".join(note for _, note in results) or None)
        if self.on_plans:
            self.on_plans()  # wake the worker: compensations may be due
        return True

    async def _amend_planned(self, work: BatchWork) -> None:
        """Activated again with a plan in place (deactivated, lines edited, activated),
        or a line edited on an activated order: compare the order as it is now with
        the plan (see ``amendments``)."""
        rows: dict[str, list[int]] = {}
        if work.items:
            parents = await orders_of_items(self.client, list(work.items))
            for item_id, row_ids in work.items.items():
                order_id = parents.get(item_id)
                if order_id is None:
                    for row_id in row_ids:
                        work.outcome[row_id] = (EventStatus.SKIPPED, "order line not found")
                else:
                    rows.setdefault(order_id, []).extend(row_ids)
        activated = await self._planned(list(work.activated))
        work.unplanned = set(work.activated) - activated
        for order_id in activated:
            rows.setdefault(order_id, []).extend(work.activated.pop(order_id))
            work.reasons.pop(order_id, None)
        planned = sorted(activated | await self._planned([o for o in rows if o not in activated]))
        for order_id in set(rows) - set(planned):  # lines of orders not planned (yet)
            for row_id in rows.pop(order_id):
                work.outcome[row_id] = (
                    EventStatus.SKIPPED,
                    "order line of an order without a plan",
                )
        results = await self.amend_orders(planned)
        for oid, result in results.items():
            for row_id in rows[oid]:
                work.outcome[row_id] = result

    async def amend_orders(self, order_ids: list[str]) -> dict[str, tuple[str, str | None]]:
        """Read planned orders and compare each with its plan (``request_amendment``);
        the status and note for each order's events."""
        if not order_ids:
            return {}
        fields = query_fields(self.mappings().values(), self.org_currency)
        orders = await fetch_orders(self.client, order_ids, fields)
        self.read_gate.spent(len(order_ids))
        mappings = self.mappings()
        await self.lookups.attach(orders.values(), mappings.values())
        results: dict[str, tuple[str, str | None]] = {}
        woke = False
        for oid in order_ids:
            order = orders.get(oid)
            if order is not None and order.get("Status") in CANCELLED_STATUSES:
                results[oid] = await self._cancel(oid)  # its cancellation event was lost
                woke = True
                continue
            if order is None or order.get("Status") != "Activated":
                results[oid] = (EventStatus.SKIPPED, "amendment: the order is not Activated now")
                continue
            draft = decompose(self.definition, order, mappings)
            scenario = self._scenario("amendment", order)
            async with self.db.write() as s:
                await singleton.fence(s)
                results[oid] = await request_amendment(
                    s, self.settings.writeback, order, draft, "salesforce", scenario
                )
            woke = woke or results[oid][0] == EventStatus.PROCESSED
        if woke and self.on_plans:
            self.on_plans()  # wake the worker: re-runs or compensations may be due
        return results

    def _scenario(self, name: str, order: dict[str, Any]) -> PlanDraft | None:
        """The order decomposed for the plan definition's ``name`` scenario, if it has one."""
        if name not in self.definition.scenarios:
            return None
        return decompose(self.definition, order, self.mappings(), scenario=name)

    # ---- the one plan-creation path -------------------------------------------------

    async def create_plans_for_orders(
        self,
        ids: Iterable[str],
        reason: str | Mapping[str, str],
        *,
        in_transaction: InTransaction | None = None,
        unplanned: Collection[str] = (),
    ) -> dict[str, OrderOutcome]:
        """Create a plan for each of ``ids`` that is Activated now and has none.

        Orders already planned are not read; the rest are read over REST and their
        current state is the truth.  ``reason`` (one, or per order id) says why:
        ``activation`` or a recovery (gap, overflow, sweep, ...), which is audited.
        ``in_transaction`` runs in the same transaction as the plans.  ``unplanned``:
        orders just found without a plan, not looked up again (the plans' transaction
        checks once more).
        """
        unique = list(dict.fromkeys(ids))
        if not unique and in_transaction is None:
            return {}
        planned = await self._planned([i for i in unique if i not in unplanned])

        # a recovery (gap, overflow, expired replay id, polling) may stand for an
        # amendment whose event was lost: planned orders it names are compared too; the
        # periodic sweep is left out (Revflow's own write-backs touch every open order)
        def why_for(oid: str) -> str:
            return reason if isinstance(reason, str) else reason.get(oid, "activation")

        recovered = [
            oid for oid in unique if oid in planned and why_for(oid) not in NO_AMENDMENT_CHECK
        ]
        await self.amend_orders(recovered)
        to_read = [i for i in unique if i not in planned]
        fields = query_fields(self.mappings().values(), self.org_currency)
        orders = await fetch_orders(self.client, to_read, fields) if to_read else {}
        self.read_gate.spent(len(to_read))
        for oid, order in orders.items():  # cancelled before it was planned: its
            if order.get("Status") in CANCELLED_STATUSES:  # cancellation event may be lost
                await self._cancel(oid)
        mappings = self.mappings()
        await self.lookups.attach(orders.values(), mappings.values())
        async with self._planning, self.db.write() as s:
            # first: the lease row stays locked until the commit (see ``singleton``)
            await singleton.fence(s)
            to_plan = [oid for oid in unique if oid not in planned]
            made = await plan_orders(
                s, to_plan, orders, why_for, self.definition, mappings, self.settings
            )
            outcomes = {oid: made.get(oid, PLANNED) for oid in unique}
            if in_transaction is not None:
                await in_transaction(s, outcomes)
        created = sum(o.created for o in outcomes.values())
        if created:
            PLANS_CREATED.inc(created)
            if self.on_plans:
                self.on_plans()
        return outcomes

    async def _planned(self, ids: list[str]) -> set[str]:
        async with self.db.read() as s:
            return await repository.planned_orders(s, ids)

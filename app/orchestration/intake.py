"""Intake: turn recorded events into plans.

Reads the inbox in order, skips Revflow's own echoes, and for every Order that was
activated reads the order (one query per 200 orders), decomposes it with the
mappings and stores the plan, all in one transaction with marking the events done.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import select, update

from app.aio import sleep_until
from app.clock import utcnow
from app.config import Settings
from app.db.database import Database
from app.db.models import EventStatus, ReceivedEvent
from app.ingest.events import IncomingEvent, is_activation, is_echo
from app.metrics import EVENTS_SKIPPED, PLANS_CREATED
from app.orchestration.decompose import CompiledMapping, decompose
from app.orchestration.definitions import PlanDefinition
from app.orchestration.plans import create_plan, plan_exists
from app.salesforce.client import SalesforceClient
from app.salesforce.errors import SalesforceError
from app.salesforce.orders import fetch_orders

log = logging.getLogger("revflow.intake")


def _event(row: ReceivedEvent) -> IncomingEvent:
    header = row.payload.get("ChangeEventHeader") or {}
    return IncomingEvent(
        channel=row.channel,
        replay_id=row.replay_id,
        dedupe_key=row.dedupe_key,
        payload=row.payload,
        entity=row.entity,
        change_type=row.change_type,
        record_ids=tuple(row.record_ids or ()),
        transaction_key=row.transaction_key,
        sequence_number=row.sequence_number,
        change_origin=str(header.get("changeOrigin") or ""),
        commit_user=header.get("commitUser"),
        changed_fields=tuple(header.get("changedFields") or ()),
    )


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
        self.wakeup = asyncio.Event()
        self.skipped: dict[str, int] = {}

    async def run(self, stop: asyncio.Event) -> None:
        backoff = 0.0
        while not stop.is_set():
            try:
                done = await self.process_batch()
                backoff = 0.0
            except SalesforceError as exc:
                backoff = min(max(backoff * 2, 1.0), 60.0)
                log.warning(
                    "reading orders failed; retrying",
                    extra={"error": str(exc), "retry_in_s": backoff},
                )
                done = 0
            except Exception:
                backoff = min(max(backoff * 2, 1.0), 60.0)
                log.exception("intake failed")
                done = 0
            if done == 0 or backoff:
                self.wakeup.clear()
                await sleep_until(
                    backoff or self.settings.ingest.poll_interval_s, self.wakeup, stop
                )

    def _skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1
        EVENTS_SKIPPED.labels(reason=reason).inc()

    async def process_batch(self) -> int:
        """Handle up to one batch of received events; returns how many were handled."""
        async with self.db.read() as s:
            rows = list(
                (
                    await s.scalars(
                        select(ReceivedEvent)
                        .where(ReceivedEvent.status == EventStatus.RECEIVED)
                        .order_by(ReceivedEvent.id)
                        .limit(self.settings.ingest.batch_size)
                    )
                ).all()
            )
        if not rows:
            return 0
        sf = self.settings.salesforce
        outcome: dict[int, tuple[str, str | None]] = {}
        activated: dict[str, list[int]] = {}
        for row in rows:
            event = _event(row)
            if is_echo(event, sf.call_options_client, sf.integration_user_id):
                outcome[row.id] = (EventStatus.SKIPPED, "echo of Revflow's own write")
                self._skip("echo")
            elif is_activation(event):
                for record_id in event.record_ids:
                    activated.setdefault(record_id, []).append(row.id)
            else:
                outcome[row.id] = (EventStatus.SKIPPED, "no trigger")
                self._skip("no_trigger")
        orders = await fetch_orders(self.client, list(activated)) if activated else {}
        mappings = self.mappings()
        created = 0
        async with self.db.write() as s:
            for order_id, row_ids in activated.items():
                order = orders.get(order_id)
                status: str
                note: str | None
                if order is None:
                    note, status = "order not found in Salesforce (deleted?)", EventStatus.SKIPPED
                elif order.get("Status") != "Activated":
                    note, status = f"order is {order.get('Status')!r} now", EventStatus.SKIPPED
                elif await plan_exists(s, order_id, "new"):
                    note, status = "plan already exists", EventStatus.PROCESSED
                else:
                    draft = decompose(self.definition, order, mappings)
                    await create_plan(s, draft, order, self.settings.writeback)
                    created += 1
                    note, status = None, EventStatus.PROCESSED
                for row_id in row_ids:
                    outcome.setdefault(row_id, (status, note))
            now = utcnow()
            groups: dict[tuple[str, str | None], list[int]] = {}
            for event_id, result in outcome.items():
                groups.setdefault(result, []).append(event_id)
            for (new_status, text), ids in groups.items():
                await s.execute(
                    update(ReceivedEvent)
                    .where(ReceivedEvent.id.in_(ids))
                    .values(status=new_status, note=text, processed_at=now)
                )
        if created:
            PLANS_CREATED.inc(created)
            if self.on_plans:
                self.on_plans()
        return len(rows)

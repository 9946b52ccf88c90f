"""The delivery loop: claims due alert messages with a lease, sends them, retries.

Each round (1) tells the next level of alerts whose escalation is due, (2) claims
due deliveries in one transaction (``FOR UPDATE SKIP LOCKED`` on PostgreSQL) and
leases them, (3) sends them outside any transaction, and (4) records each outcome
if the lease is still held.  A crash between (2) and (4) leaves the lease to expire:
the message goes out again (at least once; a message is never lost).

Retryable failures wait ``initial_interval_s * coefficient^n`` (capped, jittered)
up to ``max_attempts``; permanent ones fail at once.  Runs under the supervisor as
the ``alerts`` loop.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from revflow.aio import Beat, no_beat, sleep_until
from revflow.alerts import repository, service
from revflow.alerts.channels.base import Channel, Recipient, RecipientKind
from revflow.alerts.compose import digest_message, message_for
from revflow.alerts.errors import PermanentDeliveryError, RetryableDeliveryError
from revflow.alerts.hooks import loop_down
from revflow.alerts.message import AlertMessage, EventKind
from revflow.alerts.owners import OrgOwners
from revflow.alerts.runtime import AlertRuntime, current
from revflow.alerts.settings import AlertSettings
from revflow.clock import utcnow
from revflow.db.database import Database
from revflow.db.models import AlertDelivery, AlertState, DeliveryState
from revflow.metrics import ALERT_DELIVERIES, ALERT_DELIVERIES_PENDING
from revflow.plans.retry import RetryPolicy
from revflow.supervisor import LoopHealth

log = logging.getLogger("revflow.alerts")


@dataclass(frozen=True)
class _Job:
    """One message to send: one delivery, or several a digest sends as one."""

    delivery_ids: tuple[int, ...]
    channel: str
    attempt: int
    recipient: Recipient
    order_id: str | None
    message: AlertMessage | None  # None: the alert was resolved, cancel


class Loops(Protocol):
    """What the delivery loop reads of the supervisor (``revflow.supervisor``)."""

    @property
    def names(self) -> list[str]: ...
    @property
    def clock(self) -> Callable[[], float]: ...

    def health(self, name: str) -> LoopHealth: ...


class AlertDeliverer:
    def __init__(
        self,
        db: Database,
        channels: Mapping[str, Channel],
        settings: AlertSettings,
        owners: OrgOwners | None = None,
        runtime: AlertRuntime | None = None,
        loops: Loops | None = None,
    ) -> None:
        """``loops``: the supervisor, whose loops that stay down raise loop_down alerts."""
        self.db = db
        self.channels = dict(channels)
        self.settings = settings
        self.owners = owners
        self._runtime = runtime
        self.owner = f"alerts-{uuid.uuid4().hex[:12]}"
        self.policy = RetryPolicy(
            initial_interval_s=settings.initial_interval_s,
            backoff_coefficient=settings.backoff_coefficient,
            maximum_interval_s=settings.maximum_interval_s,
            maximum_attempts=settings.max_attempts,
        )
        self.rng = random.Random()
        self.wakeup = asyncio.Event()
        self.loops = loops
        self._down: set[str] = set()  # loops this process has a loop_down alert raised for

    @property
    def runtime(self) -> AlertRuntime | None:
        return self._runtime or current()

    async def run(self, stop: asyncio.Event, beat: Beat = no_beat) -> None:
        while not stop.is_set():
            busy = await self.tick()
            beat()
            if not busy:
                self.wakeup.clear()
                await sleep_until(self.settings.poll_interval_s, stop, self.wakeup)

    async def tick(self) -> int:
        """One round: escalations, then a batch of deliveries; how much was done."""
        runtime = self.runtime
        escalated = 0
        if runtime is not None:
            await self._watch_loops(runtime)
            async with self.db.write() as s:
                escalated = await service.escalate_due(
                    s, runtime, utcnow(), self.settings.batch_size, lock=not self.db.is_sqlite
                )
        jobs = await self._claim(runtime)
        if jobs:
            await asyncio.gather(*(self._deliver(job) for job in jobs))
        return escalated + len(jobs)

    async def _watch_loops(self, runtime: AlertRuntime) -> None:
        """Raise loop_down for loops failing past ``loop_down_after_s``; resolve on recovery."""
        if self.loops is None or EventKind.LOOP_DOWN not in runtime.rules.kinds:
            return
        now = self.loops.clock()
        down: dict[str, LoopHealth] = {}
        for name in self.loops.names:
            health = self.loops.health(name)
            since = health.down_since
            failing = health.state == "restarting" and since is not None
            if failing and now - (since or now) >= self.settings.loop_down_after_s:
                down[name] = health
        new, back = set(down) - self._down, self._down - set(down)
        if not new and not back:
            return
        async with self.db.write() as s:
            for name in sorted(new):
                h = down[name]
                await service.raise_alert(s, loop_down(name, h.cause, now - (h.down_since or now)))
            for name in sorted(back):
                await service.resolve_subject(
                    s, EventKind.LOOP_DOWN.value, f"loop:{name}", actor="revflow"
                )
        self._down = set(down)

    async def _claim(self, runtime: AlertRuntime | None) -> list[_Job]:
        now = utcnow()
        async with self.db.write() as s:
            rows = await repository.due_deliveries(
                s, now, self.settings.batch_size, lock=not self.db.is_sqlite
            )
            ALERT_DELIVERIES_PENDING.set(len(rows))
            if not rows:
                return []
            until = now + timedelta(seconds=self.settings.lease_s)
            await repository.lease(s, [r.id for r in rows], self.owner, until)
            alerts = await repository.alerts_by_id(s, {r.alert_id for r in rows})
        jobs: list[_Job] = []
        digests: dict[tuple[object, ...], list[tuple[AlertDelivery, AlertMessage]]] = {}
        for r in rows:
            alert = alerts[r.alert_id]
            if alert.state == AlertState.RESOLVED:
                message = None
            else:
                message = message_for(alert, runtime, time.time())
                key = _digest_key(runtime, alert.rule, r)
                if key is not None:
                    digests.setdefault(key, []).append((r, message))
                    continue
            recipient = _recipient(r)
            jobs.append(
                _Job((r.id,), r.channel, r.attempts + 1, recipient, alert.order_id, message)
            )
        for group in digests.values():
            first = group[0][0]
            jobs.append(
                _Job(
                    tuple(r.id for r, _m in group),
                    first.channel,
                    max(r.attempts for r, _m in group) + 1,
                    _recipient(first),
                    alerts[first.alert_id].order_id,
                    digest_message([m for _r, m in group]),
                )
            )
        return jobs

    async def _deliver(self, job: _Job) -> None:
        values: dict[str, object]
        outcome = "sent"
        if job.message is None:
            values = {"state": DeliveryState.CANCELLED, "error": "the alert was resolved"}
            outcome = "cancelled"
        else:
            try:
                await self._send(job, job.message)
                values = {"state": DeliveryState.SENT, "sent_at": utcnow(), "error": None}
            except PermanentDeliveryError as exc:
                values, outcome = {"state": DeliveryState.FAILED, "error": str(exc)}, "failed"
            except Exception as exc:  # retryable, or an unexpected error: try again
                retry_after = getattr(exc, "retry_after_s", None)
                delay = self.policy.next_delay(job.attempt, retry_after, self.rng)
                error = _describe(exc)
                if delay is None:
                    values, outcome = {"state": DeliveryState.FAILED, "error": error}, "failed"
                else:
                    due = utcnow() + timedelta(seconds=delay)
                    values, outcome = {"due_at": due, "error": error}, "retry"
            values["attempts"] = job.attempt
        async with self.db.write() as s:
            kept = all(
                [await repository.finish(s, i, self.owner, **values) for i in job.delivery_ids]
            )
        ALERT_DELIVERIES.labels(channel=job.channel, outcome=outcome).inc()
        level = logging.INFO if outcome in ("sent", "cancelled") else logging.WARNING
        log.log(
            level,
            f"alert message {outcome}",
            extra={
                "delivery_ids": list(job.delivery_ids),
                "channel": job.channel,
                "attempt": job.attempt,
                "error": values.get("error"),
                "lease_kept": kept,
            },
        )

    async def _send(self, job: _Job, message: AlertMessage) -> None:
        channel = self.channels.get(job.channel)
        if channel is None:
            raise PermanentDeliveryError(f"channel {job.channel!r} is not configured")
        recipient = job.recipient
        if recipient.kind is RecipientKind.OWNER:
            if self.owners is None:
                raise PermanentDeliveryError("no Salesforce org to find the order's owner in")
            found = await self.owners.owner(job.order_id, recipient.salesforce_user_id)
            recipient = Recipient(
                RecipientKind.OWNER,
                found.name,
                email=found.email,
                salesforce_user_id=found.salesforce_user_id,
                address=recipient.address,
            )
        await channel.send(message, recipient)


def _digest_key(
    runtime: AlertRuntime | None, rule_name: str, row: AlertDelivery
) -> tuple[object, ...] | None:
    """Deliveries with the same key go out as one digest; None: on their own.

    Only first messages of a rule with a digest; an owner only with the owner's id
    known (two orders may have two owners)."""
    rule = runtime.rules.rule(rule_name) if runtime is not None else None
    if rule is None or not rule.digest_s or row.level != 0:
        return None
    if row.recipient_kind == RecipientKind.OWNER.value and not row.salesforce_user_id:
        return None
    return (
        rule_name,
        row.channel,
        row.recipient_kind,
        row.recipient_name,
        row.email,
        row.salesforce_user_id,
        row.address,
    )


def _recipient(row: AlertDelivery) -> Recipient:
    return Recipient(
        RecipientKind(row.recipient_kind),
        row.recipient_name,
        email=row.email,
        salesforce_user_id=row.salesforce_user_id,
        address=row.address,
    )


def _describe(exc: Exception) -> str:
    if isinstance(exc, RetryableDeliveryError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"

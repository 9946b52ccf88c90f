"""Raising, escalating, acknowledging and resolving alerts, in the caller's transaction.

    await raise_alert(s, AlertEvent(EventKind.STEP_FALLOUT, f"plan:{id}", ...))
    await acknowledge(s, alert_id, actor="user:ada")   # no more escalation
    await resolve(s, alert_id, actor="user:ada")       # closed; pending messages cancelled

An alert is recorded in the same transaction as the state change that causes it,
with one delivery row per recipient and channel of the rule's first level; the
delivery loop (``revflow.alerts.delivery``) sends them.  One alert is open per rule
and subject: a repeat counts (``count``, ``last_seen_at``) instead of telling anyone
again.  With no rule for an event's kind, ``raise_alert`` returns at once.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from revflow import audit
from revflow.alerts import repository
from revflow.alerts.channels.base import RecipientKind
from revflow.alerts.events import AlertEvent, account_name, order_number, order_value
from revflow.alerts.message import EventKind
from revflow.alerts.rules import Level, Rule, RuleSet
from revflow.alerts.runtime import AlertRuntime, current
from revflow.clock import utcnow
from revflow.db.models import Alert, AlertDelivery, AlertState
from revflow.metrics import ALERTS_RAISED

log = logging.getLogger("revflow.alerts")


class AlertNotFound(LookupError):
    pass


class AlertStateError(ValueError):
    """The alert is not in a state that allows the action (e.g. resolved already)."""


async def raise_alert(s: AsyncSession, event: AlertEvent) -> list[Alert]:
    """Record ``event`` for every rule it matches; the alerts opened or updated."""
    return await raise_alerts(s, [event])


async def raise_alerts(
    s: AsyncSession, events: Iterable[AlertEvent], runtime: AlertRuntime | None = None
) -> list[Alert]:
    runtime = runtime or current()
    if runtime is None:
        return []
    kinds = runtime.rules.kinds
    out: list[Alert] = []
    for event in events:
        if event.kind not in kinds:
            continue
        if event.plan_id is not None and event.order is None:
            definition, order = await repository.plan_order(s, event.plan_id)
            event = replace(event, order=order, plan_definition=event.plan_definition or definition)
        for rule in runtime.rules.matching(event):
            out.append(await _record(s, runtime.rules, rule, event))
    return out


_DEFERRED = "revflow.alerts.deferred"
_RECOVERED = "revflow.alerts.recovered"


def defer_alert(s: AsyncSession, event: AlertEvent | None) -> None:
    """``raise_alert`` for code that cannot await: kept on the session until the async
    caller calls ``raise_deferred`` in the same transaction (nothing without a rule)."""
    runtime = current()
    if event is None or runtime is None or event.kind not in runtime.rules.kinds:
        return
    s.info.setdefault(_DEFERRED, []).append(event)


def defer_plan_recovered(s: AsyncSession, plan_id: int) -> None:
    """The plan left on hold: its open fallout alerts resolve (by ``raise_deferred``)."""
    if current() is not None:
        s.info.setdefault(_RECOVERED, set()).add(plan_id)


async def raise_deferred(s: AsyncSession) -> list[Alert]:
    """Raise what ``defer_alert`` kept on this session; resolve recovered plans' fallout."""
    for plan_id in sorted(s.info.pop(_RECOVERED, ())):
        await resolve_for_plan(s, plan_id, [EventKind.STEP_FALLOUT.value], actor="revflow")
    events = s.info.pop(_DEFERRED, None)
    return await raise_alerts(s, events) if events else []


async def _record(s: AsyncSession, rules: RuleSet, rule: Rule, event: AlertEvent) -> Alert:
    key = f"{rule.name}|{event.subject}"
    now = utcnow()
    row = await repository.open_alert(s, key)
    if row is not None:
        _repeat(row, event, now)
        return row
    throttled = False
    if rule.throttle is not None:
        since = now - timedelta(seconds=rule.throttle.per_s)
        throttled = await repository.opened_since(s, rule.name, since) >= rule.throttle.count
    row = Alert(
        rule=rule.name,
        kind=event.kind.value,
        subject=event.subject,
        open_key=key,
        state=AlertState.OPEN,
        severity=(event.severity or rule.severity).value,
        title=_title(event),
        summary=event.summary,
        plan_id=event.plan_id,
        order_id=event.order_id,
        step=event.step,
        error_class=event.error_class,
        error_message=event.error_message,
        detail=_detail(event, rules),
        count=1,
        level=0,
        next_escalation_at=_escalation_at(rule, 0, now) if not throttled else None,
        throttled=throttled,
        created_at=now,
        last_seen_at=now,
    )
    try:
        if s.get_bind().dialect.name == "sqlite":
            # one writer at a time holds the file; and pysqlite's SAVEPOINT would
            # commit the caller's transaction on release
            s.add(row)
            await s.flush()
        else:
            async with s.begin_nested():  # another transaction may open the same alert
                s.add(row)
                await s.flush()
    except IntegrityError:
        existing = await repository.open_alert(s, key)
        if existing is None:
            raise
        _repeat(existing, event, now)
        return existing
    if not throttled:
        add_deliveries(s, rules, row, rule.levels[0], 0, due=digest_due(rule, now))
    ALERTS_RAISED.labels(rule=rule.name, kind=event.kind.value).inc()
    log.info(
        "alert raised",
        extra={
            "alert_id": row.id,
            "rule": rule.name,
            "subject": event.subject,
            "throttled": throttled,
        },
    )
    return row


def _title(event: AlertEvent) -> str:
    label = order_number(event.order) or event.order_id or "?"
    return event.title.replace("{order}", label)


def _repeat(row: Alert, event: AlertEvent, now: datetime) -> None:
    row.count = (row.count or 1) + 1
    row.last_seen_at = now
    if event.error_message:
        row.error_message = event.error_message
        row.error_class = event.error_class or row.error_class


def _escalation_at(rule: Rule, level: int, opened: datetime) -> datetime | None:
    nxt = rule.level(level + 1)
    return opened + timedelta(seconds=nxt.after_s) if nxt is not None else None


def _detail(event: AlertEvent, rules: RuleSet) -> dict[str, Any]:
    order = event.order
    detail = {
        "order_number": order_number(order),
        "account": account_name(order),
        "owner_id": order_value(order, "OwnerId"),
        "connector": event.connector,
        "plan_definition": event.plan_definition,
        "amount": order_value(order, rules.amount_field),
    }
    return {k: v for k, v in detail.items() if v not in (None, "")}


def digest_due(rule: Rule, now: datetime) -> datetime:
    """When a first message of ``rule`` goes out: now, or its next digest time."""
    if not rule.digest_s:
        return now
    period = rule.digest_s
    return datetime.fromtimestamp((now.timestamp() // period + 1) * period, tz=UTC)


def add_deliveries(
    s: AsyncSession,
    rules: RuleSet,
    alert: Alert,
    level: Level,
    n: int,
    *,
    due: datetime | None = None,
) -> int:
    """One delivery per recipient and channel of ``level`` (due at ``due``, default
    now); how many were added."""
    added = 0
    for target in level.targets:
        for channel in target.channels:
            s.add(
                AlertDelivery(
                    alert_id=alert.id,
                    level=n,
                    channel=channel,
                    due_at=due or utcnow(),
                    **_recipient(rules, alert, target.to, target.name, channel),
                )
            )
            added += 1
    return added


def _recipient(
    rules: RuleSet, alert: Alert, kind: RecipientKind, name: str | None, channel: str
) -> Mapping[str, Any]:
    if kind is RecipientKind.OWNER:
        return {
            "recipient_kind": kind.value,
            "recipient_name": "owner",
            "salesforce_user_id": (alert.detail or {}).get("owner_id"),
            "address": alert.order_id if channel == "chatter" else None,
        }
    if kind is RecipientKind.USER:
        return {"recipient_kind": kind.value, "recipient_name": name or "", "email": name}
    team = rules.on_call if kind is RecipientKind.ON_CALL else rules.teams.get(name or "")
    addresses = dict(team.addresses) if team is not None else {}
    return {
        "recipient_kind": kind.value,
        "recipient_name": name or kind.value,
        "email": addresses.get("email"),
        "address": addresses.get(channel) if channel != "email" else None,
    }


async def escalate_due(
    s: AsyncSession, runtime: AlertRuntime, now: datetime, limit: int, *, lock: bool
) -> int:
    """Tell the next level of every open alert whose escalation is due; how many."""
    done = 0
    for alert in await repository.due_escalations(s, now, limit, lock=lock):
        rule = runtime.rules.rule(alert.rule)
        nxt = rule.level(alert.level + 1) if rule is not None else None
        if rule is None or nxt is None:
            alert.next_escalation_at = None  # the rule changed: nobody left to tell
            continue
        alert.level += 1
        add_deliveries(s, runtime.rules, alert, nxt, alert.level)
        alert.next_escalation_at = _escalation_at(rule, alert.level, alert.created_at)
        audit.record(
            s,
            "alerts",
            "alert.escalated",
            plan_id=alert.plan_id,
            order_id=alert.order_id,
            alert_id=alert.id,
            level=alert.level,
        )
        done += 1
    return done


async def acknowledge(s: AsyncSession, alert_id: int, actor: str) -> Alert:
    """Someone is on it: escalation stops (messages already due still go out)."""
    alert = await _get(s, alert_id)
    if alert.state == AlertState.RESOLVED:
        raise AlertStateError(f"alert {alert_id} is resolved already")
    if alert.state == AlertState.OPEN:
        alert.state = AlertState.ACKNOWLEDGED
        alert.acknowledged_at = utcnow()
        alert.acknowledged_by = actor
        alert.next_escalation_at = None
        audit.record(
            s,
            actor,
            "alert.acknowledged",
            plan_id=alert.plan_id,
            order_id=alert.order_id,
            alert_id=alert.id,
            rule=alert.rule,
        )
    return alert


async def resolve(s: AsyncSession, alert_id: int, actor: str) -> Alert:
    """Close the alert: messages not sent yet are cancelled; a new occurrence opens anew."""
    alert = await _get(s, alert_id)
    if alert.state == AlertState.RESOLVED:
        return alert
    _close(alert, actor)
    await repository.cancel_pending(s, alert.id, f"alert resolved by {actor}")
    audit.record(
        s,
        actor,
        "alert.resolved",
        plan_id=alert.plan_id,
        order_id=alert.order_id,
        alert_id=alert.id,
        rule=alert.rule,
    )
    return alert


def _close(alert: Alert, actor: str) -> None:
    alert.state = AlertState.RESOLVED
    alert.resolved_at = utcnow()
    alert.resolved_by = actor
    alert.open_key = None
    alert.next_escalation_at = None


async def resolve_for_plan(s: AsyncSession, plan_id: int, kinds: Iterable[str], actor: str) -> int:
    """Resolve a plan's open alerts of ``kinds`` (its fallout was dealt with)."""
    alerts = await repository.open_alerts_of_plan(s, plan_id, list(kinds))
    for alert in alerts:
        _close(alert, actor)
        await repository.cancel_pending(s, alert.id, "the plan is no longer on hold")
    return len(alerts)


async def resolve_subject(s: AsyncSession, kind: str, subject: str, actor: str) -> int:
    """Resolve the open alerts of ``kind`` about ``subject`` (the condition went away)."""
    alerts = await repository.open_alerts_of_subject(s, kind, subject)
    for alert in alerts:
        _close(alert, actor)
        await repository.cancel_pending(s, alert.id, "the condition went away")
    return len(alerts)


async def _get(s: AsyncSession, alert_id: int) -> Alert:
    alert = await repository.get(s, alert_id, lock=s.get_bind().dialect.name != "sqlite")
    if alert is None:
        raise AlertNotFound(f"no alert {alert_id}")
    return alert

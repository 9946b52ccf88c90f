"""The alert history page's filters, pages and rows, from plain values: pure (no I/O)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlencode

from revflow.alerts.message import EventKind, Severity
from revflow.clock import aware
from revflow.console.redact import redact
from revflow.db.models import Alert, AlertDelivery, AlertState

PAGE_SIZE = 25
STATES = tuple(s.value for s in AlertState)
KINDS = tuple(k.value for k in EventKind)
SEVERITIES = tuple(s.value for s in Severity)


class FilterError(ValueError):
    """A filter value the page does not know: shown with the page, status 400."""


@dataclass(frozen=True)
class Filters:
    state: str | None = None
    kind: str | None = None
    severity: str | None = None
    plan: int | None = None
    page: int = 1

    @property
    def offset(self) -> int:
        return (self.page - 1) * PAGE_SIZE

    def query(self, **change: object) -> str:
        """The query string of these filters with ``change`` applied (page links)."""
        values: dict[str, object] = {
            "state": self.state,
            "kind": self.kind,
            "severity": self.severity,
            "plan": self.plan,
            "page": self.page,
        }
        values.update(change)
        if values["page"] == 1:
            values["page"] = None
        return urlencode({k: v for k, v in values.items() if v not in (None, "")})


def _choice(name: str, value: str, allowed: Sequence[str]) -> str | None:
    if not value:
        return None
    if value not in allowed:
        raise FilterError(f"{name} must be one of {', '.join(allowed)}, not {value[:40]!r}")
    return value


def _number(name: str, value: str, low: int) -> int | None:
    if not value:
        return None
    if not value.isdigit() or not low <= int(value) < 2**31:
        raise FilterError(f"{name} must be a whole number from {low}, not {value[:40]!r}")
    return int(value)


def parse_filters(state: str, kind: str, severity: str, plan: str, page: str) -> Filters:
    """The page's query parameters checked; FilterError names the one that is wrong."""
    return Filters(
        state=_choice("state", state, STATES),
        kind=_choice("kind", kind, KINDS),
        severity=_choice("severity", severity, SEVERITIES),
        plan=_number("plan", plan, 1),
        page=_number("page", page, 1) or 1,
    )


@dataclass(frozen=True)
class DeliveryView:
    channel: str
    recipient: str
    state: str
    attempts: int
    level: int
    sent_at: datetime | None
    error: str | None  # redacted


@dataclass(frozen=True)
class AlertView:
    id: int
    rule: str
    kind: str
    severity: str
    state: str
    title: str
    summary: str
    subject: str
    plan_id: int | None
    order_id: str | None
    step: str | None
    count: int
    first_seen: datetime
    last_seen: datetime
    acknowledged_by: str | None
    resolved_by: str | None
    next_escalation_at: datetime | None
    deliveries: list[DeliveryView]

    @property
    def can_acknowledge(self) -> bool:
        return self.state == AlertState.OPEN

    @property
    def can_resolve(self) -> bool:
        return self.state != AlertState.RESOLVED


def recipient(d: AlertDelivery) -> str:
    """Who a message went to, as the page says it."""
    to = d.email or d.address or d.salesforce_user_id or ""
    name = d.recipient_name or d.recipient_kind
    return f"{name} <{to}>" if to and to != name else name


def delivery_view(d: AlertDelivery) -> DeliveryView:
    error = redact(d.error) if d.error else None
    return DeliveryView(
        d.channel, recipient(d), d.state, d.attempts, d.level, aware(d.sent_at), error
    )


def alert_view(a: Alert, deliveries: Sequence[AlertDelivery]) -> AlertView:
    return AlertView(
        id=a.id,
        rule=a.rule,
        kind=a.kind,
        severity=a.severity,
        state=a.state,
        title=a.title,
        summary=redact(a.summary),
        subject=a.subject,
        plan_id=a.plan_id,
        order_id=a.order_id,
        step=a.step,
        count=a.count,
        first_seen=aware(a.created_at),
        last_seen=aware(a.last_seen_at),
        acknowledged_by=a.acknowledged_by,
        resolved_by=a.resolved_by,
        next_escalation_at=aware(a.next_escalation_at),
        deliveries=[delivery_view(d) for d in deliveries],
    )


def pages(total: int) -> int:
    return max(1, -(-total // PAGE_SIZE))

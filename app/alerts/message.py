"""What an alert says, as plain data every channel renders its own way.

Every message answers four questions: what happened (``title``, ``summary``), to
which order (``order_id``, ``order_number``, ``account``), why (``error_class``,
``error_message``), and where to fix it (``plan_url``; ``ack_url`` acknowledges it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class EventKind(StrEnum):
    """The kinds of event an alert rule can name."""

    STEP_FALLOUT = "step_fallout"
    VALIDATION_FAILURE = "validation_failure"  # Salesforce refused a write-back
    JEOPARDY_AT_RISK = "jeopardy_at_risk"
    JEOPARDY_LATE = "jeopardy_late"
    WEBHOOK_ENDPOINT_DISABLED = "webhook_endpoint_disabled"
    API_BUDGET_EXHAUSTED = "api_budget_exhausted"
    INGESTION_INCIDENT = "ingestion_incident"  # expired replay id, a gap in the stream
    LOOP_DOWN = "loop_down"
    PERMANENT_QUERY_ERROR = "permanent_query_error"
    MENTION = "mention"  # a comment names someone (issue 15 item 5)


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"
    CRITICAL = "critical"


@dataclass(frozen=True)
class AlertMessage:
    """One alert, ready to render: the same for every recipient and channel."""

    alert_id: int
    rule: str
    kind: EventKind
    severity: Severity
    title: str  # one line: "Step erp.create failed on order 00000123"
    summary: str  # what happened, a sentence or two
    created_at: datetime
    occurrences: int = 1  # how often the same condition was seen while the alert was open
    order_id: str | None = None  # the Salesforce record id
    order_number: str | None = None
    account: str | None = None  # the account's name
    error_class: str | None = None
    error_message: str | None = None
    plan_id: int | None = None
    plan_url: str | None = None  # <console public_url>/console/plans/{id}
    ack_url: str | None = None  # a signed, expiring link that acknowledges the alert
    step: str | None = None
    # further label/value pairs a channel may show (connector, amount, region...)
    facts: tuple[tuple[str, str], ...] = field(default=())

    @property
    def order_label(self) -> str:
        """How people name the order: its number, else its id, else ''."""
        return self.order_number or self.order_id or ""

    def why(self) -> str:
        """The cause in one line: ``ErrorClass: message`` (either part may be missing)."""
        parts = [p for p in (self.error_class, self.error_message) if p]
        return ": ".join(parts)

    def lines(self) -> list[str]:
        """The message as plain text lines: what, which order, why, the links."""
        out = [self.title, "", self.summary]
        if self.order_label:
            order = f"Order: {self.order_label}"
            if self.order_id and self.order_number:
                order += f" ({self.order_id})"
            out.append(order)
        if self.account:
            out.append(f"Account: {self.account}")
        if self.step:
            out.append(f"Step: {self.step}")
        if self.why():
            out.append(f"Why: {self.why()}")
        out += [f"{label}: {value}" for label, value in self.facts]
        if self.occurrences > 1:
            out.append(f"Seen {self.occurrences} times")
        out.append(f"Severity: {self.severity.value}   Rule: {self.rule}")
        if self.plan_url:
            out += ["", f"Open the plan: {self.plan_url}"]
        if self.ack_url:
            out.append(f"Acknowledge: {self.ack_url}")
        return out

"""The alerts outbox and operators' comments.

- ``alerts``: one open row per rule and subject; ``alert_deliveries``: one message to
  one recipient on one channel, claimed with a lease.
- ``comments`` on plans, steps and incidents.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from revflow.clock import utcnow
from revflow.db.base import Base, LeasedSend


class AlertState(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"  # someone is on it: no more escalation
    RESOLVED = "resolved"


class Alert(Base):
    """A condition someone was (or is being) told about (``revflow.alerts``).

    One open row per rule and subject (``open_key``, NULL once resolved): a repeat
    updates ``count`` and ``last_seen_at``.  ``next_escalation_at`` is when the next
    level of the rule is told unless the alert is acknowledged first.
    """

    __tablename__ = "alerts"
    __table_args__ = (Index("ix_alerts_escalation", "state", "next_escalation_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    rule: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(40))
    subject: Mapped[str] = mapped_column(String(200))
    open_key: Mapped[str | None] = mapped_column(String(400), unique=True)
    state: Mapped[str] = mapped_column(String(16), default=AlertState.OPEN)
    severity: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(Text)
    summary: Mapped[str] = mapped_column(Text)
    plan_id: Mapped[int | None] = mapped_column(Integer, index=True)
    order_id: Mapped[str | None] = mapped_column(String(18), index=True)
    step: Mapped[str | None] = mapped_column(String(100))
    error_class: Mapped[str | None] = mapped_column(String(200))
    error_message: Mapped[str | None] = mapped_column(Text)
    # order number, account, owner id, connector...: what messages show
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    count: Mapped[int] = mapped_column(Integer, default=1)
    level: Mapped[int] = mapped_column(Integer, default=0)  # the escalation level told last
    next_escalation_at: Mapped[datetime | None]
    throttled: Mapped[bool] = mapped_column(default=False)  # kept, not sent (rule's throttle)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[str | None] = mapped_column(String(200))
    resolved_at: Mapped[datetime | None]
    resolved_by: Mapped[str | None] = mapped_column(String(200))


class DeliveryState(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"  # permanently, or out of attempts
    CANCELLED = "cancelled"  # the alert was resolved before it went out


class AlertDelivery(LeasedSend, Base):
    """One alert message to one recipient on one channel, sent by the delivery loop."""

    __tablename__ = "alert_deliveries"
    __table_args__ = (Index("ix_alert_deliveries_due", "state", "due_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id"), index=True)
    level: Mapped[int] = mapped_column(Integer, default=0)
    channel: Mapped[str] = mapped_column(String(32))
    recipient_kind: Mapped[str] = mapped_column(String(16))
    recipient_name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    salesforce_user_id: Mapped[str | None] = mapped_column(String(18))
    address: Mapped[str | None] = mapped_column(String(500))
    state: Mapped[str] = mapped_column(String(16), default=DeliveryState.PENDING)


class Comment(Base):
    """A note people leave on a plan or one of its steps (``app/comments``).

    ``body`` is what the author wrote (plain text or Markdown, per ``format``); it is
    rendered to safe HTML when read.  ``mentions`` are the usernames it notified.
    ``mirror_state`` is the optional Chatter copy on the Order: ``pending`` until the
    mirror loop posts it (``sent``, ``chatter_id`` set) or gives up (``failed``).
    """

    __tablename__ = "comments"
    __table_args__ = (Index("ix_comments_mirror_due", "mirror_state", "mirror_due_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id", ondelete="CASCADE"), index=True)
    step_key: Mapped[str | None] = mapped_column(String(100))
    author: Mapped[str] = mapped_column(String(100))  # the identity's subject (audit actor)
    author_name: Mapped[str] = mapped_column(String(200))
    format: Mapped[str] = mapped_column(String(16), default="markdown")  # markdown | plain
    body: Mapped[str] = mapped_column(Text)
    mentions: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    mirror_state: Mapped[str | None] = mapped_column(String(16))
    mirror_due_at: Mapped[datetime | None]
    mirror_attempts: Mapped[int] = mapped_column(Integer, default=0)
    mirror_lease_until: Mapped[datetime | None]
    mirror_error: Mapped[str | None] = mapped_column(Text)
    chatter_id: Mapped[str | None] = mapped_column(String(18))

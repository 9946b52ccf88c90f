"""Revflow's tables.  The database is the source of truth and the work queue.

- ``received_events`` is the inbox: every Salesforce event, unique on a dedupe key
  that does not depend on the transport; ``replay_checkpoints`` moves in the same
  transaction.
- ``plans`` and ``steps`` hold orchestration state; a step is claimed by a worker
  through ``lease_owner``/``lease_expires_at``.
- ``connector_calls``/``connector_attempts`` log every external effect.
- ``writeback_outbox`` holds field updates bound for Salesforce.
- who may call the API and the secrets Revflow keeps: ``models_access``; alerts and
  comments: ``models_alerts``; dead letters, the audit log and incidents:
  ``models_ops``.  Every table is importable from here.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from revflow.clock import utcnow
from revflow.db.base import Base, LeasedSend
from revflow.db.encrypted import PayloadJSON, PayloadText
from revflow.db.models_access import (
    ApiKey,
    AuthSession,
    LocalUser,
    OidcLogin,
    RecoveryCode,
    StoredSecret,
)
from revflow.db.models_alerts import Alert, AlertDelivery, AlertState, Comment, DeliveryState
from revflow.db.models_ops import AuditChainHead, AuditEntry, DeadLetter, Incident
from revflow.plans.state import PlanState, StepState  # the pure core owns the state enums

__all__ = [
    "Alert",
    "AlertDelivery",
    "AlertState",
    "ApiKey",
    "AuditChainHead",
    "AuditEntry",
    "AuthSession",
    "Base",
    "ChannelLease",
    "Comment",
    "ConnectorAttempt",
    "ConnectorCall",
    "DeadLetter",
    "DeliveryState",
    "EventStatus",
    "Incident",
    "LeasedSend",
    "LocalUser",
    "OidcLogin",
    "OrderSnapshot",
    "OutboxOperation",
    "OutboxState",
    "Plan",
    "PlanProductFamily",
    "ReceivedEvent",
    "ReconcileCursor",
    "RecoveryCode",
    "ReplayCheckpoint",
    "SalesforceApiUsage",
    "Signal",
    "Step",
    "StoredSecret",
    "WebhookEndpoint",
    "WritebackItem",
]


class EventStatus(StrEnum):
    RECEIVED = "received"
    PROCESSED = "processed"
    SKIPPED = "skipped"
    FAILED = "failed"
    DEFERRED = "deferred"  # a change queued behind another on the same plan


class ReceivedEvent(Base):
    __tablename__ = "received_events"
    __table_args__ = (
        Index("ix_received_events_status_id", "status", "id"),
        # the intake's read (oldest to handle first): a partial index, because with a
        # backlog the planner takes the primary key and filters every handled row
        Index(
            "ix_received_events_to_handle",
            "id",
            postgresql_where=text("status = 'received'"),
            sqlite_where=text("status = 'received'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    channel: Mapped[str] = mapped_column(String(200))
    replay_id: Mapped[str] = mapped_column(String(64))
    entity: Mapped[str | None] = mapped_column(String(80))
    change_type: Mapped[str | None] = mapped_column(String(32))
    record_ids: Mapped[list[Any]] = mapped_column(default=list)
    transaction_key: Mapped[str | None] = mapped_column(String(80))
    sequence_number: Mapped[int | None] = mapped_column(Integer)
    payload: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16), default=EventStatus.RECEIVED)
    note: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    processed_at: Mapped[datetime | None]


class ReplayCheckpoint(Base):
    __tablename__ = "replay_checkpoints"

    channel: Mapped[str] = mapped_column(String(200), primary_key=True)
    replay_id: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class OrderSnapshot(Base):
    """The order as read from Salesforce when a plan was built (or amended)."""

    __tablename__ = "order_snapshots"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[str] = mapped_column(String(18), index=True)
    record: Mapped[dict[str, Any]] = mapped_column(PayloadJSON)
    taken_at: Mapped[datetime] = mapped_column(default=utcnow)


class Plan(Base):
    __tablename__ = "plans"
    __table_args__ = (
        UniqueConstraint("order_id", "scenario", name="uq_plans_order_scenario"),
        # the console's dashboard: periods by creation and completion, filters
        Index("ix_plans_created_at", "created_at"),
        Index("ix_plans_completed_at", "completed_at"),
        Index("ix_plans_region", "region"),
        Index("ix_plans_channel", "channel"),
        Index("ix_plans_account_id", "account_id"),
        Index("ix_plans_definition", "definition"),
        Index("ix_plans_state_created_updated", "state", "created_at", "updated_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[str] = mapped_column(String(18), index=True)
    scenario: Mapped[str] = mapped_column(String(32), default="new")
    definition: Mapped[str] = mapped_column(String(100))
    correlation_id: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), default=PlanState.PENDING)
    snapshot_id: Mapped[int] = mapped_column(ForeignKey("order_snapshots.id"))
    mapping_hashes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    completed_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(Integer, default=1)  # bumped by each amendment
    # the amendment being applied while the plan is freezing/frozen (see amendments.py)
    amendment: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    due_at: Mapped[datetime | None]  # the order's requested date
    jeopardy: Mapped[str | None] = mapped_column(String(16))  # on_time | at_risk | late
    hold_reason: Mapped[str | None] = mapped_column(Text)
    # the order's facets the console filters on (revflow.plans.facets), set at creation
    region: Mapped[str | None] = mapped_column(String(80))  # billing country by default
    channel: Mapped[str | None] = mapped_column(String(80))  # order type by default
    account_id: Mapped[str | None] = mapped_column(String(18))

    steps: Mapped[list[Step]] = relationship(
        back_populates="plan", order_by="Step.position", lazy="raise"
    )


class Step(Base):
    __tablename__ = "steps"
    __table_args__ = (
        UniqueConstraint("plan_id", "key", name="uq_steps_plan_key"),
        Index("ix_steps_due", "state", "due_at"),
        Index("ix_steps_connector_plan", "connector", "plan_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id"), index=True)
    key: Mapped[str] = mapped_column(String(100))
    position: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(32))
    connector: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str | None] = mapped_column(String(100))
    depends_on: Mapped[list[Any]] = mapped_column(default=list)
    state: Mapped[str] = mapped_column(String(16), default=StepState.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    due_at: Mapped[datetime | None]
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_expires_at: Mapped[datetime | None]
    idempotency_key: Mapped[str] = mapped_column(String(100))
    input: Mapped[dict[str, Any] | None] = mapped_column(PayloadJSON)
    output: Mapped[dict[str, Any] | None] = mapped_column(PayloadJSON)
    error: Mapped[str | None] = mapped_column(Text)
    mapping_hash: Mapped[str | None] = mapped_column(String(64))
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    # from the plan definition (see app/plans/definitions.py)
    scope_key: Mapped[str | None] = mapped_column(String(100))  # line item id, bundle...
    ponr: Mapped[bool] = mapped_column(default=False)  # point of no return
    compensation_key: Mapped[str | None] = mapped_column(String(100))
    expected_duration_s: Mapped[float | None]
    retry_policy: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    wait_key: Mapped[str | None] = mapped_column(String(200), index=True)  # correlation key
    wait_until: Mapped[datetime | None]  # wait timeout, or end of a pause
    assignee: Mapped[str | None] = mapped_column(String(100))  # manual task person/queue
    note: Mapped[str | None] = mapped_column(Text)  # why it was skipped, who completed it
    jeopardy: Mapped[str | None] = mapped_column(String(16))  # on_time | at_risk | late

    plan: Mapped[Plan] = relationship(back_populates="steps", lazy="raise")


class PlanProductFamily(Base):
    """A product family among a plan's order lines (the console filters plans by it)."""

    __tablename__ = "plan_product_families"
    __table_args__ = (Index("ix_plan_product_families_family", "family", "plan_id"),)

    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id"), primary_key=True)
    family: Mapped[str] = mapped_column(String(80), primary_key=True)


class ConnectorCall(Base):
    """One logical external effect (idempotent by key), with its attempts."""

    __tablename__ = "connector_calls"

    id: Mapped[int] = mapped_column(primary_key=True)
    step_id: Mapped[int] = mapped_column(ForeignKey("steps.id"), index=True)
    connector: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(100))
    idempotency_key: Mapped[str] = mapped_column(String(100), unique=True)
    correlation_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    external_id: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ConnectorAttempt(Base):
    __tablename__ = "connector_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("connector_calls.id"), index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(16))
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(PayloadText)  # may quote the ERP's answer
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime] = mapped_column(default=utcnow)


class OutboxState(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    DROPPED = "dropped"


class OutboxOperation(StrEnum):
    UPDATE = "update"  # field values for an existing record: coalesced per record
    CREATE = "create"  # a new record or a platform event: sent as it is, never coalesced
    NOTICE = "notice"  # the error field alone, after a refused update: sent on its own


class WritebackItem(LeasedSend, Base):
    """Field values bound for one Salesforce record (updates, coalesced when flushed), or
    a record or platform event to create (``operation`` create; ``record_id`` is then the
    Order it concerns)."""

    __tablename__ = "writeback_outbox"
    __table_args__ = (Index("ix_writeback_state_due", "state", "due_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    sobject: Mapped[str] = mapped_column(String(80))
    record_id: Mapped[str] = mapped_column(String(18), index=True)
    operation: Mapped[str] = mapped_column(
        String(8), default=OutboxOperation.UPDATE, server_default=OutboxOperation.UPDATE.value
    )
    fields: Mapped[dict[str, Any]] = mapped_column(PayloadJSON)
    correlation_id: Mapped[str | None] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), default=OutboxState.PENDING)


class ChannelLease(Base):
    """Which process consumes a channel; taken over when it expires."""

    __tablename__ = "channel_leases"

    channel: Mapped[str] = mapped_column(String(200), primary_key=True)
    owner: Mapped[str] = mapped_column(String(100))
    expires_at: Mapped[datetime]
    acquired_at: Mapped[datetime] = mapped_column(default=utcnow)


class Signal(Base):
    """A platform event or inbound callback, kept for the plan step waiting on its key."""

    __tablename__ = "signals"
    __table_args__ = (UniqueConstraint("source", "dedupe_key", name="uq_signals_source_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(32))  # platform_event | callback
    name: Mapped[str] = mapped_column(String(200))  # channel or callback type
    dedupe_key: Mapped[str] = mapped_column(String(200))
    correlation_key: Mapped[str | None] = mapped_column(String(200), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(PayloadJSON)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    consumed_by_step_id: Mapped[int | None] = mapped_column(Integer)


class ReconcileCursor(Base):
    """How far the SystemModstamp sweep has read, per entity."""

    __tablename__ = "reconcile_cursors"

    entity: Mapped[str] = mapped_column(String(80), primary_key=True)
    last_modstamp: Mapped[datetime]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class SalesforceApiUsage(Base):
    """Revflow's own Salesforce REST calls per hour (all its processes together), and the
    org-wide ``Sforce-Limit-Info: api-usage=N/M`` last seen in that hour."""

    __tablename__ = "salesforce_api_usage"

    hour: Mapped[datetime] = mapped_column(primary_key=True)
    calls: Mapped[int] = mapped_column(Integer, default=0)
    org_used: Mapped[int | None] = mapped_column(Integer)
    org_limit: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class WebhookEndpoint(Base):
    """A webhook connector's endpoint: enabled, or disabled (410, or failing too long) with
    its messages parked until an operator enables it and replays them (app/webhooks)."""

    __tablename__ = "webhook_endpoints"

    connector: Mapped[str] = mapped_column(String(64), primary_key=True)
    url: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[str] = mapped_column(String(16), default="enabled")  # enabled | disabled
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    disabled_at: Mapped[datetime | None]
    disabled_by: Mapped[str | None] = mapped_column(String(100))
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    first_failure_at: Mapped[datetime | None]  # first failure since the last success
    last_failure_at: Mapped[datetime | None]
    last_success_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    incident_id: Mapped[int | None] = mapped_column(Integer)  # the open "disabled" incident
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

"""Revflow's tables.  The database is the source of truth and the work queue.

- ``received_events`` is the inbox: every Salesforce event, unique on a dedupe key
  that does not depend on the transport; ``replay_checkpoints`` moves in the same
  transaction.
- ``plans`` and ``steps`` hold orchestration state; a step is claimed by a worker
  through ``lease_owner``/``lease_expires_at``.
- ``connector_calls``/``connector_attempts`` log every external effect.
- ``writeback_outbox`` holds field updates bound for Salesforce.
- ``dead_letters`` keep what could not be processed, with the reason.
- ``api_keys``, ``local_users``, ``recovery_codes`` and ``auth_sessions`` are who may
  call the API (``app/security``); secrets in them are hashes or ciphertext only.
- ``audit_log`` is append-only, each entry chained to the one before by a hash
  (``audit_chain_head`` holds the newest; ``revflow.security.audit_chain``).
- ``stored_secrets`` holds secrets Revflow keeps itself, encrypted (``revflow.security``).
- ``oidc_logins`` are OpenID Connect logins under way (state, nonce, PKCE verifier).
- ``alerts`` (one open row per rule and subject) and ``alert_deliveries`` (one message
  to one recipient on one channel, claimed with a lease) are the alerts outbox.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from revflow.clock import utcnow
from revflow.db.encrypted import PayloadJSON, PayloadText, SecretText
from revflow.plans.state import PlanState, StepState  # the pure core owns the state enums


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON, datetime: DateTime(timezone=True)}


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


class LeasedSend:
    """Columns of an outbox row that a loop claims with a lease and sends, with retries:
    the write-back outbox and alert deliveries."""

    attempts: Mapped[int] = mapped_column(Integer, default=0)
    due_at: Mapped[datetime] = mapped_column(default=utcnow)
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_expires_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]


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


class DeadLetter(Base):
    __tablename__ = "dead_letters"

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(64))
    reference: Mapped[str | None] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(PayloadJSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    replayed_at: Mapped[datetime | None]


class AuditEntry(Base):
    """Append-only: who did what to which plan or record, and why."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(64))
    plan_id: Mapped[int | None] = mapped_column(Integer, index=True)
    order_id: Mapped[str | None] = mapped_column(String(18), index=True)
    correlation_id: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # the hash chain: set when the writing transaction commits (NULL only until then)
    seq: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    hash: Mapped[str | None] = mapped_column(String(64))


class AuditChainHead(Base):
    """The newest link of the audit chain (one row, id 1): locked by each sealing commit,
    so concurrent writers chain one after another; a deleted tail shows against it."""

    __tablename__ = "audit_chain_head"

    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, default=0)
    hash: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class StoredSecret(Base):
    """A secret Revflow keeps (a rotated OAuth refresh token, a webhook secret being
    rolled out), always encrypted by the keyring."""

    __tablename__ = "stored_secrets"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    value: Mapped[str] = mapped_column(SecretText)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ChannelLease(Base):
    """Which process consumes a channel; taken over when it expires."""

    __tablename__ = "channel_leases"

    channel: Mapped[str] = mapped_column(String(200), primary_key=True)
    owner: Mapped[str] = mapped_column(String(100))
    expires_at: Mapped[datetime]
    acquired_at: Mapped[datetime] = mapped_column(default=utcnow)


class Incident(Base):
    """Something that threatened completeness (expired replay id, gap, overflow), and the
    recovery taken; or a standing failure waiting will not fix (see ``revflow.incidents``)."""

    __tablename__ = "incidents"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(64), index=True)
    channel: Mapped[str | None] = mapped_column(String(200))
    entity: Mapped[str | None] = mapped_column(String(80))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    recovery: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[datetime | None]
    # a standing incident (``revflow.incidents``): one open row per cause, updated while the
    # cause lasts; ``open_key`` is the cause's key while open, NULL once resolved
    key: Mapped[str | None] = mapped_column(String(200), index=True)
    open_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    blocking: Mapped[bool] = mapped_column(default=False)  # /readyz answers 503 while open
    count: Mapped[int] = mapped_column(default=1)
    last_seen_at: Mapped[datetime | None]


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


class ApiKey(Base):
    """A machine client's key: shown once, kept as a SHA-256 of its secret part."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    prefix: Mapped[str] = mapped_column(String(16), unique=True)  # public: key:<prefix>
    secret_hash: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100))
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    revoked_by: Mapped[str | None] = mapped_column(String(100))
    last_used_at: Mapped[datetime | None]


class LocalUser(Base):
    """A person without an identity provider: argon2id password and mandatory TOTP."""

    __tablename__ = "local_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(String(16))
    # a keyring token (revflow.security.keyring); `revflow secrets rotate-key` re-wraps it
    totp_seed_ciphertext: Mapped[str] = mapped_column(Text, info={"encrypted": True})
    totp_last_step: Mapped[int | None] = mapped_column(Integer)  # a code is used once
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100))
    disabled_at: Mapped[datetime | None]
    last_login_at: Mapped[datetime | None]


class RecoveryCode(Base):
    """A one-time second factor for a local user who lost the authenticator."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("local_users.id", ondelete="CASCADE"), index=True
    )
    code_hash: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[datetime | None]


class AuthSession(Base):
    """A browser session: the cookie's token and CSRF token kept as SHA-256 hashes."""

    __tablename__ = "auth_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    csrf_hash: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(100), index=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]  # the absolute timeout
    ended_at: Mapped[datetime | None]
    ended_reason: Mapped[str | None] = mapped_column(String(32))


class OidcLogin(Base):
    """An OpenID Connect login sent to the provider and not back yet (``app/security/oidc``);
    used once, by the browser holding its state cookie, within ``login_timeout_s``."""

    __tablename__ = "oidc_logins"

    state_hash: Mapped[str] = mapped_column(String(64), primary_key=True)  # SHA-256 of state
    nonce: Mapped[str] = mapped_column(String(64))
    code_verifier: Mapped[str] = mapped_column(String(128))  # PKCE
    return_to: Mapped[str] = mapped_column(String(500), default="/")
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


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

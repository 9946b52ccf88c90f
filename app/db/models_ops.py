"""What operators read back: dead letters, the audit log and its chain head, incidents.

- ``dead_letters`` keep what could not be processed, with the reason.
- ``audit_log`` is append-only, each entry chained to the one before by a hash
  (``audit_chain_head`` holds the newest; ``revflow.security.audit_chain``).
- ``incidents``: what threatened completeness, or a standing failure (``revflow.incidents``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from revflow.clock import utcnow
from revflow.db.base import Base
from revflow.db.encrypted import PayloadJSON


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

"""The audit log's hash chain: each entry carries the hash of the one before.

``hash = sha256(prev_hash | seq | at | actor | action | plan | order | correlation | detail)``
over a canonical JSON form.  An edited entry no longer matches its hash, a deleted one
leaves a gap in ``seq`` and a broken ``prev_hash`` link, and a deleted tail shows
against ``audit_chain_head``, which holds the newest link.

Entries are sealed when their transaction commits (``before_commit``), not when they
are flushed: the head row is locked (``FOR UPDATE`` on PostgreSQL; SQLite has one
writer) as the last thing a transaction does, so concurrent writers chain one after
another in commit order and never wait on the head while holding other rows (no
deadlock with the step and plan rows they locked earlier).  Rows ``queue``d (plain
dicts, ``revflow.audit.record``) are chained after the ORM entries (those recorded in
a savepoint) and inserted sealed, in one INSERT, after the transaction's other queued
rows (``revflow.db.bulk``); the head is read and written with Core statements.
``install()`` registers the session events; ``revflow.audit`` calls it.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, event, insert, inspect, select, update
from sqlalchemy.orm import Session, SessionTransaction, UOWTransaction

from revflow.db import bulk
from revflow.db.models import AuditChainHead, AuditEntry

GENESIS = "0" * 64
HEAD_ID = 1
_PENDING = "revflow.audit_unsealed"
_QUEUED = "revflow.audit_queued"


def canonical_time(at: datetime) -> str:
    """``at`` in UTC as ISO 8601 with microseconds (SQLite hands back naive UTC)."""
    if at.tzinfo is not None:
        at = at.astimezone(UTC).replace(tzinfo=None)
    return at.isoformat(timespec="microseconds")


def entry_hash(prev_hash: str, seq: int, entry: AuditEntry | dict[str, Any]) -> str:
    """The hash of one entry (an ``AuditEntry`` or its fields in a dict) after ``prev_hash``."""

    def get(key: str) -> Any:
        return entry.get(key) if isinstance(entry, dict) else getattr(entry, key)

    body = [
        1,  # the form's version
        prev_hash,
        seq,
        canonical_time(get("at")),
        get("actor"),
        get("action"),
        get("plan_id"),
        get("order_id"),
        get("correlation_id"),
        # what the JSON column gives back: tuples as lists, keys as strings
        json.loads(json.dumps(get("detail") or {})),
    ]
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def queued(session: Session) -> bool:
    """Whether this transaction has rows ``queue``d."""
    return bool(session.info.get(_QUEUED))


def queue(session: Session, rows: list[dict[str, Any]]) -> None:
    """Entries (``AuditEntry``'s columns, without the link) to insert sealed at commit."""
    session.info.setdefault(_QUEUED, []).extend(rows)


def _collect(session: Session, _ctx: UOWTransaction, _instances: Any) -> None:
    new = [o for o in session.new if isinstance(o, AuditEntry)]
    if new:
        session.info.setdefault(_PENDING, []).extend(new)


def _seal(session: Session) -> None:
    if session.in_nested_transaction():
        # a savepoint's release fires before_commit too: sealing there, then again at
        # the real commit, numbered the entry twice (a gap in seq on PostgreSQL)
        return
    # the transaction's other queued rows go in first: the head's lock is its last
    bulk.insert_queued(session)
    # entries not flushed yet are inserted already sealed (an INSERT, no UPDATE after
    # it); they are set aside while the rest of the transaction flushes, so that its
    # row locks are all taken before the head's.  Not on SQLite: there the entries'
    # INSERT is what takes the write lock before the head is read.
    unflushed = sorted(
        (o for o in session.new if isinstance(o, AuditEntry)),
        key=lambda e: inspect(e).insert_order or 0,
    )
    queued: list[dict[str, Any]] = session.info.pop(_QUEUED, [])
    if not session.info.get(_PENDING) and not unflushed and not queued:
        return
    sqlite = session.get_bind().dialect.name == "sqlite"
    if sqlite:
        unflushed = []
    for entry in unflushed:
        session.expunge(entry)
    session.flush()
    # an entry added inside a savepoint that rolled back is no longer in the session
    flushed = [e for e in session.info.pop(_PENDING, []) if e in session]
    if sqlite and queued:  # the write lock before the head is read, as an INSERT takes it
        session.execute(_TAKE_HEAD)
    # Core, not the ORM: the head costs no flush (an entry-only commit makes none)
    found = session.execute(_LOCK_HEAD).one_or_none()
    seq, prev = (found.seq, found.hash) if found is not None else (0, GENESIS)
    # flushed entries have the lower ids: chain order is id order
    for entry in sorted(flushed, key=lambda e: e.id) + unflushed:
        seq += 1
        entry.seq, entry.prev_hash = seq, prev
        entry.hash = prev = entry_hash(prev, seq, entry)
    for row in queued:  # after the ORM entries, in chain order and id order alike
        seq += 1
        row["seq"], row["prev_hash"] = seq, prev
        row["hash"] = prev = entry_hash(prev, seq, row)
    if found is None:  # a schema built without the migration that seeds it
        session.execute(insert(_HEAD), {"id": HEAD_ID, "seq": seq, "hash": prev})
    else:
        session.execute(_SET_HEAD, {"b_seq": seq, "b_hash": prev})
    if unflushed:
        session.add_all(unflushed)
        session.flush()
    if queued:
        session.execute(insert(_ENTRIES), queued)


_HEAD = cast(Table, AuditChainHead.__table__)
_ENTRIES = cast(Table, AuditEntry.__table__)
_LOCK_HEAD = select(_HEAD.c.seq, _HEAD.c.hash).where(_HEAD.c.id == HEAD_ID).with_for_update()
_TAKE_HEAD = update(_HEAD).where(_HEAD.c.id == HEAD_ID).values(seq=_HEAD.c.seq)
_SET_HEAD = (
    update(_HEAD)
    .where(_HEAD.c.id == HEAD_ID)
    .values(seq=bindparam("b_seq"), hash=bindparam("b_hash"))
)


def _forget(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # the outermost transaction, not a savepoint
        session.info.pop(_PENDING, None)
        session.info.pop(_QUEUED, None)


def install() -> None:
    """Seal audit entries at commit in every session (idempotent)."""
    if not event.contains(Session, "before_commit", _seal):
        event.listen(Session, "before_flush", _collect)
        event.listen(Session, "before_commit", _seal)
        event.listen(Session, "after_transaction_end", _forget)

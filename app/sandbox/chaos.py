"""Chaos for the sandbox org's event bus: gap and overflow change events, replay expiry.

Facts sheet §3.3: a GAP_* event is the header of the change it replaces with no
body; a GAP_OVERFLOW event names only the entity (no record ids) and means 'more
changes of this entity in this transaction were not sent: reconcile by query'.
Duplicates live in ``EventLog.append`` and dropped long polls in ``cometd``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from revflow.sandbox.org import SandboxOrg

# (header, body, record) of one change event about to be appended
Pending = tuple[dict[str, Any], dict[str, Any], dict[str, Any]]


def gap_event(header: dict[str, Any]) -> Pending:
    """The GAP_* form of a change event: header only, no origin, no changed fields."""
    gap = dict(header, changeType=f"GAP_{header['changeType']}", changeOrigin="", changedFields=[])
    return gap, {}, {}


def overflow_event(entity: str, like: dict[str, Any], sequence: int) -> Pending:
    """A GAP_OVERFLOW event for ``entity`` in the transaction of header ``like``."""
    header = dict(
        like,
        entityName=entity,
        recordIds=[],
        changeType="GAP_OVERFLOW",
        changeOrigin="",
        sequenceNumber=sequence,
        changedFields=[],
    )
    return header, {}, {}


def overflow(pending: list[Pending]) -> list[Pending]:
    """Keep each entity's first event, then add one GAP_OVERFLOW per entity touched."""
    kept: list[Pending] = []
    entities: dict[str, dict[str, Any]] = {}
    for event in pending:
        entity = event[0]["entityName"]
        if entity not in entities:
            entities[entity] = event[0]
            kept.append(event)
    last = max((e[0]["sequenceNumber"] for e in pending), default=0)
    for i, (entity, like) in enumerate(entities.items(), start=1):
        kept.append(overflow_event(entity, like, last + i))
    return kept


def apply_change_chaos(org: SandboxOrg, pending: list[Pending]) -> Iterable[Pending]:
    """One transaction's change events after the overflow and gap switches."""
    if pending and org.roll("overflow", org.faults.overflow_events):
        pending = overflow(pending)
    for header, body, record in pending:
        if header["changeType"] == "GAP_OVERFLOW":
            org.note_fault("overflow_event")
        elif org.roll("gap", org.faults.gap_events):
            org.note_fault("gap_event")
            header, body, record = gap_event(header)
        yield header, body, record


def expire_replay_ids(org: SandboxOrg, keep_last: int = 0) -> int:
    """Drop all but the newest ``keep_last`` events on every channel; returns the count."""
    dropped = org.events.expire(keep_last=keep_last)
    org.note_fault("replay_expired")
    return dropped


__all__ = ["apply_change_chaos", "expire_replay_ids", "gap_event", "overflow", "overflow_event"]

"""Standing incidents: failures that waiting will not fix, kept open until they go away.

    await raise_incident(db, "salesforce:intake:order_read", "salesforce_permanent",
                         "... INVALID_FIELD: No such column 'PoNumber' on entity 'Order'")
    await resolve_incident(db, "salesforce:intake:order_read")   # the call worked again
    rows = await open_blocking_incidents(session)                 # /readyz
    StandingFailure(db, key, what)                                # the same, for one loop
    record_recovered(s, "sweep_found", detail, recovery)          # a fault already handled
    row = await open_unkeyed(s, kind, detail, recovery)           # one per occurrence
    await resolve_by_id(s, row.id)

Every query on ``incidents`` lives here; functions taking a session run in the
caller's transaction.

One open row per key: a repeat updates ``count``, ``last_seen_at`` and the message
instead of adding rows, and is logged at debug; only the first occurrence is logged as
an error and counted in ``revflow_incidents_opened_total`` (and
``revflow_incidents_resolved_total`` when it goes away).  Blocking incidents make
``/readyz`` answer 503 until resolved.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from revflow.alerts import hooks as alert_hooks
from revflow.alerts.service import defer_alert, raise_alert
from revflow.clock import utcnow
from revflow.db.database import Database
from revflow.db.models import Incident
from revflow.metrics import INCIDENTS_OPENED, INCIDENTS_RESOLVED
from revflow.salesforce.errors import SalesforceError

log = logging.getLogger("revflow.incidents")

KIND_PERMANENT = "salesforce_permanent"  # a Salesforce call failing in a way waiting won't fix

#: Salesforce error codes that retrying will not fix: Revflow's configuration, the
#: integration user's access, or the org's shape must change first
PERMANENT_CODES = frozenset(
    {
        "INVALID_FIELD",
        "INVALID_TYPE",
        "MALFORMED_QUERY",
        "INVALID_QUERY_FILTER_OPERATOR",
        "INSUFFICIENT_ACCESS",
        "INSUFFICIENT_ACCESS_OR_READONLY",
        "INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY",
        "API_DISABLED_FOR_ORG",
        "API_CURRENTLY_DISABLED",
        "FUNCTIONALITY_NOT_ENABLED",
        "NOT_FOUND",
    }
)


def is_permanent(exc: BaseException) -> bool:
    """A Salesforce error that will not go away by waiting (see PERMANENT_CODES)."""
    return isinstance(exc, SalesforceError) and exc.code in PERMANENT_CODES


async def open_in(
    s: AsyncSession,
    key: str,
    kind: str,
    message: str,
    *,
    blocking: bool = True,
    detail: dict[str, Any] | None = None,
) -> tuple[Incident, bool]:
    """Open the incident for ``key`` in the caller's transaction, or update the open
    one; returns the row and whether it is new (new ones are logged and counted)."""
    now = utcnow()
    row = await s.scalar(select(Incident).where(Incident.open_key == key))
    if row is not None:
        row.count += 1
        row.last_seen_at = now
        row.detail = {**(row.detail or {}), **(detail or {}), "message": message}
        log.debug("incident still open", extra={"key": key, "count": row.count})
        return row, False
    row = Incident(
        kind=kind,
        key=key,
        open_key=key,
        blocking=blocking,
        detail={**(detail or {}), "message": message},
        created_at=now,
        last_seen_at=now,
        count=1,
    )
    s.add(row)
    await s.flush()  # the unique open_key: a second process's row fails here
    await raise_alert(s, alert_hooks.incident(kind, key, message))
    INCIDENTS_OPENED.labels(kind=kind).inc()
    log.error(
        "incident opened: %s",
        message,
        extra={"incident_key": key, "kind": kind, "blocking": blocking},
    )
    return row, True


async def resolve_in(s: AsyncSession, key: str, recovery: str = "resolved") -> bool:
    """Close the open incident for ``key`` in the caller's transaction; False when none
    was open."""
    row = await s.scalar(select(Incident).where(Incident.open_key == key))
    if row is None:
        return False
    await s.execute(
        update(Incident)
        .where(Incident.id == row.id)
        .values(open_key=None, resolved_at=utcnow(), recovery=recovery)
    )
    INCIDENTS_RESOLVED.labels(kind=row.kind).inc()
    log.warning("incident resolved", extra={"incident_key": key, "kind": row.kind})
    return True


async def raise_incident(
    db: Database,
    key: str,
    kind: str,
    message: str,
    *,
    blocking: bool = True,
    detail: dict[str, Any] | None = None,
) -> Incident:
    """Open the incident for ``key``, or update the open one; returns the row."""
    for _ in range(2):  # a second process may open the same key at the same moment
        try:
            async with db.write() as s:
                row, _new = await open_in(s, key, kind, message, blocking=blocking, detail=detail)
            return row
        except IntegrityError:
            continue
    raise RuntimeError(f"could not record incident {key}")


async def resolve_incident(db: Database, key: str, recovery: str = "resolved") -> bool:
    """Close the open incident for ``key``; False when none was open."""
    async with db.write() as s:
        return await resolve_in(s, key, recovery)


async def open_blocking_incidents(session: AsyncSession) -> Sequence[Incident]:
    """Open incidents that make the service not ready, oldest first."""
    stmt = (
        select(Incident)
        .where(Incident.open_key.is_not(None), Incident.blocking.is_(True))
        .order_by(Incident.id)
    )
    return (await session.scalars(stmt)).all()


def record_recovered(
    s: AsyncSession,
    kind: str,
    detail: dict[str, Any],
    recovery: str,
    *,
    channel: str | None = None,
    entity: str | None = None,
) -> None:
    """Note a fault Revflow recovered from by itself (born resolved); its alert, if a rule
    wants one, is raised by the caller's ``raise_deferred``."""
    subject = f"{kind}:{channel or entity or ''}"
    defer_alert(s, alert_hooks.incident(kind, subject, recovery))
    s.add(
        Incident(
            kind=kind,
            channel=channel,
            entity=entity,
            detail=detail,
            recovery=recovery,
            resolved_at=utcnow(),
        )
    )


async def open_unkeyed(
    s: AsyncSession,
    kind: str,
    detail: dict[str, Any],
    recovery: str,
    now: datetime | None = None,
) -> Incident:
    """Open an incident of its own (no key: the caller keeps its id); flushed for the id."""
    row = Incident(kind=kind, detail=detail, recovery=recovery, created_at=now or utcnow())
    s.add(row)
    await s.flush()
    return row


async def resolve_by_id(s: AsyncSession, incident_id: int, now: datetime | None = None) -> None:
    """Resolve the incident ``incident_id`` unless it is resolved already."""
    await s.execute(
        update(Incident)
        .where(Incident.id == incident_id, Incident.resolved_at.is_(None))
        .values(resolved_at=now or utcnow())
    )


def describe(incident: Incident) -> str:
    """One line for /readyz and logs: key, count and message."""
    message = (incident.detail or {}).get("message", "")
    return f"{incident.key} (x{incident.count}): {message}"


class StandingFailure:
    """The incident of one loop's Salesforce call while it fails permanently.

    failure = StandingFailure(db, "salesforce:intake:order_read", "reading orders")
    await failure.failed(exc, retry_s)   # opens or updates the incident
    await failure.worked()               # resolves it (checked once after a restart)
    """

    def __init__(self, db: Database, key: str, what: str) -> None:
        self.db = db
        self.key = key
        self.what = what
        self.open = True  # may be open from before a restart: the first success checks

    async def failed(self, exc: SalesforceError, retry_s: float) -> None:
        self.open = True
        await raise_incident(
            self.db,
            self.key,
            KIND_PERMANENT,
            f"{self.what} failed with {exc.code}: {exc.message} "
            f"(retried every {retry_s:g} s until it works)",
            detail={"code": exc.code, "status": exc.status},
        )

    async def worked(self) -> None:
        if self.open:
            await resolve_incident(self.db, self.key, f"{self.what} works again")
            self.open = False

"""The append-only audit log: every state change and operator action, with who and why.

Entries are chained by hash when their transaction commits (``revflow.audit.chain``);
``revflow audit verify`` checks the chain, ``revflow audit export`` writes JSON lines.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from revflow.audit import chain
from revflow.clock import utcnow
from revflow.db.models import AuditEntry

chain.install()


def record(
    session: AsyncSession,
    actor: str,
    action: str,
    *,
    plan_id: int | None = None,
    order_id: str | None = None,
    correlation_id: str | None = None,
    **detail: Any,
) -> None:
    session.add(
        AuditEntry(
            at=utcnow(),  # set here, so the hash sealed at commit covers what is stored
            actor=actor,
            action=action,
            plan_id=plan_id,
            order_id=order_id,
            correlation_id=correlation_id,
            detail=detail,
        )
    )

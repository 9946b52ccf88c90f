"""Inbound ERP callbacks kept as signals for waiting plan steps.

A verified callback becomes one ``Signal(source="callback")`` whose ``dedupe_key``
is the delivery's ``webhook-id``: a replayed or retried delivery inserts nothing,
so a step waiting on its ``correlation_key`` is completed at most once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from revflow.ingest import repository

__all__ = ["CALLBACK_SOURCE", "Callback", "record_callback"]

CALLBACK_SOURCE = "callback"


@dataclass(frozen=True)
class Callback:
    """One verified callback from ``source`` (the ERP that sent it)."""

    webhook_id: str
    source: str
    type: str
    correlation_key: str
    data: dict[str, Any] = field(default_factory=dict)

    def payload(self) -> dict[str, Any]:
        """What the signal stores, and what a waiting step gets as ``output["signal"]``."""
        return {
            "source": self.source,
            "type": self.type,
            "correlation_key": self.correlation_key,
            "webhook_id": self.webhook_id,
            "data": self.data,
        }


async def record_callback(session: AsyncSession, callback: Callback) -> int | None:
    """Insert the callback's signal; its id, or ``None`` if ``webhook_id`` was seen before."""
    return await repository.insert_signal(
        session,
        source=CALLBACK_SOURCE,
        name=callback.type,
        dedupe_key=callback.webhook_id,
        correlation_key=callback.correlation_key,
        payload=callback.payload(),
    )

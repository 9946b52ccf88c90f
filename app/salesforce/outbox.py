"""Enqueue field updates for Salesforce records, inside the caller's transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import WritebackItem


def enqueue(
    session: AsyncSession,
    sobject: str,
    record_id: str,
    fields: dict[str, Any],
    correlation_id: str | None = None,
) -> None:
    session.add(
        WritebackItem(
            sobject=sobject, record_id=record_id, fields=fields, correlation_id=correlation_id
        )
    )

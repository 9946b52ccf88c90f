"""Standing incidents on a real database: one open row per cause, logged and counted
once, blocking readiness until resolved."""

from __future__ import annotations

import logging

import pytest
from prometheus_client import REGISTRY

from revflow.db.database import Database
from revflow.incidents import (
    describe,
    is_permanent,
    open_blocking_incidents,
    raise_incident,
    resolve_incident,
)
from revflow.salesforce.errors import SalesforceError, TransientError
from tests.orgkit import incidents


def opened(kind: str) -> float:
    return REGISTRY.get_sample_value("revflow_incidents_opened_total", {"kind": kind}) or 0.0


async def test_one_open_row_per_cause_updated_not_repeated(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    before = opened("test_kind")
    with caplog.at_level(logging.DEBUG, logger="revflow.incidents"):
        for n in range(3):
            await raise_incident(db, "k1", "test_kind", f"failure {n}")
    [row] = await incidents(db, "test_kind")
    assert row.count == 3 and row.open_key == "k1" and row.blocking
    assert row.detail["message"] == "failure 2"  # the newest wording
    assert opened("test_kind") - before == 1
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert [r.getMessage() for r in errors] == ["incident opened: failure 0"]

    async with db.read() as s:
        assert [describe(i) for i in await open_blocking_incidents(s)] == ["k1 (x3): failure 2"]
    assert await resolve_incident(db, "k1", "fixed") is True
    assert await resolve_incident(db, "k1") is False  # nothing open any more
    async with db.read() as s:
        assert list(await open_blocking_incidents(s)) == []
    [row] = await incidents(db, "test_kind")
    assert row.open_key is None and row.resolved_at is not None and row.recovery == "fixed"

    await raise_incident(db, "k1", "test_kind", "back again")  # a new occurrence: a new row
    rows = await incidents(db, "test_kind")
    assert [(r.count, r.open_key) for r in rows] == [(3, None), (1, "k1")]


async def test_non_blocking_incidents_leave_readiness_alone(db: Database) -> None:
    await raise_incident(db, "k2", "info_kind", "noted", blocking=False)
    async with db.read() as s:
        assert list(await open_blocking_incidents(s)) == []


def test_which_salesforce_errors_are_permanent() -> None:
    assert is_permanent(SalesforceError(400, "INVALID_FIELD", "No such column"))
    assert is_permanent(SalesforceError(403, "INSUFFICIENT_ACCESS", "no"))
    assert not is_permanent(TransientError(503, "SERVER_UNAVAILABLE", "later"))
    assert not is_permanent(SalesforceError(400, "FIELD_CUSTOM_VALIDATION_EXCEPTION", "rule"))
    assert not is_permanent(ValueError("INVALID_FIELD"))

"""`revflow purge` against a SQLite file: dry run, purge, the age from settings."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from revflow.cli import cli
from revflow.clock import utcnow
from revflow.db.database import Database
from revflow.db.migrate import upgrade
from revflow.db.models import PlanState
from tests.retention.test_purge import order

runner = CliRunner()


@pytest.fixture
def url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path}/purge.sqlite"
    upgrade(url)
    monkeypatch.setenv("REVFLOW_DATABASE_URL", url)

    async def write() -> None:
        db = Database(url)
        await order(db, "801000000000001", PlanState.COMPLETED, utcnow() - timedelta(days=40))
        await db.dispose()

    asyncio.run(write())
    return url


def test_dry_run_then_purge(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    out = runner.invoke(cli, ["purge", "--actor", "ops:ann", "--older-than", "30d", "--dry-run"])
    assert out.exit_code == 0, out.output
    assert "order_snapshots\t1" in out.output and "would purge 5 payload(s)" in out.output
    out = runner.invoke(cli, ["purge", "--actor", "ops:ann", "--older-than", "60d"])
    assert out.exit_code == 0 and "purged 0 payload(s)" in out.output
    monkeypatch.setenv("REVFLOW_RETENTION__PAYLOADS_DAYS", "30")
    out = runner.invoke(cli, ["purge", "--actor", "ops:ann"])
    assert out.exit_code == 0 and "purged 5 payload(s)" in out.output
    out = runner.invoke(cli, ["audit", "verify"])
    assert out.exit_code == 0 and "audit chain intact: 1 entries" in out.output


def test_age_is_required_and_checked(url: str) -> None:
    out = runner.invoke(cli, ["purge", "--actor", "a"])
    assert out.exit_code == 2 and "give --older-than (e.g. 30d)" in out.output
    out = runner.invoke(cli, ["purge", "--actor", "a", "--older-than", "1 month"])
    assert out.exit_code == 2 and "is not an age in days like 30d" in out.output


def test_bad_setting_is_named(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REVFLOW_RETENTION__PAYLOADS_DAYS", "-3")
    out = runner.invoke(cli, ["purge", "--actor", "a"])
    assert out.exit_code == 2 and "REVFLOW_RETENTION__PAYLOADS_DAYS" in out.output

"""`revflow audit verify|export` against a SQLite file."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import delete
from typer.testing import CliRunner

from revflow import audit
from revflow.audit.cli import parse_since
from revflow.cli import cli
from revflow.clock import frozen
from revflow.db.database import Database
from revflow.db.migrate import upgrade
from revflow.db.models import AuditEntry

runner = CliRunner()


@pytest.fixture
def url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path}/audit.sqlite"
    upgrade(url)
    monkeypatch.setenv("REVFLOW_DATABASE_URL", url)

    async def write() -> None:
        db = Database(url)
        for day in (1, 2, 3):
            with frozen(datetime(2026, 12, day, 9, 30, tzinfo=UTC)):
                async with db.write() as s:
                    audit.record(s, "user:ann", "plan.cancelled", plan_id=day, reason="dup")
        await db.dispose()

    asyncio.run(write())
    return url


def test_verify_intact_then_broken(url: str) -> None:
    out = runner.invoke(cli, ["audit", "verify"])
    assert out.exit_code == 0, out.output
    assert out.output.startswith("audit chain intact: 3 entries, head seq 3 hash ")
    head = out.output.split("hash ")[1].strip()

    out = runner.invoke(cli, ["audit", "verify", "--anchor", f"3:{head}"])
    assert out.exit_code == 0, out.output

    async def cut() -> None:
        db = Database(url)
        async with db.write() as s:
            await s.execute(delete(AuditEntry).where(AuditEntry.seq == 2))
        await db.dispose()

    asyncio.run(cut())
    out = runner.invoke(cli, ["audit", "verify"])
    assert out.exit_code == 1
    assert "audit: entry seq 2 is missing (deleted)" in out.output
    assert "audit chain broken (1 problem(s))" in out.output


def test_bad_anchor_is_usage_error(url: str) -> None:
    out = runner.invoke(cli, ["audit", "verify", "--anchor", "3-abc"])
    assert out.exit_code == 2 and "anchor '3-abc' is not <seq>:<64 hex digits>" in out.output


def test_export_since_as_json_lines(url: str, tmp_path: Path) -> None:
    target = tmp_path / "siem.jsonl"
    out = runner.invoke(cli, ["audit", "export", "--since", "2026-12-02", "-o", str(target)])
    assert out.exit_code == 0, out.output
    lines = [json.loads(line) for line in target.read_text().splitlines()]
    assert [(e["seq"], e["plan_id"]) for e in lines] == [(2, 2), (3, 3)]
    assert lines[0]["at"] == "2026-12-02T09:30:00+00:00"
    assert lines[0]["actor"] == "user:ann" and lines[0]["detail"] == {"reason": "dup"}
    assert lines[1]["prev_hash"] == lines[0]["hash"]
    # the next run ships only what is new
    out = runner.invoke(cli, ["audit", "export", "--after-seq", "3"])
    assert out.exit_code == 0 and out.stdout == ""


def test_since_forms() -> None:
    assert parse_since("2026-12-02") == datetime(2026, 12, 2, tzinfo=UTC)
    assert parse_since("2026-12-02T10:00+01:00") == datetime(2026, 12, 2, 9, tzinfo=UTC)
    with frozen(datetime(2026, 12, 3, tzinfo=UTC)):
        assert parse_since("36h") == datetime(2026, 12, 1, 12, tzinfo=UTC)
    with pytest.raises(ValueError, match="not an ISO 8601 time or an age"):
        parse_since("last week")

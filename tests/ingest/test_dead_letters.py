"""`revflow dead-letters list|replay` against a SQLite file: each command owns its
transaction; a replay that records an event commits it with the letter marked."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from revflow.cli import cli
from revflow.db.database import Database
from revflow.db.migrate import upgrade
from revflow.db.models import DeadLetter, ReceivedEvent
from tests.ingest.test_consumer import change

runner = CliRunner()


@pytest.fixture
def url(tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    url = f"sqlite+aiosqlite:///{tmp_path}/dead.sqlite"
    upgrade(url)
    monkeypatch.setenv("REVFLOW_DATABASE_URL", url)
    return url


def in_db(url: str, work):  # type: ignore[no-untyped-def]
    async def go():  # type: ignore[no-untyped-def]
        db = Database(url)
        try:
            return await work(db)
        finally:
            await db.dispose()

    return asyncio.run(go())


def test_list_then_replay_what_became_readable(url: str) -> None:
    broken = change("t9", 9)
    del broken["data"]["payload"]["ChangeEventHeader"]["transactionKey"]

    async def add(db: Database) -> list[int]:
        async with db.write() as s:
            letters = [
                DeadLetter(
                    source="ingest",
                    reference="/data/OrderChangeEvent",
                    reason="bad",
                    payload=broken,
                ),
                DeadLetter(
                    source="ingest",
                    reference="/data/OrderChangeEvent",
                    reason="was bad",
                    payload=change("t10", 10),
                ),
            ]
            s.add_all(letters)
            await s.flush()
            return [d.id for d in letters]

    unreadable, readable = in_db(url, add)
    listed = runner.invoke(cli, ["dead-letters", "list"])
    assert listed.exit_code == 0, listed.output
    assert listed.output.endswith("2 dead letter(s)\n")

    replayed = runner.invoke(cli, ["dead-letters", "replay"])
    assert replayed.exit_code == 1  # one is still unreadable
    lines = replayed.output.splitlines()
    assert lines[0].startswith(f"{unreadable}\tfailed\tstill unreadable")
    assert lines[1] == f"{readable}\tok\trecorded in the inbox"

    async def counts(db: Database) -> tuple[int, list[int]]:
        async with db.read() as s:
            events = await s.scalar(select(func.count()).select_from(ReceivedEvent))
            marked = (
                await s.scalars(select(DeadLetter.id).where(DeadLetter.replayed_at.is_not(None)))
            ).all()
        return int(events or 0), list(marked)

    assert in_db(url, counts) == (1, [readable])  # committed by the command
    after = runner.invoke(cli, ["dead-letters", "list"])
    assert after.output.endswith("1 dead letter(s)\n")
    assert "--all" in runner.invoke(cli, ["dead-letters", "list", "--help"]).output
    every = runner.invoke(cli, ["dead-letters", "list", "--all"])
    assert every.output.endswith("2 dead letter(s)\n") and "replayed" in every.output

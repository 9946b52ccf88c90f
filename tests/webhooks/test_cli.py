"""`revflow webhooks status|disable|enable|replay` against a SQLite file."""

from __future__ import annotations

import asyncio
import json

import pytest
from typer.testing import CliRunner

from revflow.cli import cli
from revflow.db.database import Database
from revflow.db.migrate import upgrade
from tests.webhookkit import ORDERS, endpoint, guarded, one_callout, receiver, step, worker

runner = CliRunner()
WHO = ["--actor", "ann", "--reason", "receiver fixed"]


@pytest.fixture
def url(tmp_path, monkeypatch):
    url = f"sqlite+aiosqlite:///{tmp_path}/cli.sqlite"
    upgrade(url)
    monkeypatch.setenv("REVFLOW_DATABASE_URL", url)
    monkeypatch.setenv("REVFLOW_ERP__URL", "http://127.0.0.1:9/hook")
    return url


def run(*args: str) -> tuple[int, str]:
    out = runner.invoke(cli, ["webhooks", *args])
    return out.exit_code, out.output


def test_status_disable_enable_replay(url):
    code, text = run("status")
    assert code == 0 and text.startswith("erp\tenabled\t0 failure(s)\thttp://127.0.0.1:9/hook")
    assert run("disable", "erp", "--actor", "bob", "--reason", "upgrade") == (0, "erp: disabled\n")

    async def park() -> tuple[str, int]:
        db = Database(url)
        try:
            async with receiver() as rec:
                pid = await one_callout(db, ORDERS[0])
                await worker(db, guarded(db, rec.url)).run_until_idle()
                assert rec.ids == []
            return f"msg_{(await step(db, pid)).idempotency_key}", pid
        finally:
            await db.dispose()

    message_id, pid = asyncio.run(park())
    code, text = run("status", "erp")
    assert code == 0
    assert "erp: disabled" in text and "disabled by bob: upgrade" in text
    assert "1 parked message(s)" in text and message_id in text
    code, text = run("status", "erp", "--json")
    assert json.loads(text)["parked"][0]["message_id"] == message_id

    code, text = run("replay", "erp", "--message-id", message_id, *WHO)
    assert code == 1 and "enable it first" in text
    assert run("enable", "erp", *WHO) == (0, "erp: enabled\n")
    assert run("enable", "erp", *WHO) == (0, "erp: enabled (already)\n")
    code, text = run("replay", "erp", "--since", "2000-01-01T00:00:00", *WHO)
    assert code == 0 and message_id in text and "1 message(s) replayed" in text

    async def check() -> None:
        db = Database(url)
        try:
            ep = await endpoint(db)
            assert ep is not None and ep.state == "enabled"
            assert (await step(db, pid)).state == "ready"
        finally:
            await db.dispose()

    asyncio.run(check())


@pytest.mark.parametrize(
    "args, code, words",
    [
        (["replay", "erp", *WHO], 2, "message_id, or since"),
        (["replay", "erp", "--since", "soon", *WHO], 2, "not an ISO 8601 time"),
        (["replay", "erp", "--message-id", "msg_x", *WHO], 1, "no parked message"),
        (["enable", "erp", "--actor", "ann", "--reason", " "], 2, "reason"),
        (["status", "bad name"], 2, "not a connector name"),
        (["status", "nope"], 1, "no webhook endpoint"),
    ],
)
def test_refusals_exit_nonzero_with_a_message(url, args, code, words):
    got, text = run(*args)
    assert got == code and words in text

"""`revflow fallout ...` against a SQLite file."""

from __future__ import annotations

import asyncio

import pytest
from typer.testing import CliRunner

from revflow.connectors.errors import FatalError
from revflow.db.database import Database
from revflow.db.migrate import upgrade
from revflow.orchestration.cli import fallout_cli
from tests.plankit import insert_plan, make_worker, states

runner = CliRunner()


def blocked(action, payload, ctx):
    raise FatalError("customer 42 is blocked")


@pytest.fixture
def held(tmp_path, monkeypatch):
    url = f"sqlite+aiosqlite:///{tmp_path}/cli.sqlite"
    upgrade(url)
    monkeypatch.setenv("REVFLOW_DATABASE_URL", url)

    async def setup():
        db = Database(url)
        pid = await insert_plan(
            db,
            [
                {"key": "so", "kind": "callout", "action": "so.create"},
                {"key": "task", "kind": "manual", "depends_on": ["so"]},
            ],
        )
        await make_worker(db, blocked).run_until_idle()
        await db.dispose()
        return pid

    return url, asyncio.run(setup())


def plan_state(url, pid):
    async def read():
        db = Database(url)
        plan, steps = await states(db, pid)
        await db.dispose()
        return plan.state, {k: s.state for k, s in steps.items()}

    return asyncio.run(read())


def test_list_retry_complete(held):
    url, pid = held
    out = runner.invoke(fallout_cli, ["list"])
    assert out.exit_code == 0, out.output
    assert f"{pid}\t8015e00000Q7mNpAAJ\tso\t1 attempt(s)" in out.output
    assert "customer 42 is blocked" in out.output and "1 failed step(s)" in out.output
    out = runner.invoke(
        fallout_cli,
        [
            "retry",
            str(pid),
            "so",
            "--actor",
            "ann",
            "--reason",
            "fixed",
            "--input",
            '{"payload": {}}',
        ],
    )
    assert out.exit_code == 0, out.output
    assert "so -> ready" in out.output and "plan in_progress" in out.output
    out = runner.invoke(fallout_cli, ["skip", str(pid), "so", "--actor", "ann", "--reason", "x"])
    assert out.exit_code == 0, out.output  # a ready step can be skipped too
    assert plan_state(url, pid) == ("in_progress", {"so": "skipped", "task": "ready"})


def test_refusals_and_bad_usage(held):
    url, pid = held
    out = runner.invoke(fallout_cli, ["complete", str(pid), "so", "--actor", "ann"])
    assert out.exit_code == 1 and "only a waiting" in out.output
    out = runner.invoke(fallout_cli, ["cancel", "999", "--actor", "ann", "--reason", "x"])
    assert out.exit_code == 1 and "no plan 999" in out.output
    out = runner.invoke(
        fallout_cli, ["retry", str(pid), "so", "--actor", "a", "--reason", "r", "--input", "[1]"]
    )
    assert out.exit_code == 2 and "JSON object" in out.output
    out = runner.invoke(fallout_cli, ["skip", str(pid), "so", "--actor", "ann"])
    assert out.exit_code == 2  # --reason is required


def test_skip_redrive_cancel(held):
    url, pid = held
    out = runner.invoke(
        fallout_cli, ["skip", str(pid), "so", "--actor", "ann", "--reason", "by hand"]
    )
    assert out.exit_code == 0, out.output
    out = runner.invoke(
        fallout_cli, ["redrive", str(pid), "so", "--actor", "ann", "--reason", "again"]
    )
    assert out.exit_code == 0, out.output
    assert plan_state(url, pid) == ("in_progress", {"so": "ready", "task": "pending"})
    out = runner.invoke(
        fallout_cli, ["cancel", str(pid), "--actor", "ann", "--reason", "withdrawn"]
    )
    assert out.exit_code == 0 and "plan cancelled" in out.output
    out = runner.invoke(fallout_cli, ["list"])
    assert "0 failed step(s)" in out.output


def test_a_blank_actor_is_bad_usage_and_changes_nothing(held):
    url, pid = held
    out = runner.invoke(fallout_cli, ["skip", str(pid), "so", "--actor", "  ", "--reason", "x"])
    assert out.exit_code == 2 and "actor must be 1 to 100 characters" in out.output
    assert plan_state(url, pid) == ("on_hold", {"so": "failed", "task": "pending"})

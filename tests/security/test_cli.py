"""`revflow keys ...` and `revflow users ...` against a SQLite file; the key printed
once authenticates against the API."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from revflow.api.app import create_app
from revflow.cli import cli
from revflow.db.database import Database
from revflow.db.migrate import upgrade
from revflow.security.keyring import generate_key

runner = CliRunner()


@pytest.fixture
def url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path}/keys.sqlite"
    upgrade(url)
    monkeypatch.setenv("REVFLOW_DATABASE_URL", url)
    return url


def status_with(url: str, key: str) -> int:
    async def call() -> int:
        db = Database(url)
        try:
            transport = httpx.ASGITransport(app=create_app(db))
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as api:
                r = await api.get("/api/fallout", headers={"Authorization": f"Bearer {key}"})
                return r.status_code
        finally:
            await db.dispose()

    return asyncio.run(call())


def test_keys_create_list_revoke(url: str) -> None:
    made = runner.invoke(cli, ["keys", "create", "--role", "viewer", "--name", "grafana"])
    assert made.exit_code == 0, made.output
    key = made.stdout.strip()
    assert key.startswith("rfk_") and "shown once" in made.stderr
    assert status_with(url, key) == 200
    listed = runner.invoke(cli, ["keys", "list", "--json"])
    (row,) = [json.loads(line) for line in listed.stdout.splitlines()]
    assert row["name"] == "grafana" and row["role"] == "viewer" and row["state"] == "active"
    assert row["last_used_at"] != "-" and key not in listed.stdout
    prefix = row["key"].removeprefix("key:")
    assert runner.invoke(cli, ["keys", "revoke", prefix, "--actor", "ops"]).exit_code == 0
    assert status_with(url, key) == 401
    again = runner.invoke(cli, ["keys", "revoke", prefix])
    assert again.exit_code == 1 and "revoked already" in again.stderr
    assert "(none)" in runner.invoke(cli, ["keys", "list"]).stdout


@pytest.mark.parametrize(
    "args, words",
    [
        (["--role", "root"], "not a role"),
        (["--role", "admin", "--expires", "5y"], "not a duration"),
        (["--role", "admin", "--name", "x" * 101], "key name"),
    ],
)
def test_keys_create_refuses_bad_input(url: str, args: list[str], words: str) -> None:
    r = runner.invoke(cli, ["keys", "create", *args])
    assert r.exit_code == 2 and words in r.stderr and "rfk_" not in r.stdout


def test_users_need_a_keyring_then_work(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    create = ["users", "create", "alice", "--role", "operator", "--password-stdin"]
    r = runner.invoke(cli, create, input="correct horse battery\n")
    assert r.exit_code == 2 and "REVFLOW_KEYRING__KEYS" in r.stderr
    monkeypatch.setenv("REVFLOW_KEYRING__KEYS", generate_key())
    r = runner.invoke(cli, create, input="short\n")
    assert r.exit_code == 2 and "12 to 1024" in r.stderr
    r = runner.invoke(cli, create, input="correct horse battery\n")
    assert r.exit_code == 0, r.output
    assert "otpauth://totp/Revflow:alice?secret=" in r.stdout
    assert len([ln for ln in r.stdout.splitlines() if ln.count("-") == 3]) == 10
    r = runner.invoke(cli, ["users", "set-role", "alice", "--role", "admin"])
    assert r.exit_code == 0 and "user:alice is admin" in r.stdout
    assert runner.invoke(cli, ["users", "disable", "alice"]).exit_code == 0
    listed = runner.invoke(cli, ["users", "list", "--json"]).stdout
    assert json.loads(listed)["state"] == "disabled" and json.loads(listed)["role"] == "admin"
    r = runner.invoke(cli, ["users", "set-role", "carol", "--role", "admin"])
    assert r.exit_code == 1 and "no local user 'carol'" in r.stderr

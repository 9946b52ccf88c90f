"""`revflow secrets generate-key|status|rotate-key` against a SQLite file."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from typer.testing import CliRunner

from revflow.cli import cli
from revflow.db import encrypted
from revflow.db.database import Database
from revflow.db.migrate import upgrade
from revflow.db.models import OrderSnapshot
from revflow.security.keyring import Keyring, key_id
from revflow.vault import store

runner = CliRunner()


@pytest.fixture
def url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path}/secrets.sqlite"
    upgrade(url)
    monkeypatch.setenv("REVFLOW_DATABASE_URL", url)
    return url


def write(url: str, ring: Keyring) -> None:
    async def go() -> None:
        encrypted.configure(ring, encrypt_payloads=True)
        db = Database(url)
        async with db.write() as s:
            s.add(OrderSnapshot(order_id="801000000000001", record={"Name": "Acme"}))
            await store.put(s, "connector:qbo:refresh_token", "rt-1")
        await db.dispose()
        encrypted.configure(None)

    asyncio.run(go())


def test_generate_status_rotate(url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    old = runner.invoke(cli, ["secrets", "generate-key"]).stdout.strip()
    new = runner.invoke(cli, ["secrets", "generate-key"]).stdout.strip()
    assert old != new and len(old) == 44
    write(url, Keyring([old]))

    keys = tmp_path / "keys"
    keys.write_text(f"{new}\n{old}  # retiring\n")
    monkeypatch.setenv("REVFLOW_KEYRING__KEYS_FILE", str(keys))
    out = runner.invoke(cli, ["secrets", "status"])
    assert out.exit_code == 0, out.output
    assert f"keyring: {key_id(new)}, {key_id(old)}" in out.output
    assert f"order_snapshots.record\t{key_id(old)}: 1\tplain: 0" in out.output
    assert f"stored_secrets.value\t{key_id(old)}: 1\tplain: 0" in out.output

    out = runner.invoke(cli, ["secrets", "rotate-key", "--actor", "ops:ann"])
    assert out.exit_code == 0, out.output
    assert "order_snapshots.record\trotated 1" in out.output
    assert "done: 2 value(s) re-wrapped" in out.output

    keys.write_text(f"{new}\n")  # the old key goes
    out = runner.invoke(cli, ["secrets", "status"])
    assert f"order_snapshots.record\t{key_id(new)} (newest): 1\tplain: 0" in out.output
    out = runner.invoke(cli, ["audit", "export"])
    assert '"action": "secrets.key_rotated"' in out.stdout and '"actor": "ops:ann"' in out.stdout
    assert old not in out.output and new not in out.output


def test_missing_old_key_and_bad_key_file_are_named(
    url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    old = runner.invoke(cli, ["secrets", "generate-key"]).stdout.strip()
    new = runner.invoke(cli, ["secrets", "generate-key"]).stdout.strip()
    write(url, Keyring([old]))
    monkeypatch.setenv("REVFLOW_KEYRING__KEYS", new)  # the old key dropped too soon
    out = runner.invoke(cli, ["secrets", "rotate-key", "--actor", "ops:ann"])
    assert out.exit_code == 1
    assert f"under key {key_id(old)}, which is not in the keyring" in out.output
    monkeypatch.delenv("REVFLOW_KEYRING__KEYS")
    keys = tmp_path / "keys"
    keys.write_text(f"{new}\n{old[:20]}\n")
    monkeypatch.setenv("REVFLOW_KEYRING__KEYS_FILE", str(keys))
    out = runner.invoke(cli, ["secrets", "status"])
    assert out.exit_code == 2 and f"{keys} line 2 is not a Fernet key" in out.output
    assert old[:20] not in out.output
    monkeypatch.delenv("REVFLOW_KEYRING__KEYS_FILE")
    out = runner.invoke(cli, ["secrets", "rotate-key", "--actor", "ops:ann"])
    assert (
        out.exit_code == 1
        and "no encryption key" not in out.output
        or "needs the keyring" in out.output
    )

"""``revflow secrets ...``: keys for the keyring, where each key is used, key rotation.

Register with ``cli.add_typer(secrets_cli, name="secrets")``.  Exit codes: 0 done,
1 refused (no keyring, a value no key opens), 2 bad usage.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from revflow import audit
from revflow.cli_options import Actor, ConfigOption, fail, run_with_database
from revflow.config import Settings
from revflow.db.database import Database
from revflow.db.encrypted import current_keyring
from revflow.security.keyring import KeyringError, generate_key
from revflow.vault.rotation import ColumnKeys, columns, key_status, rotate_page

secrets_cli = typer.Typer(
    help="Encryption at rest: keys, which key wraps what, key rotation.", no_args_is_help=True
)


@secrets_cli.command("generate-key")
def generate_key_command() -> None:
    """Print a new random key (put it first in REVFLOW_KEYRING__KEYS or the keys file)."""
    typer.echo(generate_key())


def _line(t: ColumnKeys, primary: str | None) -> str:
    keys = ", ".join(
        f"{k}{' (newest)' if k == primary else ''}: {n}" for k, n in sorted(t.by_key.items())
    )
    return f"{t.name}\t{keys or 'no encrypted values'}\tplain: {t.plain}"


@secrets_cli.command("status")
def status_command(config: ConfigOption = None) -> None:
    """For each encrypted column: values per key id, and values stored unencrypted."""

    async def action(db: Database, settings: Settings) -> list[str]:
        try:
            ring: Any = current_keyring()
        except KeyringError:
            ring = None
        typer.echo(f"keyring: {', '.join(ring.key_ids) if ring else 'not configured'}")
        async with db.read() as s:
            return [_line(await key_status(s, c), ring and ring.primary_id) for c in columns()]

    for line in run_with_database(config, action):
        typer.echo(line)


@secrets_cli.command("rotate-key")
def rotate_key_command(
    actor: Actor,
    batch: Annotated[int, typer.Option(min=1, max=10000, help="Rows per transaction.")] = 500,
    config: ConfigOption = None,
) -> None:
    """Re-wrap every encrypted value under the newest key, a batch per transaction."""

    async def action(db: Database, settings: Settings) -> list[ColumnKeys]:
        try:
            ring = current_keyring()
        except KeyringError as exc:
            fail(str(exc), 1)
        tallies = []
        for col in columns():
            tally, after = ColumnKeys(f"{col.table.name}.{col.name}"), None
            while True:
                async with db.write() as s:
                    after = await rotate_page(s, ring, col, after, batch, tally)
                if after is None:
                    break
            tallies.append(tally)
        async with db.write() as s:
            audit.record(
                s,
                actor,
                "secrets.key_rotated",
                key_id=ring.primary_id,
                rotated={t.name: t.rotated for t in tallies if t.rotated},
            )
        return tallies

    try:
        tallies = run_with_database(config, action)
    except KeyringError as exc:  # a value under a key no longer in the keyring
        fail(str(exc), 1)
    for t in tallies:
        typer.echo(f"{t.name}\trotated {t.rotated}\tplain {t.plain}")
    typer.echo(f"done: {sum(t.rotated for t in tallies)} value(s) re-wrapped")

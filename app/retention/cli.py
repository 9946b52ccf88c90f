"""``revflow purge``: purge payloads of finished work older than the retention age.

Register with ``cli.command("purge")(purge_command)``.  Exit codes: 0 done, 2 bad usage
(no age given and ``REVFLOW_RETENTION__PAYLOADS_DAYS`` unset).
"""

from __future__ import annotations

import re
from typing import Annotated

import typer

from revflow.cli_options import Actor, ConfigOption, fail, run_with_database
from revflow.config import Settings
from revflow.db.database import Database
from revflow.retention.purge import count_due, cutoff_for, purge

_DAYS = re.compile(r"^(\d+(?:\.\d+)?)d$")


def purge_command(
    actor: Actor,
    older_than: Annotated[
        str | None,
        typer.Option(
            "--older-than", help="Age like 30d (default: REVFLOW_RETENTION__PAYLOADS_DAYS)."
        ),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Count only; change nothing.")] = False,
    config: ConfigOption = None,
) -> None:
    """Purge payloads (snapshots, attempt errors, sent write-backs, signals, dead letters)."""

    async def action(db: Database, settings: Settings) -> dict[str, int]:
        days = settings.retention.payloads_days
        if older_than is not None:
            match = _DAYS.match(older_than)
            if not match or float(match[1]) <= 0:
                fail(f"--older-than {older_than!r} is not an age in days like 30d")
            days = float(match[1])
        if days is None:
            fail("give --older-than (e.g. 30d) or set REVFLOW_RETENTION__PAYLOADS_DAYS")
        cutoff = cutoff_for(days)
        if dry_run:
            return await count_due(db, cutoff)
        return await purge(db, cutoff, actor=actor, batch_size=settings.retention.batch_size)

    counts = run_with_database(config, action)
    verb = "would purge" if dry_run else "purged"
    for name, n in counts.items():
        typer.echo(f"{name}\t{n}")
    typer.echo(f"{verb} {sum(counts.values())} payload(s)")

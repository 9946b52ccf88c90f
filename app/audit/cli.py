"""``revflow audit ...``: check the hash chain, export entries for a SIEM.

Register with ``cli.add_typer(audit_cli, name="audit")``.  ``verify`` exits 0 when
the chain holds, 1 with one line per problem when it does not.
"""

from __future__ import annotations

import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer

from revflow.audit.export import export
from revflow.audit.verify import parse_anchor, verify
from revflow.cli_options import ConfigOption, fail, run_in_transaction
from revflow.clock import utcnow

audit_cli = typer.Typer(
    help="The audit log: verify its hash chain, export it.", no_args_is_help=True
)

_AGE = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_since(text: str) -> datetime:
    """An ISO 8601 date or time (naive means UTC), or an age like ``7d``, ``12h``."""
    age = _AGE.match(text.strip())
    if age:
        return utcnow() - timedelta(**{_UNITS[age[2]]: int(age[1])})
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"--since {text!r} is not an ISO 8601 time or an age like 7d") from None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


@audit_cli.command("verify")
def verify_command(
    anchor: Annotated[
        list[str] | None,
        typer.Option("--anchor", help="seq:hash noted earlier (a head, a SIEM line); repeatable."),
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Recompute every entry's hash and link; report edited, deleted or unsealed entries."""
    try:
        anchors = dict(parse_anchor(a) for a in anchor or [])
    except ValueError as exc:
        fail(str(exc))
    verdict = run_in_transaction(config, lambda s, _settings: verify(s, anchors))
    for problem in verdict.problems:
        typer.echo(f"audit: {problem}", err=True)
    summary = f"{verdict.entries} entries, head seq {verdict.head_seq} hash {verdict.head_hash}"
    if not verdict.ok:
        fail(f"audit chain broken ({len(verdict.problems)} problem(s)); {summary}", 1)
    typer.echo(f"audit chain intact: {summary}")


@audit_cli.command("export")
def export_command(
    since: Annotated[
        str | None, typer.Option("--since", help="ISO 8601 time or an age (7d, 12h).")
    ] = None,
    after_seq: Annotated[
        int, typer.Option("--after-seq", min=0, help="Only entries after this seq.")
    ] = 0,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to append to; stdout if omitted.")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Write entries as JSON lines (seq, at, actor, action, ..., prev_hash, hash)."""
    try:
        start = parse_since(since) if since else None
    except ValueError as exc:
        fail(str(exc))
    out = output.open("a", encoding="utf-8") if output else sys.stdout
    try:
        count, last = run_in_transaction(
            config, lambda s, _settings: export(s, out, since=start, after_seq=after_seq)
        )
    finally:
        if output:
            out.close()
    typer.echo(f"exported {count} entries (last seq {last})", err=True)

"""``revflow webhooks ...``: webhook endpoint state, enable/disable, replay parked messages.

Register with ``cli.add_typer(webhooks_cli, name="webhooks")``.  Actions need
``--actor`` and ``--reason`` (both go to the audit log).  Exit codes: 0 done,
1 refused (unknown endpoint or message, not allowed now), 2 bad usage.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from revflow.cli_options import Actor, ConfigOption, Reason, fail, refused, run_in_transaction
from revflow.clock import aware
from revflow.config import Settings
from revflow.webhooks import actions
from revflow.webhooks import status as status_view
from revflow.webhooks.errors import OperatorError

webhooks_cli = typer.Typer(
    help="Webhook endpoints: state, parked messages, enable, replay.", no_args_is_help=True
)

Connector = Annotated[str, typer.Argument(help="The webhook connector (e.g. erp).")]


def _configured(settings: Settings) -> dict[str, str]:
    """Every webhook connector's URL by name."""
    return {
        name: str(getattr(c, "url", ""))
        for name, c in settings.all_connectors().items()
        if c.type == "webhook"
    }


def _run(
    config: Path | None,
    action: Callable[[AsyncSession, Settings], Awaitable[Any]],
    *,
    write: bool = False,
) -> Any:
    """Run ``action`` in one transaction (the command owns it)."""
    try:
        return run_in_transaction(config, action, write=write)
    except OperatorError as exc:
        refused(exc)


def _when(text: str | None, what: str) -> datetime | None:
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        fail(f"{what} is not an ISO 8601 time: {text!r}", 2)
    return aware(value)


def _show(value: Any) -> str:
    return json.dumps(value, default=str, indent=2)


@webhooks_cli.command()
def status(
    connector: Annotated[str | None, typer.Argument(help="One endpoint; all if omitted.")] = None,
    config: ConfigOption = None,
    attempts: Annotated[int, typer.Option(min=1, max=1000)] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The endpoints' state; with CONNECTOR also its parked messages and latest attempts."""
    if connector is None:
        rows = _run(config, lambda session, s: status_view.list_endpoints(session, _configured(s)))
        if as_json:
            typer.echo(_show(rows))
            return
        for r in rows:
            why = f"\t{r['disabled_reason']}" if r["disabled_reason"] else ""
            typer.echo(
                f"{r['connector']}\t{r['state']}\t{r['consecutive_failures']} failure(s)"
                f"\t{r['url']}{why}"
            )
        return
    info = _run(
        config,
        lambda session, s: status_view.status(
            session, connector, _configured(s), attempts=attempts
        ),
    )
    if as_json:
        typer.echo(_show(info))
        return
    typer.echo(f"{info['connector']}: {info['state']} ({info['url']})")
    if info["disabled_reason"]:
        typer.echo(f"disabled at {info['disabled_at']} by {info['disabled_by']}: ")
        typer.echo(f"  {info['disabled_reason']}")
    typer.echo(f"{info['consecutive_failures']} failed attempt(s) in a row")
    typer.echo(f"{info['parked_count']} parked message(s)")
    for m in info["parked"]:
        typer.echo(f"  {m['message_id']}\t{m['order_id']}\t{m['step']}\t{m['created_at']}")
    typer.echo("latest attempts:")
    for a in info["attempts"]:
        typer.echo(
            f"  {a['finished_at']}\t{a['message_id']}\t#{a['attempt']}\t{a['outcome']}"
            f"\t{a['status_code'] or '-'}\t{a['error'] or ''}"
        )


@webhooks_cli.command()
def enable(connector: Connector, actor: Actor, reason: Reason, config: ConfigOption = None) -> None:
    """Enable a disabled endpoint (its parked messages stay parked until replayed)."""
    out = _run(
        config,
        lambda session, s: actions.enable(session, connector, actor=actor, reason=reason),
        write=True,
    )
    typer.echo(f"{connector}: {out['state']}" + ("" if out["changed"] else " (already)"))


@webhooks_cli.command()
def disable(
    connector: Connector, actor: Actor, reason: Reason, config: ConfigOption = None
) -> None:
    """Disable an endpoint by hand: its messages are parked, not sent."""
    out = _run(
        config,
        lambda session, s: actions.disable(
            session, connector, _configured(s).get(connector, ""), actor=actor, reason=reason
        ),
        write=True,
    )
    typer.echo(f"{connector}: {out['state']}")


@webhooks_cli.command()
def replay(
    connector: Connector,
    actor: Actor,
    reason: Reason,
    message_id: Annotated[
        str | None, typer.Option("--message-id", help="The webhook-id of one message.")
    ] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="From this time (ISO 8601; naive = UTC).")
    ] = None,
    until: Annotated[str | None, typer.Option("--until", help="Before this time.")] = None,
    config: ConfigOption = None,
) -> None:
    """Send parked messages again, keeping their webhook-id: one, or a time range."""
    start, end = _when(since, "--since"), _when(until, "--until")
    out = _run(
        config,
        lambda session, s: actions.replay(
            session,
            s.writeback,
            connector,
            actor=actor,
            reason=reason,
            message_id=message_id,
            since=start,
            until=end,
        ),
        write=True,
    )
    for m in out["messages"]:
        typer.echo(f"{m['message_id']}\t{m['order_id']}\t{m['step']}")
    typer.echo(f"{out['replayed']} message(s) replayed")

"""``revflow fallout ...``: the fallout queue and operator actions from a shell.

Register with ``cli.add_typer(fallout_cli, name="fallout")``.  Every action needs
``--actor`` and (except ``complete``) ``--reason``; both go to the audit log.
Exit codes: 0 done, 1 refused (unknown plan or step, not allowed now), 2 bad usage.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from revflow.cli_options import Actor, ConfigOption, Reason, fail, refused, run_with_database
from revflow.config import Settings
from revflow.db.database import Database
from revflow.orchestration import operator
from revflow.orchestration.errors import OperatorError
from revflow.orchestration.operator import ActionResult

fallout_cli = typer.Typer(
    help="Fallout: failed steps waiting for an operator, and what to do with them.",
    no_args_is_help=True,
)

PlanId = Annotated[int, typer.Argument(help="The plan id.", min=1)]
StepKey = Annotated[str, typer.Argument(help="The step key.")]


def _json(text: str | None, what: str) -> dict[str, Any] | None:
    if text is None:
        return None
    raw = Path(text[1:]).read_text() if text.startswith("@") else text
    try:
        value = json.loads(raw)
    except (ValueError, OSError) as exc:
        fail(f"{what} is not valid JSON: {exc}", 2)
    if not isinstance(value, dict):
        fail(f"{what} must be a JSON object", 2)
    return value  # type: ignore[no-any-return]


def _act(
    config: Path | None,
    action: Callable[[AsyncSession, Settings], Awaitable[ActionResult]],
) -> None:
    """Run an operator action in one transaction (a refusal rolls it back)."""

    async def in_transaction(db: Database, settings: Settings) -> ActionResult:
        async with db.write() as s:
            return await action(s, settings)

    try:
        result = run_with_database(config, in_transaction)
    except OperatorError as exc:
        refused(exc)
    changed = ", ".join(f"{k} -> {v}" for k, v in result.changed.items()) or "no step changed"
    typer.echo(f"plan {result.plan_id}: {result.action} done ({changed}); plan {result.plan_state}")


@fallout_cli.command("list")
def list_(
    config: ConfigOption = None,
    order: Annotated[str | None, typer.Option("--order", help="Only this Order id.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10000)] = 100,
) -> None:
    """Failed steps of plans on hold, oldest first."""

    async def fallout(db: Database, _settings: Settings) -> list[operator.FalloutItem]:
        async with db.read() as s:
            return await operator.list_fallout(s, order_id=order, limit=limit)

    items = run_with_database(config, fallout)
    for i in items:
        since = f"{i.since:%Y-%m-%d %H:%M:%S}" if i.since else "-"
        typer.echo(
            f"{i.plan_id}\t{i.order_id}\t{i.step}\t{i.attempts} attempt(s)\tsince {since}"
            f"\t{i.error or ''}"
        )
    typer.echo(f"{len(items)} failed step(s)")


@fallout_cli.command()
def retry(
    plan_id: PlanId,
    step: StepKey,
    actor: Actor,
    reason: Reason,
    input: Annotated[
        str | None, typer.Option("--input", help="New step input: JSON, or @file.json.")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Run a failed step again (optionally with new input)."""
    new_input = _json(input, "--input")
    _act(
        config,
        lambda s, settings: operator.retry(
            s, settings.writeback, plan_id, step, actor=actor, reason=reason, input=new_input
        ),
    )


@fallout_cli.command()
def skip(
    plan_id: PlanId, step: StepKey, actor: Actor, reason: Reason, config: ConfigOption = None
) -> None:
    """Skip a step; what depends on it may run."""
    _act(
        config,
        lambda s, settings: operator.skip(
            s, settings.writeback, plan_id, step, actor=actor, reason=reason
        ),
    )


@fallout_cli.command()
def complete(
    plan_id: PlanId,
    step: StepKey,
    actor: Actor,
    reason: Annotated[str, typer.Option("--reason", help="Why (optional).")] = "",
    output: Annotated[
        str | None, typer.Option("--output", help="Task output: JSON, or @file.json.")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Complete a waiting manual task."""
    out = _json(output, "--output")
    _act(
        config,
        lambda s, settings: operator.complete(
            s, settings.writeback, plan_id, step, actor=actor, reason=reason, output=out
        ),
    )


@fallout_cli.command()
def redrive(
    plan_id: PlanId, step: StepKey, actor: Actor, reason: Reason, config: ConfigOption = None
) -> None:
    """Re-run a plan from a failed step; completed steps are kept."""
    _act(
        config,
        lambda s, settings: operator.redrive(
            s, settings.writeback, plan_id, step, actor=actor, reason=reason
        ),
    )


@fallout_cli.command()
def cancel(plan_id: PlanId, actor: Actor, reason: Reason, config: ConfigOption = None) -> None:
    """Cancel a plan (it ends failed if it had fallout, else cancelled)."""
    _act(
        config,
        lambda s, settings: operator.cancel(
            s, settings.writeback, plan_id, actor=actor, reason=reason
        ),
    )

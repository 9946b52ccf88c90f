"""``revflow alerts``: check a rules file, and show who a rule would tell, without sending.

Register with ``cli.add_typer(alerts_cli, name="alerts")``.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from revflow.cli_options import ConfigOption, fail, settings_or_exit
from revflow.config import ConfigError, Settings

alerts_cli = typer.Typer(
    help="Alert rules: check them, and try them on an order.", no_args_is_help=True
)

RulesOption = Annotated[
    Path | None,
    typer.Option("--rules", help="Rules file (default: REVFLOW_ALERTS__RULES_FILE)."),
]


def _rules_path(settings: Settings, given: Path | None) -> Path:
    from revflow.resources import shipped

    return given or settings.alerts.rules_file or shipped("alerts") / "rules.yaml"


@alerts_cli.command("lint")
def alerts_lint(
    file: Annotated[
        Path | None,
        typer.Argument(help="Rules file (default: the configured one, else the shipped example)."),
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Check an alert rules file; print file:line:col: message [key]."""
    from revflow.alerts.rules_file import lint_rules_file

    settings = settings_or_exit(config)
    path = _rules_path(settings, file)
    problems = lint_rules_file(path)
    for p in problems:
        typer.echo(f"{p} [{p.key}]" if p.key else str(p))
    if problems:
        fail(f"{len(problems)} problem(s) found", code=1)
    typer.echo(f"{path}: alert rules OK")


@alerts_cli.command("test")
def alerts_test(
    rule: Annotated[str, typer.Argument(help="The rule's name.")],
    order: Annotated[
        str, typer.Option("--order", help="A Salesforce Order id, or a JSON record file.")
    ],
    event: Annotated[
        str | None, typer.Option(help="The event (default: the rule's first).")
    ] = None,
    connector: Annotated[str | None, typer.Option(help="The failing step's connector.")] = None,
    error_class: Annotated[str | None, typer.Option(help="The error's class.")] = None,
    plan: Annotated[str | None, typer.Option(help="The plan definition's name.")] = None,
    rules: RulesOption = None,
    config: ConfigOption = None,
) -> None:
    """Show whether RULE alerts on the order, and who would be told what; sends nothing."""
    from revflow.alerts.errors import AlertRuleError
    from revflow.alerts.events import AlertEvent
    from revflow.alerts.message import EventKind
    from revflow.alerts.rules_file import load_rules_file

    settings = settings_or_exit(config)
    try:
        ruleset = load_rules_file(_rules_path(settings, rules))
    except AlertRuleError as exc:
        fail(str(exc))
    found = ruleset.rule(rule)
    if found is None:
        fail(f"no rule {rule!r} (rules: {', '.join(r.name for r in ruleset.rules) or 'none'})")
    try:
        kind = EventKind(event) if event else sorted(found.events)[0]
    except ValueError:
        fail(f"unknown event {event!r} (one of: {', '.join(k.value for k in EventKind)})")
    record = _record(settings, order)
    order_id = str(record.get("Id") or "")
    ev = AlertEvent(
        kind,
        f"order:{order_id}",
        "",
        "",
        plan_definition=plan,
        order_id=order_id or None,
        order=record,
        connector=connector,
        error_class=error_class,
    )
    owner = asyncio.run(_owner(settings, record))
    typer.echo("\n".join(describe(ruleset, found, ev, owner)))


def describe(ruleset: Any, rule: Any, event: Any, owner: str | None) -> list[str]:
    """The lines ``alerts test`` prints (pure, for tests)."""
    from revflow.alerts.channels.base import RecipientKind
    from revflow.alerts.events import order_number
    from revflow.plans.rules import format_duration

    label = order_number(event.order) or event.order_id or "the order"
    failing = ruleset.failing(rule, event)
    if failing:
        return [f"rule {rule.name} does not alert on {event.kind.value} for order {label}:"] + [
            f"  - {why}" for why in failing
        ]
    out = [
        f"rule {rule.name} alerts on {event.kind.value} for order {label} "
        f"(severity {rule.severity.value}); nothing is sent by this command"
    ]
    for n, level in enumerate(rule.levels):
        when = "at once" if n == 0 else f"after {format_duration(level.after_s)} unacknowledged"
        out.append(f"level {n} ({when}):")
        for t in level.targets:
            if t.to is RecipientKind.OWNER:
                who = f"the Order's owner: {owner}"
            elif t.to is RecipientKind.USER:
                who = f"user {t.name}"
            else:
                team = ruleset.on_call if t.to is RecipientKind.ON_CALL else ruleset.teams[t.name]
                addresses = ", ".join(f"{c}: {a}" for c, a in team.addresses.items())
                who = f"{'on call' if t.name is None else 'team ' + t.name} ({addresses})"
            out.append(f"  {who} via {', '.join(t.channels)}")
    if rule.digest_s:
        out.append(
            f"first messages wait for a digest every {format_duration(rule.digest_s)} "
            "(one message per recipient and channel)"
        )
    if rule.throttle is not None:
        out.append(
            f"at most {rule.throttle.count} alert(s) per {format_duration(rule.throttle.per_s)}"
        )
    return out


def _record(settings: Settings, order: str) -> dict[str, Any]:
    if Path(order).is_file():
        try:
            data = json.loads(Path(order).read_text())
        except ValueError as exc:
            fail(f"{order}: {exc}")
        if not isinstance(data, dict):
            fail(f"{order}: not a JSON object (an Order record)")
        return data
    from revflow.cli_plans import _fetch_order

    record = asyncio.run(_fetch_order(settings, order))
    return dict(record)


async def _owner(settings: Settings, record: dict[str, Any]) -> str:
    """The owner as the org names them, or what the record says when the org is unknown."""
    from revflow.alerts.errors import AlertDeliveryError
    from revflow.alerts.owners import OrgOwners
    from revflow.incidents import is_permanent
    from revflow.salesforce.client import SalesforceClient

    owner_id = record.get("OwnerId")
    try:
        settings.require_org([])
    except ConfigError:
        return f"OwnerId {owner_id}" if owner_id else "read from the org when sent"
    client = SalesforceClient.from_settings(settings.salesforce)
    try:
        found = await OrgOwners(client, permanent=is_permanent).owner(record.get("Id"), owner_id)
        return f"{found.name} <{found.email or 'no email'}> ({found.salesforce_user_id})"
    except AlertDeliveryError as exc:
        return f"not found ({exc})"
    finally:
        await client.aclose()

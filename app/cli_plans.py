"""``revflow plans``: check plan files and explain the plan an order would get.

Here rather than in app/plans, which stays pure (tests/plans/test_purity.py).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from revflow.cli_options import ConfigOption, fail, settings_or_exit
from revflow.config import ConfigError, Settings
from revflow.resources import default_plans_dir

plans_cli = typer.Typer(help="Check plan definitions and explain plans.", no_args_is_help=True)


@plans_cli.command("lint")
def plans_lint(
    paths: Annotated[list[Path] | None, typer.Argument(help="Files or folders.")] = None,
    config: ConfigOption = None,
) -> None:
    """Check plan definition files (cycles included); print file:line:col: message."""
    from revflow.mapping import MappingLoadError, load_directory
    from revflow.plans.files import lint_plan_paths

    settings = settings_or_exit(config)
    try:
        mappings: set[str] | None = set(load_directory(settings.mappings_dir))
    except MappingLoadError:
        mappings = None  # `revflow mappings lint` reports those
    targets = paths or [default_plans_dir()]
    problems = lint_plan_paths(targets, mappings=mappings, connectors=settings.connector_actions())
    for problem in problems:
        typer.echo(str(problem))
    if problems:
        fail(f"{len(problems)} problem(s) found", code=1)
    typer.echo("plans OK")


@plans_cli.command("explain")
def plans_explain(
    order: Annotated[
        str, typer.Argument(help="A Salesforce Order or Quote id, or a JSON record file.")
    ],
    plan: Annotated[
        Path | None, typer.Option(help="Plan file (default: the configured plan).")
    ] = None,
    scenario: Annotated[str, typer.Option(help="new, amendment or cancellation.")] = "new",
    config: ConfigOption = None,
) -> None:
    """Print the plan that would be built for an order (or a Quote: its id, or a plan
    file with ``source: Quote``), and why each rule fired or not."""
    from revflow.plans.explain import explain
    from revflow.salesforce.targets import sobject_of

    settings = settings_or_exit(config)
    quote = plan is None and sobject_of(order) == "Quote" and not Path(order).is_file()
    definition = _quote_plan(settings) if quote else _plan_definition(settings, plan)
    if Path(order).is_file():
        try:
            record = json.loads(Path(order).read_text())
        except ValueError as exc:
            fail(f"{order}: {exc}")
    else:
        record = asyncio.run(_fetch_order(settings, order, definition.source))
    typer.echo(explain(definition, record, scenario).render())


def _quote_plan(settings: Settings) -> Any:
    """The configured (or shipped) Quote plan, whether or not Quotes are enabled."""
    from revflow.plans.files import PlanLoadError, load_plan_file
    from revflow.resources import shipped
    from revflow.service import QUOTE_PLAN

    try:
        return load_plan_file(settings.quotes.plan_file or shipped("plans") / QUOTE_PLAN)
    except PlanLoadError as exc:
        fail(str(exc))


def _plan_definition(settings: Settings, plan: Path | None) -> Any:
    from revflow.plans.files import PlanLoadError, load_plan_file
    from revflow.service import plan_definition

    if plan is None and settings.plan_file is None:
        return plan_definition(settings)
    try:
        return load_plan_file(plan or settings.plan_file)  # type: ignore[arg-type]
    except PlanLoadError as exc:
        fail(str(exc))


async def _fetch_order(settings: Settings, order_id: str, source: str = "Order") -> dict[str, Any]:
    from revflow.salesforce.auth import AuthError
    from revflow.salesforce.client import SalesforceClient
    from revflow.salesforce.errors import SalesforceError
    from revflow.salesforce.orders import fetch_orders, query_fields
    from revflow.salesforce.org_check import OrgCheckError, single_currency
    from revflow.salesforce.quotes import fetch_quotes, quote_fields

    try:
        settings.require_org()
    except ConfigError as exc:
        fail(f"{exc} (or pass a JSON record file)")
    client = SalesforceClient.from_settings(settings.salesforce)
    what = source.lower()
    try:  # a single-currency org has no CurrencyIsoCode to select
        currency = await single_currency(client, settings)
        if source == "Quote":
            found = await fetch_quotes(client, [order_id], quote_fields([], currency))
        else:
            found = await fetch_orders(client, [order_id], query_fields([], currency))
    except (AuthError, SalesforceError, OrgCheckError) as exc:
        fail(f"reading {what} {order_id} failed: {exc}")
    finally:
        await client.aclose()
    if order_id not in found:
        fail(f"{what} {order_id} not found in Salesforce")
    return found[order_id]

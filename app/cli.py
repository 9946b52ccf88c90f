"""The ``revflow`` command."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from revflow.audit.cli import audit_cli
from revflow.cli_options import ConfigOption, fail, run_in_transaction, settings_or_exit
from revflow.config import ConfigError, Settings
from revflow.orchestration.cli import fallout_cli
from revflow.resources import default_mappings_dir, default_plans_dir
from revflow.retention.cli import purge_command
from revflow.vault.cli import secrets_cli
from revflow.webhooks.cli import webhooks_cli

cli = typer.Typer(
    help="Revflow: order orchestration between Salesforce and your ERP and accounting systems.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
db_cli = typer.Typer(help="Database schema commands.", no_args_is_help=True)
mappings_cli = typer.Typer(help="Check and try mapping files.", no_args_is_help=True)
cli.add_typer(db_cli, name="db")
cli.add_typer(fallout_cli, name="fallout")
cli.add_typer(webhooks_cli, name="webhooks")
plans_cli = typer.Typer(help="Check plan definitions and explain plans.", no_args_is_help=True)
cli.add_typer(plans_cli, name="plans")
dead_cli = typer.Typer(help="Events that could not be processed.", no_args_is_help=True)
cli.add_typer(mappings_cli, name="mappings")
cli.add_typer(dead_cli, name="dead-letters")
cli.add_typer(audit_cli, name="audit")
cli.add_typer(secrets_cli, name="secrets")
cli.command("purge")(purge_command)


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"revflow {version('revflow')}")
        raise typer.Exit()


@cli.callback()
def _options(
    _version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version."
        ),
    ] = False,
) -> None:
    """Revflow: order orchestration between Salesforce and your ERP and accounting systems."""


@db_cli.command("upgrade")
def db_upgrade(config: ConfigOption = None) -> None:
    """Create or migrate the database schema to the newest version."""
    from revflow.db.startup import DatabaseStartupError, upgrade_database

    settings = settings_or_exit(config)
    try:
        upgrade_database(settings.database_url, settings.database_wait_s)
    except DatabaseStartupError as exc:
        fail(str(exc), code=1)
    typer.echo("database is at the newest schema")


@mappings_cli.command("lint")
def mappings_lint(
    paths: Annotated[list[Path] | None, typer.Argument(help="Files or folders.")] = None,
    org: Annotated[
        bool, typer.Option("--org", help="Also check field names against the org (describe).")
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Check mapping files; print file:line:col: message for each problem."""
    from revflow.mapping import lint_paths

    targets = paths or [default_mappings_dir()]
    problems = lint_paths(targets)
    if org and not problems:
        problems = asyncio.run(_check_fields_against_org(settings_or_exit(config), targets))
    for problem in problems:
        typer.echo(str(problem))
    if problems:
        fail(f"{len(problems)} problem(s) found", code=1)
    typer.echo("mappings OK")


async def _check_fields_against_org(settings: Settings, paths: list[Path]) -> list[Any]:
    """What the org check at start-up would say of these mappings (describe calls):
    every field they and Revflow read must exist; CurrencyIsoCode is supplied in a
    single-currency org."""
    from revflow.mapping.lint import load_all
    from revflow.salesforce.auth import AuthError, TokenProvider
    from revflow.salesforce.client import SalesforceClient
    from revflow.salesforce.errors import SalesforceError
    from revflow.salesforce.org_check import OrgCheck, OrgCheckError

    try:
        settings.require_org()
    except ConfigError as exc:
        fail(f"--org needs an org: {exc}")
    client = SalesforceClient(
        TokenProvider(settings.salesforce),
        settings.salesforce.api_version,
        settings.salesforce.call_options_client,
    )
    mappings = {m.name: m for m in load_all(paths)[0]}
    try:
        await OrgCheck(client, settings).run(mappings, used=mappings)
    except OrgCheckError as exc:
        return exc.problems
    except (AuthError, SalesforceError) as exc:
        fail(f"checking the org failed: {exc}")
    finally:
        await client.aclose()
    return []


@mappings_cli.command("test")
def mappings_test(
    paths: Annotated[list[Path] | None, typer.Argument(help="Golden files or folders.")] = None,
) -> None:
    """Run the golden cases kept beside the mappings (*.test.yaml)."""
    from revflow.mapping import run_golden

    results = run_golden(paths or [default_mappings_dir()])
    for result in results:
        typer.echo(str(result))
    failed = [r for r in results if not r.ok]
    if failed:
        fail(f"{len(failed)} of {len(results)} golden case(s) failed", code=1)
    typer.echo(f"{len(results)} golden case(s) passed")


@mappings_cli.command("preview")
def mappings_preview(
    mapping: Annotated[Path, typer.Argument(help="The mapping file.")],
    record: Annotated[Path, typer.Option("--record", "-r", help="A sample record (JSON).")],
) -> None:
    """Show the document a mapping builds from a sample record, or why it fails."""
    from revflow.mapping import MappingError, preview

    try:
        typer.echo(preview(mapping, record))
    except MappingError as exc:
        fail(str(exc), code=1)
    except (OSError, ValueError) as exc:
        fail(f"{record}: {exc}", code=1)


@dead_cli.command("list")
def dead_letters_list(
    config: ConfigOption = None,
    all_: Annotated[bool, typer.Option("--all", help="Include replayed ones.")] = False,
) -> None:
    """List dead letters with their reason."""
    from revflow.ingest.dead_letters import list_dead_letters

    letters = run_in_transaction(config, lambda s, _: list_dead_letters(s, include_replayed=all_))
    for d in letters:
        state = f" replayed {d.replayed_at:%Y-%m-%d %H:%M}" if d.replayed_at else ""
        typer.echo(
            f"{d.id}\t{d.created_at:%Y-%m-%d %H:%M:%S}\t{d.source}\t{d.reference}"
            f"\t{d.reason}{state}"
        )
    typer.echo(f"{len(letters)} dead letter(s)")


@dead_cli.command("replay")
def dead_letters_replay(
    ids: Annotated[list[int] | None, typer.Argument(help="Ids to replay (default: all).")] = None,
    config: ConfigOption = None,
) -> None:
    """Parse dead letters again and record those that can be read in the inbox."""
    from revflow.ingest.dead_letters import replay

    outcomes = run_in_transaction(config, lambda s, _: replay(s, ids), write=True)
    for o in outcomes:
        typer.echo(f"{o.id}\t{'ok' if o.ok else 'failed'}\t{o.message}")
    raise typer.Exit(1 if any(not o.ok for o in outcomes) else 0)


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
    problems = lint_plan_paths(targets, mappings=mappings, connectors={"erp"})
    for problem in problems:
        typer.echo(str(problem))
    if problems:
        fail(f"{len(problems)} problem(s) found", code=1)
    typer.echo("plans OK")


@plans_cli.command("explain")
def plans_explain(
    order: Annotated[str, typer.Argument(help="A Salesforce Order id, or a JSON record file.")],
    plan: Annotated[
        Path | None, typer.Option(help="Plan file (default: the configured plan).")
    ] = None,
    scenario: Annotated[str, typer.Option(help="new, amendment or cancellation.")] = "new",
    config: ConfigOption = None,
) -> None:
    """Print the plan that would be built for an order, and why each rule fired or not."""
    from revflow.plans.explain import explain

    settings = settings_or_exit(config)
    definition = _plan_definition(settings, plan)
    if Path(order).is_file():
        try:
            record = json.loads(Path(order).read_text())
        except ValueError as exc:
            fail(f"{order}: {exc}")
    else:
        record = asyncio.run(_fetch_order(settings, order))
    typer.echo(explain(definition, record, scenario).render())


def _plan_definition(settings: Settings, plan: Path | None) -> Any:
    from revflow.plans.files import PlanLoadError, load_plan_file
    from revflow.service import plan_definition

    if plan is None and settings.plan_file is None:
        return plan_definition(settings)
    try:
        return load_plan_file(plan or settings.plan_file)  # type: ignore[arg-type]
    except PlanLoadError as exc:
        fail(str(exc))


async def _fetch_order(settings: Settings, order_id: str) -> dict[str, Any]:
    from revflow.salesforce.auth import AuthError, TokenProvider
    from revflow.salesforce.client import SalesforceClient
    from revflow.salesforce.errors import SalesforceError
    from revflow.salesforce.orders import fetch_orders, query_fields
    from revflow.salesforce.org_check import OrgCheckError, single_currency

    try:
        settings.require_org()
    except ConfigError as exc:
        fail(f"{exc} (or pass a JSON record file)")
    client = SalesforceClient(
        TokenProvider(settings.salesforce),
        settings.salesforce.api_version,
        settings.salesforce.call_options_client,
    )
    try:  # a single-currency org has no CurrencyIsoCode to select
        fields = query_fields([], await single_currency(client, settings))
        found = await fetch_orders(client, [order_id], fields)
    except (AuthError, SalesforceError, OrgCheckError) as exc:
        fail(f"reading order {order_id} failed: {exc}")
    finally:
        await client.aclose()
    if order_id not in found:
        fail(f"order {order_id} not found in Salesforce")
    return found[order_id]


@cli.command()
def run(config: ConfigOption = None) -> None:
    """Run the service against the configured Salesforce org and ERP (API included)."""
    from revflow.db.startup import DatabaseStartupError, prepare_database
    from revflow.logs import configure_logging
    from revflow.salesforce.org_check import OrgCheckError
    from revflow.service import Revflow

    settings = settings_or_exit(config)
    try:
        settings.require_org()
    except ConfigError as exc:
        fail(str(exc))
    try:  # reachable within database_wait_s; SQLite migrated, PostgreSQL at the head
        prepare_database(settings.database_url, settings.database_wait_s)
    except DatabaseStartupError as exc:
        fail(str(exc), code=1)
    configure_logging(settings.log_level)

    async def main() -> None:
        try:
            service = Revflow(settings)
        except Exception as exc:  # mapping or connector configuration
            fail(str(exc))
            return
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, service.request_stop)
        try:
            await service.run_forever()
        except (OrgCheckError, ConfigError) as exc:  # the org lacks fields; no keyring
            fail(str(exc))

    asyncio.run(main())


@cli.command()
def demo(
    orders: Annotated[int, typer.Option("--orders", "-n", min=1, help="Orders to create.")] = 20,
    as_json: Annotated[
        bool, typer.Option("--json", help="End with one JSON summary line.")
    ] = False,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for all orders.")] = 300.0,
    erp_fail_share: Annotated[
        float, typer.Option(min=0.0, max=0.9, help="Share of ERP deliveries the sandbox ERP fails.")
    ] = 0.0,
    database: Annotated[
        Path | None, typer.Option(help="SQLite file to keep (default: a temporary one).")
    ] = None,
    database_url: Annotated[
        str | None,
        typer.Option(
            help="A database URL instead of --database, e.g. postgresql+asyncpg://u@host/db "
            "(migrated by the demo); with --chaos on PostgreSQL, the database is also cut away."
        ),
    ] = None,
    transport: Annotated[
        str, typer.Option(help="Event transport: pubsub (gRPC) or cometd.")
    ] = "cometd",
    chaos: Annotated[
        bool,
        typer.Option(help="Inject faults, and SIGKILL and restart Revflow at random moments."),
    ] = False,
    seed: Annotated[int | None, typer.Option(help="Seed for orders and faults.")] = None,
    cancel: Annotated[
        int, typer.Option(min=0, help="Orders to cancel (Status=Cancelled) while in flight.")
    ] = 0,
    amend: Annotated[
        int,
        typer.Option(min=0, help="Orders to amend (deactivate, change lines, activate) in flight."),
    ] = 0,
    erp: Annotated[
        str,
        typer.Option(help="ERP: sandbox (webhook receiver) or tryton (a real Tryton server)."),
    ] = "sandbox",
) -> None:
    """Run a sandbox org, a sandbox ERP and Revflow together, and push N orders through.

    Exits 0 only when every order reads Completed on its Salesforce record (or, for
    the ``--cancel`` ones, Cancelled, or Completed with the refusal text; the
    ``--amend`` ones Completed with the amended lines in the ERP, or refused; with
    ``--chaos`` the ones whose Completed the org's validation rule refuses, with the
    refusal in their error field) and no
    order got a duplicate ERP document; otherwise 1, with one line saying why.
    ``--json`` latencies are per order, activation to final status, from the org's
    field history (p50/p95/p99).
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from revflow.demo import demo_database, run_demo
    from revflow.demo.report import verdict

    if transport not in ("cometd", "pubsub"):
        fail(f"--transport must be pubsub or cometd, not {transport!r}")
    if database and database_url:
        fail("give --database (an SQLite file) or --database-url, not both")
    if erp not in ("sandbox", "tryton"):
        fail(f"--erp must be sandbox or tryton, not {erp!r}")
    settings_or_exit(None)  # the demo's settings also read REVFLOW_*: a bad one is one line
    from revflow.logs import configure_logging

    configure_logging("WARNING")
    with Progress(
        TextColumn("orders completed"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        transient=as_json,
        disable=not sys.stderr.isatty(),
        console=None,
    ) as bar:
        task = bar.add_task("orders", total=orders)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        from revflow.mapping import MappingLoadError

        try:
            summary = asyncio.run(
                run_demo(
                    orders,
                    timeout,
                    progress,
                    database_url or demo_database(database),
                    erp_fail_share=erp_fail_share,
                    transport=transport,
                    chaos=chaos,
                    seed=seed,
                    cancel=cancel,
                    amend=amend,
                    erp=erp,
                )
            )
        except MappingLoadError as exc:  # a mappings folder that cannot be read
            fail(str(exc))
    if as_json:
        typer.echo(json.dumps(summary.as_dict()))
    else:
        typer.echo(
            f"{summary.completed}/{summary.orders} orders completed, {summary.failed} failed, "
            f"{summary.erp_deliveries} ERP deliveries, {summary.duplicate_deliveries} duplicates, "
            f"{summary.salesforce_api_calls} Salesforce API calls, {summary.elapsed_s:.1f}s"
            + (f", {summary.cancelled} cancelled" if cancel else "")
            + (f", {summary.amended} amended" if amend else "")
        )
    failure = verdict(summary, cancel, amend)
    if failure:
        fail(f"demo failed: {failure}", code=1)


@cli.command()
def sandbox(
    port: Annotated[int, typer.Option(help="Port for the sandbox org (0 = any free port).")] = 8443,
    erp_port: Annotated[int, typer.Option(help="Port for the sandbox ERP.")] = 8444,
) -> None:
    """Run the sandbox org (OAuth, REST, CometD) and the sandbox ERP on loopback, alone.

    Prints the credentials to configure Revflow against them.
    """
    from revflow.connectors.signing import generate_secret
    from revflow.sandbox.erp import SandboxErp
    from revflow.sandbox.keys import generate_keypair, write_private_file
    from revflow.sandbox.org import ConnectedApp, SandboxOrg
    from revflow.sandbox.server import start_erp, start_org

    key_file = Path("sandbox-private-key.pem").resolve()

    async def main() -> None:
        keys = generate_keypair()
        org = SandboxOrg()
        org.add_app(
            ConnectedApp(
                name="revflow",
                consumer_key="revflow-consumer-key",
                consumer_secret="revflow-secret",
                certificate_pem=keys.certificate_pem,
            )
        )
        erp = SandboxErp(secrets=[generate_secret()])
        stop = asyncio.Event()  # before the settings are printed: a stop may follow at once
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        org_server = await start_org(org, port=port)
        erp_server = await start_erp(erp, port=erp_port)
        await asyncio.to_thread(write_private_file, key_file, keys.private_key_pem)
        typer.echo(f"sandbox org: {org_server.base_url}   sandbox ERP: {erp_server.base_url}")
        typer.echo("configure Revflow with:")
        typer.echo(f"  REVFLOW_SALESFORCE__INSTANCE_URL={org.instance_url}")
        typer.echo(f"  REVFLOW_SALESFORCE__LOGIN_URL={org.instance_url}")
        typer.echo("  REVFLOW_SALESFORCE__CLIENT_ID=revflow-consumer-key")
        typer.echo("  REVFLOW_SALESFORCE__USERNAME=integration@revflow.sandbox")
        typer.echo(f"  REVFLOW_SALESFORCE__PRIVATE_KEY_FILE={key_file}")
        typer.echo(f"  REVFLOW_ERP__URL={erp_server.base_url}/webhooks/erp")
        typer.echo(f"  REVFLOW_ERP__SECRETS='{json.dumps(erp.secrets)}'")
        await stop.wait()
        await org_server.close()
        await erp_server.close()

    asyncio.run(main())


def main() -> None:
    cli()


if __name__ == "__main__":
    main()

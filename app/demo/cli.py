"""``revflow demo`` and ``revflow sandbox``: the sandbox org and ERP, with or without Revflow.

Register with ``cli.command()(demo)`` and ``cli.command()(sandbox)``.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from revflow.cli_options import fail, settings_or_exit

if TYPE_CHECKING:
    from rich.progress import Progress

    from revflow.demo.console import ConsoleLogin
    from revflow.demo.report import DemoSummary


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
    quotes: Annotated[
        int,
        typer.Option(min=0, help="Quotes to approve beside the orders (synced as ERP quotes)."),
    ] = 0,
    plan: Annotated[
        str | None,
        typer.Option(
            help="A shipped plan's name (e.g. order_to_three_systems) or a plan file; the "
            "demo starts a system for each connector it names: erp, warehouse (AMQP on the "
            "local RabbitMQ), accounting (webhook)."
        ),
    ] = None,
    serve: Annotated[
        bool,
        typer.Option(
            "--serve",
            help="After the summary keep Revflow and the sandbox running and print the "
            "console's URL and a login (Ctrl-C ends it).",
        ),
    ] = False,
    port: Annotated[
        int, typer.Option(min=0, max=65535, help="With --serve: the console's port (0 = free).")
    ] = 8080,
) -> None:
    """Run a sandbox org, a sandbox ERP and Revflow together, and push N orders through.

    Exits 0 only when every order reads Completed on its Salesforce record (or, for
    the ``--cancel`` ones, Cancelled, or Completed with the refusal text; the
    ``--amend`` ones Completed with the amended lines in the ERP, or refused; with
    ``--chaos`` the ones whose Completed the org's validation rule refuses, with the
    refusal in their error field; the ``--quotes`` ones Completed with the ERP's quote
    number on the Quote) and no
    order got a duplicate ERP document; otherwise 1, with one line saying why.
    ``--serve`` serves the operator console at ``http://127.0.0.1:PORT/console`` and
    keeps everything running after the summary, with a local admin ``demo`` whose
    password and one-time codes are printed (``revflow.demo.console``).
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
    if plan is not None:
        from revflow.demo.systems import plan_connectors, resolve_plan
        from revflow.plans.files import PlanLoadError

        try:
            plan_connectors(resolve_plan(plan))
        except (ValueError, PlanLoadError) as exc:
            fail(f"--plan: {exc}")
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

        console_port = None
        if serve:
            from revflow.demo.console import free_port

            console_port = port or free_port()

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
                    quotes=quotes,
                    plan=plan,
                    console_port=console_port,
                    hold=_hold(bar, cancel, amend, quotes) if serve else None,
                )
            )
        except MappingLoadError as exc:  # a mappings folder that cannot be read
            fail(str(exc))
    if not serve:
        _print_summary(summary, as_json, cancel, amend, quotes)
    failure = verdict(summary, cancel, amend)
    if failure:
        fail(f"demo failed: {failure}", code=1)


def _print_summary(
    summary: DemoSummary, as_json: bool, cancel: int, amend: int, quotes: int
) -> None:
    if as_json:
        typer.echo(json.dumps(summary.as_dict()))
    else:
        typer.echo(
            f"{summary.completed}/{summary.orders} orders completed, {summary.failed} failed, "
            f"{summary.erp_deliveries} ERP deliveries, {summary.duplicate_deliveries} duplicates, "
            f"{summary.salesforce_api_calls} Salesforce API calls, {summary.elapsed_s:.1f}s"
            + (f", {summary.cancelled} cancelled" if cancel else "")
            + (f", {summary.amended} amended" if amend else "")
            + (f", {summary.fallout} in fallout (On Hold: yours to fix)" if summary.fallout else "")
            + (f", {summary.quotes_synced}/{summary.quotes} quotes synced" if quotes else "")
            + "".join(
                f"; {name}: {counts['documents']} documents, "
                f"{counts['duplicate_orders']} duplicates"
                for name, counts in summary.systems.items()
            )
        )


def _hold(
    bar: Progress, cancel: int, amend: int, quotes: int
) -> Callable[[DemoSummary, ConsoleLogin], Awaitable[None]]:
    """Print the summary and the console's login, then wait for Ctrl-C or SIGTERM."""

    async def hold(summary: DemoSummary, login: ConsoleLogin) -> None:
        bar.stop()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        _print_summary(summary, False, cancel, amend, quotes)
        for line in login.lines():
            typer.echo(line)
        typer.echo("Revflow and the sandbox keep running; Ctrl-C ends them.")
        await stop.wait()

    return hold


def sandbox(
    port: Annotated[int, typer.Option(help="Port for the sandbox org (0 = any free port).")] = 8443,
    erp_port: Annotated[int, typer.Option(help="Port for the sandbox ERP.")] = 8444,
    tls: Annotated[
        bool,
        typer.Option(
            "--tls", help="Serve the org over HTTPS with a throw-away CA in sandbox-tls/."
        ),
    ] = False,
    bare: Annotated[
        bool, typer.Option("--bare", help="An org Revflow's package was never deployed to.")
    ] = False,
) -> None:
    """Run the sandbox org (OAuth, REST, CometD) and the sandbox ERP on loopback, alone.

    Prints the credentials to configure Revflow against them.  ``revflow salesforce
    setup|doctor`` (simple-salesforce: https only) need ``--tls``.
    """
    from revflow.connectors.signing import generate_secret
    from revflow.sandbox.erp import SandboxErp
    from revflow.sandbox.keys import generate_keypair, write_private_file
    from revflow.sandbox.org import ConnectedApp, SandboxOrg
    from revflow.sandbox.server import start_erp, start_org
    from revflow.sandbox.tls import make_tls

    key_file = Path("sandbox-private-key.pem").resolve()
    tls_dir = Path("sandbox-tls").resolve()

    async def main() -> None:
        keys = generate_keypair()
        org = SandboxOrg(set_up=not bare)
        certificates = await asyncio.to_thread(make_tls, tls_dir) if tls else None
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
        org_server = await start_org(org, port=port, tls=certificates)
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
        if certificates is not None:  # requests (simple-salesforce) and httpx trust it
            typer.echo(f"  REQUESTS_CA_BUNDLE={certificates.ca_file}")
            typer.echo(f"  SSL_CERT_FILE={certificates.ca_file}")
        typer.echo("then call Revflow's API with a key from:")
        typer.echo("  revflow keys create --role admin --expires 1d --name sandbox")
        await stop.wait()
        await org_server.close()
        await erp_server.close()

    asyncio.run(main())

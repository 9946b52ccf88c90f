"""The ``revflow`` command."""

from __future__ import annotations

import asyncio
import signal
from typing import Annotated

import typer

from revflow.alerts.cli import alerts_cli
from revflow.audit.cli import audit_cli
from revflow.cli_mappings import mappings_cli
from revflow.cli_options import ConfigOption, fail, settings_or_exit
from revflow.cli_plans import plans_cli
from revflow.config import ConfigError
from revflow.demo.cli import demo, sandbox
from revflow.ingest.cli import dead_letters_cli
from revflow.orchestration.cli import fallout_cli
from revflow.retention.cli import purge_command
from revflow.salesforce.cli import salesforce_cli
from revflow.security.cli import keys_cli, users_cli
from revflow.vault.cli import secrets_cli
from revflow.webhooks.cli import webhooks_cli

cli = typer.Typer(
    help="Revflow: order orchestration between Salesforce and your ERP and accounting systems.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
db_cli = typer.Typer(help="Database schema commands.", no_args_is_help=True)
cli.add_typer(db_cli, name="db")
cli.add_typer(fallout_cli, name="fallout")
cli.add_typer(webhooks_cli, name="webhooks")
cli.add_typer(plans_cli, name="plans")
cli.add_typer(mappings_cli, name="mappings")
cli.add_typer(dead_letters_cli, name="dead-letters")
cli.add_typer(salesforce_cli, name="salesforce")
cli.add_typer(keys_cli, name="keys")
cli.add_typer(users_cli, name="users")
cli.add_typer(audit_cli, name="audit")
cli.add_typer(secrets_cli, name="secrets")
cli.add_typer(alerts_cli, name="alerts")
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


WORKERS_NEED_POSTGRES = (
    "more than one process needs PostgreSQL: SQLite has one writer at a time and no "
    "SKIP LOCKED, so extra worker processes would only wait on its lock "
    "(REVFLOW_DATABASE_URL=postgresql+asyncpg://...; docs/scaling.md)"
)


@cli.command()
def run(
    config: ConfigOption = None,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            min=1,
            help="Processes to run: this one, plus N-1 that run only the step worker "
            "(PostgreSQL only; docs/scaling.md).",
        ),
    ] = 1,
) -> None:
    """Run the service against the configured Salesforce org and ERP (API included)."""
    _serve(config, steps_only=False, extra_workers=workers - 1, parent_pid=None)


@cli.command()
def worker(
    config: ConfigOption = None,
    parent_pid: Annotated[int | None, typer.Option("--parent-pid", hidden=True)] = None,
) -> None:
    """Run only the step worker, beside one `revflow run` against the same PostgreSQL
    database (on this machine or another; docs/scaling.md)."""
    _serve(config, steps_only=True, extra_workers=0, parent_pid=parent_pid)


def _serve(
    config: ConfigOption, *, steps_only: bool, extra_workers: int, parent_pid: int | None
) -> None:
    from revflow.db.engine import is_sqlite
    from revflow.db.startup import DatabaseStartupError, prepare_database
    from revflow.logs import configure_logging
    from revflow.process import StepProcesses, stop_when_orphaned
    from revflow.salesforce.org_check import OrgCheckError
    from revflow.service import Revflow
    from revflow.supervisor import backoff_for

    settings = settings_or_exit(config)
    try:
        settings.require_org()
    except ConfigError as exc:
        fail(str(exc))
    if (steps_only or extra_workers) and is_sqlite(settings.database_url):
        fail(WORKERS_NEED_POSTGRES)
    try:  # reachable within database_wait_s; SQLite migrated, PostgreSQL at the head
        prepare_database(settings.database_url, settings.database_wait_s)
    except DatabaseStartupError as exc:
        fail(str(exc), code=1)
    configure_logging(settings.log_level)

    async def main() -> None:
        try:
            service = Revflow(settings, steps_only=steps_only)
        except Exception as exc:  # mapping or connector configuration
            fail(str(exc))
            return
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, service.request_stop)
        if parent_pid is not None:
            watch = asyncio.create_task(stop_when_orphaned(parent_pid, service.request_stop))
        others = StepProcesses(extra_workers, config, backoff=backoff_for(settings.supervisor))
        try:
            await others.start()
            await service.run_forever()
        except (OrgCheckError, ConfigError) as exc:  # the org lacks fields; no keyring
            fail(str(exc))
        finally:
            await others.stop()
            if parent_pid is not None:
                watch.cancel()

    asyncio.run(main())


cli.command()(demo)
cli.command()(sandbox)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()

"""``revflow salesforce setup|doctor``: prepare an org for Revflow and check it.

Register with ``cli.add_typer(salesforce_cli, name="salesforce")``.  Both sign in as
``revflow run`` does (``REVFLOW_SALESFORCE__*``).  Exit codes: 0 ready, 1 a step or
check failed (each line says why and the fix), 2 bad settings.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from revflow.mapping import Mapping
    from revflow.plans.definitions import PlanDefinition

from revflow.cli_options import ConfigOption, fail, settings_or_exit
from revflow.config import Settings

salesforce_cli = typer.Typer(
    help="Set up a Salesforce org for Revflow and check it.", no_args_is_help=True
)


def _settings(config: Path | None) -> Settings:
    """The settings; exit 2 unless they name an org to sign in to."""
    settings = settings_or_exit(config)
    sf = settings.salesforce
    for name, value in (("INSTANCE_URL", sf.instance_url), ("CLIENT_ID", sf.client_id)):
        if not value:
            fail(f"missing setting REVFLOW_SALESFORCE__{name}")
    return settings


async def _sign_in(settings: Settings) -> object:
    """An OrgAdmin, or the login line (FAIL with the fix) as a string."""
    from revflow.salesforce.admin import OrgAdmin
    from revflow.salesforce.doctor import login_fix
    from revflow.salesforce.errors import AuthError

    try:
        admin = await OrgAdmin.connect(settings.salesforce)
    except AuthError as exc:
        return f"FAIL  login: {exc} -> fix: {login_fix(str(exc))}"
    typer.echo(f"ok    login: {settings.salesforce.auth.value} as {admin.user_id}")
    return admin


@salesforce_cli.command("setup")
def setup(
    package: Annotated[
        Path | None,
        typer.Option("--package", help="The SFDX project to deploy (default: salesforce/)."),
    ] = None,
    skip_deploy: Annotated[
        bool, typer.Option("--skip-deploy", help="Only select CDC entities and assign.")
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Deploy the metadata package (validated first), select the CDC entities of the
    configured channels and assign the permission set to the integration user."""
    from revflow.salesforce.admin import OrgAdmin
    from revflow.salesforce.org_setup import run_setup
    from revflow.salesforce.package import PackageError, load_package, package_dir

    settings = _settings(config)
    try:
        loaded = load_package(package or package_dir())
    except PackageError as exc:
        fail(str(exc))

    async def main() -> bool:
        admin = await _sign_in(settings)
        if not isinstance(admin, OrgAdmin):
            typer.echo(str(admin))
            return False
        return await run_setup(admin, settings, loaded, typer.echo, deploy=not skip_deploy)

    if not asyncio.run(main()):
        raise typer.Exit(1)
    typer.echo("the org is set up; check it with `revflow salesforce doctor`")


@salesforce_cli.command("doctor")
def doctor(config: ConfigOption = None) -> None:
    """Check the org: login, API version, CDC per channel, every field Revflow reads or
    writes, the permission set, the API calls left.  One line each, with the fix."""
    from revflow.salesforce.admin import OrgAdmin
    from revflow.salesforce.doctor import Verdict, run_doctor
    from revflow.salesforce.fields import used_fields

    settings = _settings(config)
    mappings, plans = _mappings_and_plans(settings)
    uses = used_fields(settings, mappings, plans)

    async def main() -> bool:
        admin = await _sign_in(settings)
        if not isinstance(admin, OrgAdmin):
            typer.echo(str(admin))
            return False
        checks = await run_doctor(admin, settings, uses)
        for check in checks:
            typer.echo(check.line())
        return all(c.verdict is not Verdict.FAIL for c in checks)

    if not asyncio.run(main()):
        raise typer.Exit(1)


def _mappings_and_plans(settings: Settings) -> tuple[list[Mapping], list[PlanDefinition]]:
    """The mappings the configured plans read (Order-sourced ones are always read), and
    the plans: the Order plan, and the Quote plan when Quotes are enabled."""
    from revflow.config import ConfigError
    from revflow.mapping import MappingLoadError, load_directory
    from revflow.plans.files import PlanLoadError, load_plan_file
    from revflow.service import plan_definition, quote_plan_definition

    try:
        mappings = load_directory(settings.mappings_dir)
        plan = (
            load_plan_file(settings.plan_file) if settings.plan_file else plan_definition(settings)
        )
        quote_plan = quote_plan_definition(settings)
    except (MappingLoadError, PlanLoadError, ConfigError) as exc:
        fail(str(exc))
    plans = [plan] if quote_plan is None else [plan, quote_plan]
    used = {m for p in plans for m in p.mappings}
    return [m for n, m in mappings.items() if m.source == "Order" or n in used], plans

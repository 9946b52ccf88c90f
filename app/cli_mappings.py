"""``revflow mappings``: check mapping files, run their golden cases, preview one.

Here rather than in app/mapping, which stays pure (tests/plans/test_purity.py).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

import typer

from revflow.cli_options import ConfigOption, fail, settings_or_exit
from revflow.config import ConfigError, Settings
from revflow.resources import default_mappings_dir

mappings_cli = typer.Typer(help="Check and try mapping files.", no_args_is_help=True)


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
    from revflow.salesforce.auth import AuthError
    from revflow.salesforce.client import SalesforceClient
    from revflow.salesforce.errors import SalesforceError
    from revflow.salesforce.org_check import OrgCheck, OrgCheckError

    try:
        settings.require_org()
    except ConfigError as exc:
        fail(f"--org needs an org: {exc}")
    client = SalesforceClient.from_settings(settings.salesforce)
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

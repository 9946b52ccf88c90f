"""What every ``revflow`` command group shares: options, errors, settings."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer

from revflow.config import ConfigError, Settings, load_settings
from revflow.orchestration.errors import BadRequest, OperatorError

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from revflow.db.database import Database

T = TypeVar("T")

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="Config file (YAML or TOML); env REVFLOW_* wins over it."),
]
Actor = Annotated[str, typer.Option("--actor", help="Who does this (for the audit log).")]
Reason = Annotated[str, typer.Option("--reason", help="Why (for the audit log).")]


def fail(message: str, code: int = 2) -> NoReturn:
    """Print ``error: <message>`` to stderr and exit with ``code``."""
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def refused(exc: OperatorError) -> NoReturn:
    """Exit for a refused action: 2 for a bad request (usage), else 1."""
    fail(exc.detail, 2 if isinstance(exc, BadRequest) else 1)


def settings_or_exit(config: Path | None, **overrides: Any) -> Settings:
    """The settings, or exit 2 with the one line that names the bad setting."""
    try:
        return load_settings(config, **overrides)
    except ConfigError as exc:
        fail(str(exc))


def run_with_database(
    config: Path | None, action: Callable[[Database, Settings], Awaitable[T]]
) -> T:
    """Run ``action`` against the configured database, disposed of afterwards.

    An unreachable database or a schema not at this version's head is one line.
    """
    from revflow.db.database import Database
    from revflow.db.startup import DatabaseStartupError, prepare_database
    from revflow.vault import configure

    settings = settings_or_exit(config)
    try:
        configure(settings)
    except ConfigError as exc:
        fail(str(exc))
    try:
        prepare_database(settings.database_url, settings.database_wait_s, migrate_sqlite=False)
    except DatabaseStartupError as exc:
        fail(str(exc), code=1)

    async def main() -> T:
        db = Database(settings.database_url)
        try:
            return await action(db, settings)
        finally:
            await db.dispose()

    return asyncio.run(main())


def run_in_transaction(
    config: Path | None,
    action: Callable[[AsyncSession, Settings], Awaitable[T]],
    *,
    write: bool = False,
) -> T:
    """Run ``action`` in one transaction that the command owns: committed when it
    returns (``write``), rolled back when it raises."""

    async def in_transaction(db: Database, settings: Settings) -> T:
        async with db.write() if write else db.read() as session:
            return await action(session, settings)

    return run_with_database(config, in_transaction)

"""What every ``revflow`` command group shares: options, errors, settings."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from app.config import ConfigError, Settings, load_settings

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


def settings_or_exit(config: Path | None, **overrides: Any) -> Settings:
    """The settings, or exit 2 with the one line that names the bad setting."""
    try:
        return load_settings(config, **overrides)
    except ConfigError as exc:
        fail(str(exc))

"""Bring a database to the newest schema with Alembic."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from revflow.db.engine import normalize_url
from revflow.resources import shipped


def migrations_dir() -> Path:
    """The checkout's migrations/, else the copy an installed wheel carries."""
    return shipped("migrations")


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    cfg.set_main_option("sqlalchemy.url", normalize_url(url).replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Run in a thread or outside an event loop: Alembic's env starts its own loop."""
    command.upgrade(alembic_config(url), revision)

"""Load a directory of mappings for the service."""

from __future__ import annotations

from pathlib import Path

from revflow.mapping.errors import MappingLoadError
from revflow.mapping.lint import load_all
from revflow.mapping.model import Mapping

__all__ = ["load_directory"]


def load_directory(directory: str | Path) -> dict[str, Mapping]:
    """Compile every mapping under `directory`, keyed by name.

    Raises MappingLoadError with the problems of all files if any file is invalid,
    so the service never starts with a partial set of mappings.
    """
    mappings, problems = load_all([directory])
    if problems:
        raise MappingLoadError(problems)
    return {m.name: m for m in mappings}

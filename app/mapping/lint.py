"""Find mapping files and report every problem in them without raising."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from revflow.mapping.compiler import load_mapping
from revflow.mapping.errors import MappingLoadError, Problem
from revflow.mapping.model import Mapping

__all__ = ["GOLDEN_SUFFIXES", "discover_files", "lint_paths"]

MAPPING_SUFFIXES = (".yaml", ".yml")
# Golden test cases live beside mappings (`order_to_invoice.test.yaml`) and are not mappings.
GOLDEN_SUFFIXES = (".test.yaml", ".test.yml")


def is_mapping_file(path: Path) -> bool:
    name = path.name
    return (
        name.endswith(MAPPING_SUFFIXES)
        and not name.endswith(GOLDEN_SUFFIXES)
        and not name.startswith(".")
    )


def discover(
    paths: Iterable[str | Path] | str | Path, wanted: Callable[[Path], bool]
) -> tuple[list[Path], list[Problem]]:
    """Expand files and directories (recursively, keeping the ``wanted`` files) into a
    sorted list; a path that does not exist is a problem."""
    if isinstance(paths, str | Path):
        paths = [paths]
    files: set[Path] = set()
    problems: list[Problem] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files.update(p for p in path.rglob("*") if p.is_file() and wanted(p))
        elif path.is_file():
            files.add(path)
        else:
            problems.append(Problem(str(raw), 1, 1, "", "no such file or directory"))
    return sorted(files), problems


def discover_files(paths: Iterable[str | Path] | str | Path) -> tuple[list[Path], list[Problem]]:
    """Expand files and directories (recursively) into sorted mapping files."""
    return discover(paths, is_mapping_file)


def load_all(paths: Iterable[str | Path] | str | Path) -> tuple[list[Mapping], list[Problem]]:
    """Load every mapping file, collecting problems, including duplicate mapping names."""
    files, problems = discover_files(paths)
    mappings: list[Mapping] = []
    seen: dict[str, Mapping] = {}
    for file in files:
        try:
            mapping = load_mapping(file)
        except MappingLoadError as exc:
            problems.extend(exc.problems)
            continue
        first = seen.setdefault(mapping.name, mapping)
        if first is not mapping:
            problems.append(
                Problem(
                    mapping.filename,
                    1,
                    1,
                    "name",
                    f"mapping name '{mapping.name}' is already used by {first.filename}",
                )
            )
            continue
        mappings.append(mapping)
    return mappings, sorted(problems)


def lint_paths(paths: Iterable[str | Path] | str | Path) -> list[Problem]:
    """Every problem in the mapping files under `paths` (files or directories)."""
    return load_all(paths)[1]

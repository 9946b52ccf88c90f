"""Plan definition files: YAML -> PlanDefinition, with ``file:line:col`` problems.

    definition = load_plan_file("plans/order_fulfillment.yaml")   # compile once
    problems = lint_plan_paths(["plans"], mappings={"order_to_invoice", ...})

The format is described in docs/plans.md and plans/plan.schema.json.  Loading
collects every problem (unknown keys, wrong types, unknown step types or fields
of another type, unknown dependency targets, dependency cycles with their path,
undefined compensations, bad durations, unknown mappings/connectors) before
raising ``PlanLoadError``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from pathlib import Path
from typing import Any

from revflow.mapping.errors import Problem
from revflow.mapping.lint import discover
from revflow.mapping.loader import parse_yaml
from revflow.plans.compiler import PlanCompiler
from revflow.plans.definitions import PlanDefinition
from revflow.plans.retry import RetryPolicy

__all__ = [
    "PlanLoadError",
    "compile_plan",
    "discover_plan_files",
    "lint_plan_paths",
    "load_plan_directory",
    "load_plan_file",
]


class PlanLoadError(Exception):
    """A plan file could not be compiled; ``problems`` lists every issue found."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: list[Problem] = sorted(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


# -- public API -----------------------------------------------------------------


def compile_plan(
    text: str,
    filename: str = "<plan>",
    *,
    mappings: Collection[str] | None = None,
    connectors: Collection[str] | None = None,
    default_retry: RetryPolicy | None = None,
) -> tuple[PlanDefinition | None, list[Problem]]:
    """Compile plan text; the definition is None when there are problems.

    ``mappings``/``connectors``: known names to check against (None: not checked);
    ``default_retry``: the policy of steps that do not set ``retry`` (before ``defaults``).
    """
    parsed = parse_yaml(text, filename)
    if parsed.tree is None or parsed.problems:
        return None, sorted(parsed.problems)
    compiler = PlanCompiler(filename, mappings, connectors, default_retry or RetryPolicy())
    definition = compiler.plan(parsed.tree)
    return definition, sorted(set(compiler.problems))


def load_plan_file(
    path: str | Path,
    *,
    mappings: Collection[str] | None = None,
    connectors: Collection[str] | None = None,
    default_retry: RetryPolicy | None = None,
) -> PlanDefinition:
    """Compile one plan file; raises PlanLoadError listing every problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PlanLoadError([Problem(str(path), 1, 1, "", f"cannot read: {exc}")]) from None
    definition, problems = compile_plan(
        text, str(path), mappings=mappings, connectors=connectors, default_retry=default_retry
    )
    if definition is None:
        raise PlanLoadError(problems)
    return definition


def _is_plan_file(path: Path) -> bool:
    return path.suffix in (".yaml", ".yml") and not path.name.startswith(".")


def discover_plan_files(
    paths: Iterable[str | Path] | str | Path,
) -> tuple[list[Path], list[Problem]]:
    """Expand files and directories (recursively) into sorted ``*.yaml``/``*.yml`` files."""
    return discover(paths, _is_plan_file)


def _load_all(
    paths: Iterable[str | Path] | str | Path, **options: Any
) -> tuple[dict[str, PlanDefinition], list[Problem]]:
    files, problems = discover_plan_files(paths)
    plans: dict[str, PlanDefinition] = {}
    for file in files:
        try:
            definition = load_plan_file(file, **options)
        except PlanLoadError as exc:
            problems.extend(exc.problems)
            continue
        first = plans.setdefault(definition.name, definition)
        if first is not definition:
            problems.append(
                Problem(
                    str(file),
                    1,
                    1,
                    "name",
                    f"plan name '{definition.name}' is already used by {first.file}",
                )
            )
    return plans, sorted(problems)


def lint_plan_paths(
    paths: Iterable[str | Path] | str | Path,
    *,
    mappings: Collection[str] | None = None,
    connectors: Collection[str] | None = None,
) -> list[Problem]:
    """Every problem in the plan files under ``paths`` (files or directories)."""
    return _load_all(paths, mappings=mappings, connectors=connectors)[1]


def load_plan_directory(
    paths: Iterable[str | Path] | str | Path, **options: Any
) -> dict[str, PlanDefinition]:
    """Every plan under ``paths`` keyed by name; raises PlanLoadError if any is invalid."""
    plans, problems = _load_all(paths, **options)
    if problems:
        raise PlanLoadError(problems)
    return plans

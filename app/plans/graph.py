"""Cross references of a plan file: dependencies, compensations and cycles."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from revflow.mapping.loader import Pos
from revflow.plans.definitions import StepGroup
from revflow.plans.expand import split_ref
from revflow.plans.reader import Reader


@dataclass
class StepSource:
    """Where a step and its references are in the file."""

    pos: Pos
    deps: list[tuple[str, Pos]] = field(default_factory=list)
    compensation: tuple[str, Pos] | None = None


def check_references(
    r: Reader,
    sources: Mapping[str, StepSource],
    steps: Collection[str],
    compensations: Collection[str],
) -> None:
    """Every dependency names a step, every compensation a defined one."""
    for key, src in sources.items():
        for dep, pos in src.deps:
            target, _each = split_ref(dep)
            if target in compensations:
                r.problem(pos, f"step '{key}' depends on compensation '{target}'")
            elif target not in steps and key in steps:
                r.problem(pos, f"step '{key}' depends on unknown step '{target}'")
        if src.compensation is not None:
            comp, pos = src.compensation
            if comp not in compensations:
                known = ", ".join(compensations) or "none defined"
                r.problem(
                    pos,
                    f"step '{key}': compensation '{comp}' is not defined "
                    f"under 'compensations' ({known})",
                )


def check_scenario(
    r: Reader,
    scenario: str,
    group_names: tuple[str, ...],
    groups: Mapping[str, StepGroup],
    sources: Mapping[str, StepSource],
    steps: Collection[str],
) -> None:
    """A scenario's steps depend only on steps of the scenario, without cycles."""
    keys = [k for g in group_names for k in groups[g].steps]
    present = set(keys)
    graph: dict[str, list[tuple[str, Pos]]] = {}
    for key in keys:
        edges = graph.setdefault(key, [])
        for dep, pos in sources[key].deps:
            target, _ = split_ref(dep)
            if target in present:
                edges.append((target, pos))
            elif target in steps:
                r.problem(
                    pos,
                    f"step '{key}' depends on '{target}', which is not in scenario '{scenario}'",
                )
    for cycle, pos in find_cycles(graph):
        message = "dependency cycle: " + " -> ".join(cycle)
        if not any(p.message == message for p in r.problems):
            r.problem(pos, message)


def find_cycles(graph: dict[str, list[tuple[str, Pos]]]) -> list[tuple[list[str], Pos]]:
    """Each elementary cycle found by depth-first search, with the position of its first edge."""
    found: list[tuple[list[str], Pos]] = []
    seen: set[frozenset[str]] = set()
    state: dict[str, int] = {}  # 1 visiting, 2 done

    def visit(key: str, path: list[tuple[str, Pos | None]]) -> None:
        state[key] = 1
        for target, pos in graph.get(key, []):
            if state.get(target) == 1:
                keys = [k for k, _ in path] + [key]
                start = keys.index(target)
                cycle = [*keys[start:], target]
                first_pos = path[start][1] if start < len(path) else pos
                if frozenset(cycle) not in seen:
                    seen.add(frozenset(cycle))
                    found.append((cycle, first_pos or pos))
            elif state.get(target) is None and target in graph:
                visit(target, [*path, (key, pos)])
        state[key] = 2

    for key in graph:
        if key not in state:
            visit(key, [])
    return found

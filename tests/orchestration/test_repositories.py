"""Queries live in repository modules; services and the plan API routes hold none."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REPOSITORIES = {"repository.py", "hold_queries.py", "claims.py", "call_log.py"}
STATEMENTS = {"select", "update", "insert", "delete", "text", "func", "exists", "and_", "or_"}
SESSION_CALLS = {"execute", "scalar", "scalars", "get", "stream"}


def _modules() -> list[Path]:
    orchestration = ROOT / "app" / "orchestration"
    routes = [ROOT / "app" / "api" / name for name in ("plans.py", "fallout.py", "app.py")]
    return [p for p in orchestration.rglob("*.py") if p.name not in REPOSITORIES] + routes


def _sql_in(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sqlalchemy"):
            found += [
                f"{path.name}:{node.lineno} imports {a.name}"
                for a in node.names
                if a.name in STATEMENTS
            ]
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in SESSION_CALLS
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id in ("s", "session")
        ):
            found.append(f"{path.name}:{node.lineno} calls {node.func.value.id}.{node.func.attr}")
    return found


def test_services_and_routes_hold_no_queries() -> None:
    found = [hit for path in _modules() for hit in _sql_in(path)]
    assert found == []


def test_the_check_finds_a_query(tmp_path: Path) -> None:
    route = tmp_path / "route.py"
    route.write_text(
        "from sqlalchemy import select\nasync def get(s):\n    return await s.scalar(select(1))\n"
    )
    assert _sql_in(route) == ["route.py:1 imports select", "route.py:3 calls s.scalar"]

"""API routes hold no SQL: they open the transaction and call a service, whose queries
live in its package's repository module."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

API = Path(__file__).resolve().parents[2] / "app" / "api"
# the routes whose queries have moved to repositories (plans, fallout and get_order in
# app.py follow with the orchestration repository)
ROUTES = ["webhooks.py", "salesforce.py", "callbacks.py", "health.py"]
SQL = {"select", "update", "insert", "delete", "text", "func"}
SESSION_CALLS = {"execute", "scalar", "scalars", "get", "add", "flush"}


def _sql_in(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sqlalchemy"):
            names = {a.name for a in node.names} & SQL
            found += [f"{path.name}:{node.lineno}: imports {n}" for n in sorted(names)]
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in SESSION_CALLS
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id in {"s", "session"}
        ):
            found.append(f"{path.name}:{node.lineno}: session.{node.func.attr}()")
    return found


@pytest.mark.parametrize("name", ROUTES)
def test_route_module_has_no_sql(name: str) -> None:
    assert _sql_in(API / name) == []


def test_the_check_finds_sql(tmp_path: Path) -> None:
    route = tmp_path / "route.py"
    route.write_text(
        "from sqlalchemy import select\nasync def f(s):\n    return await s.scalars(select(1))\n"
    )
    assert _sql_in(route) == ["route.py:1: imports select", "route.py:3: session.scalars()"]

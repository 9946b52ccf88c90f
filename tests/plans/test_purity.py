"""The pure packages stay pure: importing them loads no database, network or event loop.

Each check imports in a fresh interpreter, so modules other tests loaded do not hide
an import; a static check keeps app/plans to its allowed imports (the layering rule
in docs/architecture.md).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = ("sqlalchemy", "asyncio", "httpx", "grpc")
PLANS = sorted(f"revflow.plans.{p.stem}" for p in (ROOT / "app" / "plans").glob("*.py"))
MAPPING = sorted(
    f"revflow.mapping.{p.stem}"
    for p in (ROOT / "app" / "mapping").glob("*.py")
    if p.stem not in ("__init__", "store")
)
# what app/plans may import besides the standard library and itself
ALLOWED = (
    "revflow.plans",
    "revflow.mapping",
    "revflow.clock",
    "revflow.connectors.external_id",
    "yaml",
    "jmespath",
)


def loaded_after(*modules: str) -> dict[str, list[str]]:
    """Top-level packages and app modules loaded by importing ``modules`` afresh."""
    code = (
        "import importlib, json, sys\n"
        f"for m in {list(modules)!r}: importlib.import_module(m)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    names = json.loads(out.stdout)
    return {
        "forbidden": sorted({n.split(".")[0] for n in names} & set(FORBIDDEN)),
        "app": [n for n in names if n.startswith("revflow.")],
    }


def test_plans_and_mapping_load_no_database_network_or_event_loop() -> None:
    loaded = loaded_after("revflow.plans", *PLANS, "revflow.mapping", *MAPPING)
    assert loaded["forbidden"] == []
    # the connector SDK's package is loaded for connectors.external_id; its own purity
    # is the forbidden check above
    pure = ("revflow.plans", "revflow.mapping", "revflow.connectors", "revflow.clock")
    outside = [n for n in loaded["app"] if not n.startswith(pure)]
    assert outside == []
    assert "revflow.mapping.store" not in loaded["app"]


def test_the_check_sees_a_module_that_loads_asyncio() -> None:
    # the control: the hot-reload store needs asyncio, so it stays out of app.mapping
    loaded = loaded_after("revflow.mapping.store")
    assert "asyncio" in loaded["forbidden"]
    assert "revflow.aio" in loaded["app"]


@pytest.mark.parametrize("path", sorted((ROOT / "app" / "plans").glob("*.py")), ids=str)
def test_plans_import_only_the_standard_library_and_pure_packages(path: Path) -> None:
    bad = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            if top in sys.stdlib_module_names or name == "__future__":
                continue
            if name == "revflow.mapping.store" or not name.startswith(ALLOWED):
                bad.append(f"{path.name}:{node.lineno}: {name}")
    assert bad == []

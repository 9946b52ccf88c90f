"""The wheel: what it carries, and that it migrates and runs without a checkout.

Builds the wheel from a copy of the sources, unpacks it with ``pip install --target``
into a temporary folder and runs ``python -m revflow`` there, from a working directory
with no ``migrations/``, ``mappings/`` or ``plans/`` (CI also installs it with its
dependencies into a fresh virtual environment, see .ci/run).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("app", "connectors", "migrations", "mappings", "plans", "alerts")
pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    src = tmp_path_factory.mktemp("src")
    for name in SOURCES:
        shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("setup.py", "pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    out = tmp_path_factory.mktemp("dist")
    pip = [sys.executable, "-m", "pip", "-q", "--disable-pip-version-check"]
    build = pip + ["wheel", "--no-deps", "--no-build-isolation", "-w", str(out), str(src)]
    subprocess.run(build, check=True, capture_output=True, text=True)
    (found,) = out.glob("revflow-*.whl")
    return found


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("site")
    install = [sys.executable, "-m", "pip", "-q", "--disable-pip-version-check", "install"]
    install += ["--no-deps", "--target", str(target), str(wheel)]
    subprocess.run(install, check=True, capture_output=True, text=True)
    return target


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty working directory outside the checkout."""
    monkeypatch.chdir(tmp_path)
    yield tmp_path


def run(installed: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m revflow ARGS`` importing Revflow from the unpacked wheel only."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("REVFLOW_")}
    env["PYTHONPATH"] = str(installed)
    env["REVFLOW_DATABASE_URL"] = f"sqlite+aiosqlite:///{cwd}/revflow.sqlite"
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=240
    )


def test_the_wheel_carries_migrations_mappings_and_plans(wheel: Path):
    names = set(zipfile.ZipFile(wheel).namelist())
    for folder in ("migrations", "mappings", "plans", "alerts"):
        shipped = {p.relative_to(ROOT / folder).as_posix() for p in (ROOT / folder).rglob("*")}
        shipped = {p for p in shipped if (ROOT / folder / p).is_file() and "__pycache__" not in p}
        assert shipped, folder
        missing = {p for p in shipped if f"revflow/_shipped/{folder}/{p}" not in names}
        assert not missing, f"{folder}: {sorted(missing)}"


def test_the_wheel_carries_the_consoles_templates_and_static_files(wheel: Path):
    names = set(zipfile.ZipFile(wheel).namelist())
    console = ROOT / "app" / "console"
    files = [p for d in ("templates", "static") for p in (console / d).rglob("*") if p.is_file()]
    assert files
    missing = [
        p for p in files if f"revflow/console/{p.relative_to(console).as_posix()}" not in names
    ]
    assert not missing, sorted(map(str, missing))


def test_the_wheel_installs_only_revflows_top_level_packages(wheel: Path):
    tops = {n.split("/")[0] for n in zipfile.ZipFile(wheel).namelist()}
    assert tops == {"revflow", f"revflow-{version('revflow')}.dist-info"}


def test_installed_code_is_the_wheels(installed: Path, elsewhere: Path):
    done = run(
        installed, elsewhere, "-c", "import revflow.resources as r; print(r.shipped('plans'))"
    )
    assert done.returncode == 0, done.stderr
    assert Path(done.stdout.strip()) == installed / "revflow" / "_shipped" / "plans"


def test_version_db_upgrade_and_demo_without_a_checkout(installed: Path, elsewhere: Path):
    shown = run(installed, elsewhere, "-m", "revflow", "--version")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip() == f"revflow {version('revflow')}"

    upgrade = run(installed, elsewhere, "-m", "revflow", "db", "upgrade")
    assert upgrade.returncode == 0, upgrade.stderr
    assert "newest schema" in upgrade.stdout
    assert (elsewhere / "revflow.sqlite").is_file()

    lint = run(installed, elsewhere, "-m", "revflow", "mappings", "lint")  # the shipped ones
    assert lint.returncode == 0 and "mappings OK" in lint.stdout, lint.stdout + lint.stderr

    demo = run(installed, elsewhere, "-m", "revflow", "demo", "--orders", "3", "--seed", "3")
    assert demo.returncode == 0, demo.stdout + demo.stderr[-2000:]
    assert "3/3 orders completed" in demo.stdout

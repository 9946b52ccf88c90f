"""Rewrite Revflow's import names: ``app`` -> ``revflow``, ``connectors`` -> ``revflow.connectors``.

Applied to main (issue 11). Run it again on a branch that was started before the
rename, before merging main: it is idempotent, and then only real edits conflict.
The repository keeps its top-level folders; only the import names change.

1. ``python3 scripts/rename_imports.py`` (from the repository root; idempotent).
2. setup.py: map ``revflow`` -> ``app/`` and ``revflow.connectors`` -> ``connectors/``
   (and ``revflow._shipped.<folder>`` for the data folders) in ``package_dir``.
3. pyproject.toml: ``revflow = "revflow.cli:main"``; ``py.typed`` in package-data and
   an empty ``app/py.typed``; ``[tool.ruff.lint.isort] known-first-party = ["revflow"]``;
   a mypy override ``module = ["revflow", "revflow.*"]`` with
   ``ignore_missing_imports = false`` (a missing link tree then fails loudly).
4. Editable installs become ``pip install -e '.[dev]' --config-settings
   editable_mode=strict`` (README, .ci/run): mypy cannot follow setuptools' import
   hook, but it reads the strict mode's link tree; re-run it after adding a module.
5. ``ruff check --fix . && ruff format .``; scripts/gen_protos.sh gets the same
   rewrite after protoc; README/docs: ``from connectors`` -> ``from revflow.connectors``,
   ``python -m app`` -> ``python -m revflow``; tests/test_packaging.py expects
   ``revflow/`` in the wheel.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

FOLDERS = ("app", "connectors", "tests", "bench", "migrations")
RULES = [
    # from connectors[.x] import ... / import connectors[.x]
    (re.compile(r"\b(from|import)\s+connectors(?=[\s.])"), r"\1 revflow.connectors"),
    # from app[.x] import ... / import app[.x]
    (re.compile(r"\b(from|import)\s+app(?=[\s.])"), r"\1 revflow"),
    # dotted names in strings: "app.sandbox.tryton", f"connectors.{module}", patch targets
    (re.compile(r"(?<=[\"'])connectors\.(?=[a-z_{])"), "revflow.connectors."),
    (re.compile(r"(?<=[\"'])app\.(?!py\b)(?=[a-z_{])"), "revflow."),
    # python -m app
    (re.compile(r"([\"']-m[\"'],\s*)[\"']app[\"']"), r'\1"revflow"'),
]


def rewrite(text: str) -> str:
    for pattern, replacement in RULES:
        text = pattern.sub(replacement, text)
    return text


def main() -> int:
    for folder in FOLDERS:
        for path in sorted(Path(folder).rglob("*.py")):
            text = path.read_text()
            new = rewrite(text)
            if new != text:
                path.write_text(new)
                print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The mappings page's work: lint every mapping file, run one on a pasted record.

Blocking file I/O and the mapping engine: the page calls these in a thread.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from revflow.console.redact import redact
from revflow.mapping.errors import MappingError
from revflow.mapping.lint import discover_files, lint_paths
from revflow.mapping.preview import preview


@dataclass(frozen=True)
class LintReport:
    directory: str | None
    files: list[str] = field(default_factory=list)  # names relative to the directory
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.directory is not None and not self.problems


@dataclass(frozen=True)
class PreviewResult:
    output: str = ""
    error: str = ""


def lint_report(directory: Path | None) -> LintReport:
    if directory is None:
        return LintReport(None)
    files, _ = discover_files([directory])
    problems = [str(p) for p in lint_paths([directory])]
    return LintReport(
        str(directory), sorted(str(f.relative_to(directory)) for f in files), problems
    )


def run_preview(directory: Path | None, name: str, record_text: str) -> PreviewResult:
    """The mapping named (a file of ``directory``) applied to the pasted record; or why not."""
    try:
        record = json.loads(record_text)
    except json.JSONDecodeError as exc:
        return PreviewResult(error=f"the record is not JSON: {exc.msg} at line {exc.lineno}")
    if not isinstance(record, dict):
        return PreviewResult(error="the record must be a JSON object ({...})")
    return run_mapping(directory, name, record)


def run_mapping(directory: Path | None, name: str, record: dict[str, Any]) -> PreviewResult:
    """The mapping named (a file of ``directory``) applied to ``record``; or why not."""
    if directory is None:
        return PreviewResult(error="no mappings directory is configured")
    files, _ = discover_files([directory])
    by_name = {str(f.relative_to(directory)): f for f in files}
    if name not in by_name:
        return PreviewResult(error=f"no mapping {name!r}; choose one of the list")
    try:
        document = json.loads(preview(by_name[name], record))
    except MappingError as exc:
        return PreviewResult(error=str(exc))
    return PreviewResult(output=json.dumps(redact(document), indent=2))

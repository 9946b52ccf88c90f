"""Errors raised by the mapping package.

    MappingError                 base; catch this to handle any mapping failure
    ├── MappingLoadError         a mapping file is invalid; carries every Problem found
    └── MappingEvalError         applying a valid mapping to one record failed
        └── MappingRuleError     the record broke one or more `rules:` (business error)

Loading collects all problems before raising; evaluation stops at the first
field that fails and names the file, line, target key and record id. Rules are
all checked, and every failure is reported. Evaluation errors are properties of
the record's data: `retryable` is False (retrying the same data fails the same way).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "MappingError",
    "MappingEvalError",
    "MappingLoadError",
    "MappingRuleError",
    "Problem",
    "RuleFailure",
    "TransformError",
]


@dataclass(frozen=True, slots=True, order=True)
class Problem:
    """One thing wrong with a mapping file; line and col are 1-based (0: no file)."""

    file: str
    line: int
    col: int
    key: str
    message: str

    def __str__(self) -> str:
        if self.line == 0:  # not in a file: `file` names a setting or part of Revflow
            return f"{self.file}: {self.message}"
        return f"{self.file}:{self.line}:{self.col}: {self.message}"


class MappingError(Exception):
    """Base class for mapping errors."""


class MappingLoadError(MappingError):
    """A mapping file could not be compiled; `problems` lists every issue found."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: list[Problem] = sorted(problems)
        super().__init__(str(self))

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.problems)


class MappingEvalError(MappingError):
    """A field could not be produced for one record (missing required value, bad data)."""

    retryable = False

    def __init__(self, file: str, line: int | None, key: str, record_id: str, message: str) -> None:
        self.file = file
        self.line = line
        self.key = key
        self.record_id = record_id
        self.message = message
        super().__init__(str(self))

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        what = f"field '{self.key}' {self.message}" if self.key else self.message
        return f"{where}: {what} (record {self.record_id})"


@dataclass(frozen=True, slots=True)
class RuleFailure:
    """One failed rule: which rule (by name), on which source key, and why."""

    rule: str
    key: str
    line: int
    message: str

    def __str__(self) -> str:
        on = f" on {self.key}" if self.key else ""
        return f"rule '{self.rule}' failed{on}: {self.message}"


class MappingRuleError(MappingEvalError):
    """The record broke validation rules; `failures` lists every one of them.

    A business error: not retryable until the record's data changes.
    """

    retryable = False
    business = True

    def __init__(self, file: str, record_id: str, failures: Iterable[RuleFailure]) -> None:
        self.failures: list[RuleFailure] = list(failures)
        first = self.failures[0] if self.failures else RuleFailure("", "", 0, "no failures")
        super().__init__(file, first.line, first.key, record_id, str(first))

    def __str__(self) -> str:
        lines = "; ".join(f"{self.file}:{f.line}: {f}" for f in self.failures)
        return f"{lines} (record {self.record_id})"


class TransformError(Exception):
    """A transform (or a number helper it uses) cannot handle this record's value."""

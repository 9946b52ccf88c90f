"""The compiled mapping: a tree of field specs that evaluate a record without I/O.

FieldSpec          base: target key, line, optional `when:`
├── ValueField     path / value / format / expr / lookup_record, then default, required, transforms
├── ObjectField    `fields:` -> nested object
└── EachField      `each:` + `fields:` -> one object per (filtered) source list item
"""

from __future__ import annotations

from collections.abc import Mapping as AbcMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from revflow.mapping.conditions import Condition
from revflow.mapping.errors import MappingEvalError, MappingRuleError, RuleFailure
from revflow.mapping.expressions import Expr, ExprRuntimeError
from revflow.mapping.paths import PathRef, Scope
from revflow.mapping.record_lookups import (
    LookupRequest,
    LookupSource,
    LookupUse,
    RecordLookup,
    lookup_keys,
)
from revflow.mapping.templates import Template
from revflow.mapping.transforms import Transform, TransformError

__all__ = [
    "Const",
    "EachField",
    "FieldSpec",
    "Mapping",
    "ObjectField",
    "SourceRef",
    "ValueField",
]

OMIT = object()  # a field whose `when:` is false is left out of the output


class FieldFailure(Exception):
    """Raised inside evaluation; Mapping.apply adds the file and record id."""

    def __init__(self, key: str, line: int, message: str) -> None:
        super().__init__(message)
        self.key, self.line, self.message = key, line, message


@dataclass(frozen=True, slots=True)
class Const:
    """A constant source (`value:`)."""

    value: Any

    def get(self, scope: Scope) -> Any:
        return self.value

    def __str__(self) -> str:
        return repr(self.value)


Source = PathRef | Const | Template | Expr | LookupSource


@dataclass(frozen=True, slots=True)
class SourceRef:
    """A source path the mapping reads, for org checks: `base` is the list path it sits in."""

    base: tuple[str, ...]  # e.g. ("OrderItems",) inside `each: OrderItems`; () at the root
    parts: tuple[str, ...]  # relative to `base`
    line: int
    col: int


def _test(cond: Condition, scope: Scope, key: str, line: int, what: str) -> bool:
    try:
        return cond.test(scope)
    except ExprRuntimeError as exc:
        raise FieldFailure(key, line, f"'{what}' condition failed: {exc}") from exc


@dataclass(frozen=True, slots=True)
class FieldSpec:
    name: str  # output key
    key: str  # dotted target key, for messages
    line: int
    when: Condition | None

    def evaluate(self, scope: Scope) -> Any:
        if self.when is not None and not _test(self.when, scope, self.key, self.line, "when"):
            return OMIT
        return self.produce(scope)

    def produce(self, scope: Scope) -> Any:
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class ValueField(FieldSpec):
    source: Source
    required: bool = False
    default: Any = None
    transforms: tuple[Transform, ...] = ()

    def produce(self, scope: Scope) -> Any:
        try:
            value = self.source.get(scope)
        except Exception as exc:  # e.g. a format spec that does not fit the value
            raise FieldFailure(
                self.key, self.line, f"cannot be built from {self.source}: {exc}"
            ) from exc
        if value is None:
            value = self.default
        if value is None:
            if self.required:
                what = (
                    self.source.missing(scope)
                    if isinstance(self.source, LookupSource)
                    else str(self.source)
                )
                raise FieldFailure(self.key, self.line, f"is required but {what} is missing")
            return None
        for transform in self.transforms:
            try:
                value = transform(value, scope)
            except TransformError as exc:
                raise FieldFailure(
                    self.key, self.line, f"transform '{transform.name}' failed: {exc}"
                ) from exc
            except Exception as exc:
                raise FieldFailure(
                    self.key,
                    self.line,
                    f"transform '{transform.name}' failed: {type(exc).__name__}: {exc}",
                ) from exc
            if value is None:
                break
        return value


def evaluate_fields(fields: tuple[FieldSpec, ...], scope: Scope) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for spec in fields:
        value = spec.evaluate(scope)
        if value is not OMIT:
            out[spec.name] = value
    return out


@dataclass(frozen=True, slots=True)
class ObjectField(FieldSpec):
    fields: tuple[FieldSpec, ...]

    def produce(self, scope: Scope) -> Any:
        return evaluate_fields(self.fields, scope)


@dataclass(frozen=True, slots=True)
class EachField(FieldSpec):
    source: PathRef
    fields: tuple[FieldSpec, ...]
    where: Condition | None = None
    required: bool = False

    def produce(self, scope: Scope) -> Any:
        items = self.source.get(scope)
        if items is None:
            if self.required:
                raise FieldFailure(self.key, self.line, f"is required but {self.source} is missing")
            return []
        if not isinstance(items, list | tuple):
            raise FieldFailure(
                self.key,
                self.line,
                f"expects a list at {self.source}, got {type(items).__name__}",
            )
        out = []
        for index, item in enumerate(items):
            inner = Scope(scope.root, item)
            if self.where is not None and not _test(
                self.where, inner, f"{self.key}[{index}]", self.line, "where"
            ):
                continue
            try:
                out.append(evaluate_fields(self.fields, inner))
            except FieldFailure as failure:
                key = f"{self.key}[{index}]{failure.key[len(self.key) :]}"
                raise FieldFailure(key, failure.line, failure.message) from failure.__cause__
        return out


@dataclass(frozen=True, slots=True)
class Mapping:
    """A compiled mapping file; `apply` turns one source record into a target document."""

    name: str
    version: str | None
    source: str
    target: str
    description: str | None
    fields: tuple[FieldSpec, ...]
    filename: str
    path: Path | None
    content_hash: str
    rules: tuple[Any, ...] = ()  # app.mapping.rules.Rule
    source_refs: tuple[SourceRef, ...] = ()
    record_lookups: tuple[RecordLookup, ...] = ()
    lookup_uses: tuple[LookupUse, ...] = ()
    # `fields` and `rules` compiled to closures (runners.py, rules.py), built here so
    # every Mapping has them
    run_fields: Any = field(init=False, repr=False, compare=False)
    rules_pass: Any = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        from revflow.mapping.rules import compile_pass  # rules and runners import this
        from revflow.mapping.runners import compile_fields  # module

        object.__setattr__(self, "run_fields", compile_fields(self.fields))
        object.__setattr__(self, "rules_pass", compile_pass(self.rules))

    def lookup_requests(self, record: AbcMapping[str, Any]) -> list[LookupRequest]:
        """The other records `apply(record)` reads from `record["__lookups__"]`."""
        return [
            LookupRequest(lookup.sobject, lookup.match, key, lookup.fields)
            for lookup, key in lookup_keys(self.record_lookups, self.lookup_uses, record)
        ]

    def check_rules(self, record: AbcMapping[str, Any]) -> list[RuleFailure]:
        """Every failed rule for `record` (empty when all pass)."""
        failures: list[RuleFailure] = []
        for rule in self.rules:
            failures.extend(rule.failures(record))
        return failures

    def apply(self, record: AbcMapping[str, Any]) -> dict[str, Any]:
        """Check all rules, then evaluate every field.

        Raises MappingRuleError listing every failed rule, or MappingEvalError for
        the first field that cannot be built; never anything else.
        """
        if type(record) is not dict and not isinstance(record, AbcMapping):
            raise MappingEvalError(
                self.filename,
                None,
                "",
                _record_id(record),
                f"expected a record mapping, got {type(record).__name__}",
            )
        try:
            scope = Scope(record, record)
            if not self.rules_pass(scope):
                failures = self.check_rules(record)
                if failures:
                    raise MappingRuleError(self.filename, _record_id(record), failures)
            try:
                return self.run_fields(scope)  # type: ignore[no-any-return]
            except Exception:  # the spec tree below says exactly what is wrong
                pass
            return evaluate_fields(self.fields, scope)
        except MappingEvalError:
            raise
        except FieldFailure as failure:
            raise MappingEvalError(
                self.filename, failure.line, failure.key, _record_id(record), failure.message
            ) from failure.__cause__
        except Exception as exc:  # defensive: evaluation must only raise MappingEvalError
            raise MappingEvalError(
                self.filename,
                None,
                "",
                _record_id(record),
                f"unexpected {type(exc).__name__}: {exc}",
            ) from exc


def _record_id(record: Any) -> str:
    value = record.get("Id") if isinstance(record, AbcMapping) else None
    return str(value) if value is not None else "<no Id>"

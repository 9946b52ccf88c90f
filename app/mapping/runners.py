"""Fields compiled once into plain closures, for fast evaluation of the common case.

A runner takes a Scope and returns the field's value (or OMIT). Runners only
handle success: on anything unusual (a required value missing, a bad list, any
exception) they raise, and Mapping.apply re-evaluates the record through the
FieldSpec tree, which builds the exact error message. So a runner must return
the same value as `spec.evaluate` whenever it returns at all.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from revflow.mapping.conditions import Compare, Condition
from revflow.mapping.model import OMIT, Const, EachField, FieldSpec, ObjectField, ValueField
from revflow.mapping.paths import Getter, PathRef, Scope, path_getter

__all__ = ["Runner", "SlowPath", "compile_fields"]

Runner = Callable[[Scope], Any]
Test = Callable[[Scope], bool]


class SlowPath(Exception):
    """The fast path cannot build this record; evaluate it through the spec tree."""


def compile_fields(fields: tuple[FieldSpec, ...]) -> Callable[[Scope], dict[str, Any]]:
    """One runner building the output object of `fields`."""
    pairs = tuple((spec.name, _field(spec)) for spec in fields)
    if not any(spec.when is not None for spec in fields):

        def run_plain(scope: Scope) -> dict[str, Any]:
            out: dict[str, Any] = {}
            for name, run in pairs:
                out[name] = run(scope)
            return out

        return run_plain

    def run_all(scope: Scope) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, run in pairs:
            value = run(scope)
            if value is not OMIT:
                out[name] = value
        return out

    return run_all


def _field(spec: FieldSpec) -> Runner:
    run = _produce(spec)
    if spec.when is None:
        return run
    test = _condition(spec.when)
    return lambda scope: run(scope) if test(scope) else OMIT


def _produce(spec: FieldSpec) -> Runner:
    if isinstance(spec, ValueField):
        return _value(spec)
    if isinstance(spec, ObjectField):
        return compile_fields(spec.fields)
    if isinstance(spec, EachField):
        return _each(spec)
    return spec.produce  # a spec kind this module does not know: use its own code


def _condition(cond: Condition) -> Test:
    if isinstance(cond, Compare) and cond.op == "exists":
        read, want = path_getter(cond.path), bool(cond.operand)
        return lambda scope: (read(scope) is not None) is want
    return cond.test  # ExprCondition may raise; the slow path reports it


def _source(spec: ValueField) -> Getter:
    source = spec.source
    if isinstance(source, PathRef):
        return path_getter(source)
    if isinstance(source, Const):
        value = source.value
        return lambda scope: value
    return source.get


def _value(spec: ValueField) -> Runner:
    read, default, required = _source(spec), spec.default, spec.required
    fns = tuple(transform.fn for transform in spec.transforms)
    if isinstance(spec.source, PathRef) and default is None and required and len(fns) <= 1:
        return _required_path(spec.source, read, fns[0] if fns else None)
    if default is None and not fns:
        return _required(read) if required else read
    if default is None and required and len(fns) == 1:
        return _required_then(read, fns[0])

    def run(scope: Scope) -> Any:
        value = read(scope)
        if value is None:
            value = default
            if value is None:
                if required:
                    raise SlowPath
                return None
        for fn in fns:
            value = fn(value, scope)
            if value is None:
                break
        return value

    return run


def _required(read: Getter) -> Runner:
    def run(scope: Scope) -> Any:
        value = read(scope)
        if value is None:
            raise SlowPath
        return value

    return run


def _required_then(read: Getter, fn: Callable[[Any, Scope], Any]) -> Runner:
    """A required value with one transform (e.g. `{path: UnitPrice, transform: money}`)."""

    def run(scope: Scope) -> Any:
        value = read(scope)
        if value is None:
            raise SlowPath
        return fn(value, scope)

    return run


def _required_path(path: PathRef, read: Getter, then: Callable[[Any, Scope], Any] | None) -> Runner:
    """A required path of one or two parts (then at most one transform), read inline:
    one call per field instead of two, the commonest field of all.  Records other
    than plain dicts go through `read`."""
    absolute = path.absolute
    if len(path.parts) == 1:
        (first,) = path.parts

        def one(scope: Scope) -> Any:
            current = scope.root if absolute else scope.item
            value = current.get(first) if type(current) is dict else read(scope)
            if value is None:
                raise SlowPath
            return value if then is None else then(value, scope)

        return one
    if len(path.parts) == 2:
        first, second = path.parts

        def two(scope: Scope) -> Any:
            current = scope.root if absolute else scope.item
            if type(current) is dict:
                current = current.get(first)
                value = current.get(second) if type(current) is dict else read(scope)
            else:
                value = read(scope)
            if value is None:
                raise SlowPath
            return value if then is None else then(value, scope)

        return two
    return _required(read) if then is None else _required_then(read, then)


def _each(spec: EachField) -> Runner:
    read, required = path_getter(spec.source), spec.required
    where = _condition(spec.where) if spec.where is not None else None
    build = compile_fields(spec.fields)

    def run(scope: Scope) -> Any:
        items = read(scope)
        if items is None:
            if required:
                raise SlowPath
            return []
        if not isinstance(items, list | tuple):
            raise SlowPath
        root = scope.root
        if where is None:
            return [build(Scope(root, item)) for item in items]
        out = []
        for item in items:
            inner = Scope(root, item)
            if where(inner):
                out.append(build(inner))
        return out

    return run

"""The mapping compiler's pieces: paths, expressions, conditions, templates,
transforms, and the checks of keys and values every part uses."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Any

from revflow.mapping.conditions import (
    COMBINATORS,
    OPERATORS,
    All,
    Any_,
    Compare,
    Condition,
    ExprCondition,
    Not,
)
from revflow.mapping.errors import Problem
from revflow.mapping.expressions import ROOT_NAME, Expr, ExprSyntaxError, compile_expr, expr_paths
from revflow.mapping.loader import Pos, YamlList, YamlMap, plain
from revflow.mapping.model import (
    SourceRef,
)
from revflow.mapping.paths import PathRef, parse_path
from revflow.mapping.record_lookups import LookupUse, RecordLookup
from revflow.mapping.templates import parse_template
from revflow.mapping.transforms import (
    CompileContext,
    Transform,
    TransformConfigError,
    build_transform,
)


def label(key: str) -> str:
    """How messages name the place: `field 'lines.sku'` or `rules[2]`."""
    return key if key.startswith("rules[") else f"field '{key}'"


def valid_path(text: str) -> bool:
    try:
        parse_path(text)
    except ValueError:
        return False
    return True


def type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "mapping"
    if isinstance(value, list):
        return "list"
    return type(value).__name__


class PiecesCompiler:
    """What every part of a mapping is built from: problems, paths, expressions,
    conditions, templates, transforms and the key checks."""

    def __init__(self, filename: str, lines: Sequence[str] = ()) -> None:
        self.filename = filename
        self.lines = lines
        self.problems: list[Problem] = []
        self.base: tuple[str, ...] = ()  # list path of the enclosing `each`, for source refs
        self.refs: list[SourceRef] = []
        self.record_lookups: dict[str, RecordLookup] = {}
        self.lookup_uses: list[LookupUse] = []

    def problem(self, pos: Pos, key: str, message: str) -> None:
        self.problems.append(Problem(self.filename, pos.line, pos.col, key, message))

    # -- pieces -------------------------------------------------------------------

    def transforms(self, spec: YamlMap, key: str, ctx: CompileContext) -> tuple[Transform, ...]:
        raw, pos = spec["transform"], spec.value_pos["transform"]
        items: Sequence[Any] = raw if isinstance(raw, YamlList) else [raw]
        positions: Sequence[Pos] = raw.item_pos if isinstance(raw, YamlList) else [pos]
        out = []
        for item, item_pos in zip(items, positions, strict=True):
            if isinstance(item, str):
                name, args, at = item, None, item_pos
            elif isinstance(item, YamlMap) and len(item) == 1:
                name = next(iter(item))
                args, at = plain(item[name]), item.key_pos[name]
            elif isinstance(item, YamlMap):
                self.problem(
                    item_pos,
                    key,
                    f"field '{key}': give one transform per entry; use a list to chain transforms",
                )
                continue
            else:
                self.problem(
                    item_pos,
                    key,
                    f"field '{key}': a transform must be a name or {{name: options}}, "
                    f"got {type_name(item)}",
                )
                continue
            try:
                out.append(build_transform(name, args, ctx))
            except TransformConfigError as exc:
                self.problem(at, key, f"field '{key}': {exc}")
            for path in ctx.paths:
                self.record(path, at)
            ctx.paths.clear()
        return tuple(out)

    def condition(self, raw: Any, pos: Pos, key: str) -> Condition | None:
        if isinstance(raw, str):
            expr = self.expr(raw, pos, key)
            return ExprCondition(expr) if expr else None
        if not isinstance(raw, YamlMap):
            self.problem(pos, key, f"field '{key}': a condition must be a mapping or an expression")
            return None
        if "expr" in raw:
            if len(raw) != 1:
                self.problem(pos, key, f"field '{key}': 'expr' must be the only condition key")
                return None
            expr = self.expr(raw["expr"], raw.value_pos["expr"], key)
            return ExprCondition(expr) if expr else None
        combinators = [k for k in COMBINATORS if k in raw]
        if combinators:
            if len(raw) != 1:
                self.problem(pos, key, f"field '{key}': '{combinators[0]}' must be the only key")
                return None
            word = combinators[0]
            inner, inner_pos = raw[word], raw.value_pos[word]
            if word == "not":
                item = self.condition(inner, inner_pos, key)
                return Not(item) if item else None
            if not isinstance(inner, YamlList) or not inner:
                self.problem(inner_pos, key, f"field '{key}': '{word}' needs a non-empty list")
                return None
            items = [self.condition(c, p, key) for c, p in zip(inner, inner.item_pos, strict=True)]
            if any(i is None for i in items):
                return None
            conds = tuple(i for i in items if i is not None)
            return All(conds) if word == "all" else Any_(conds)
        self.unknown_keys(raw, ("path", "expr", *OPERATORS), key, f"condition key in field '{key}'")
        ops = [k for k in OPERATORS if k in raw]
        if "path" not in raw or len(ops) != 1:
            self.problem(
                pos,
                key,
                f"field '{key}': a condition needs 'path' and exactly one of "
                f"{', '.join(OPERATORS)} (or all/any/not)",
            )
            return None
        path = self.path(raw["path"], raw.value_pos["path"], key)
        op, operand = ops[0], plain(raw[ops[0]])
        if op in ("in", "not_in"):
            if not isinstance(operand, list):
                self.problem(raw.value_pos[op], key, f"field '{key}': '{op}' needs a list")
                return None
            operand = tuple(operand)
        if op == "exists" and not isinstance(operand, bool):
            self.problem(raw.value_pos[op], key, f"field '{key}': 'exists' must be true or false")
            return None
        return Compare(path, op, operand) if path else None

    def path(self, raw: Any, pos: Pos, key: str) -> PathRef | None:
        if not isinstance(raw, str):
            self.problem(pos, key, f"{label(key)}: a path must be text, got {type_name(raw)}")
            return None
        try:
            path = parse_path(raw)
        except ValueError as exc:
            self.problem(pos, key, f"{label(key)}: {exc}")
            return None
        self.record(path, pos)
        return path

    def record(self, path: PathRef, pos: Pos) -> None:
        base = () if path.absolute else self.base
        self.refs.append(SourceRef(base, path.parts, pos.line, pos.col))

    def expr(self, raw: Any, pos: Pos, key: str) -> Expr | None:
        """Compile an expression; syntax errors point at the offending column."""
        if not isinstance(raw, str):
            self.problem(pos, key, f"{label(key)}: an expression must be text")
            return None
        try:
            expr = compile_expr(raw)
        except ExprSyntaxError as exc:
            line = self.lines[pos.line - 1] if 0 < pos.line <= len(self.lines) else ""
            opener = line[pos.col - 1 : pos.col]
            quoted = opener in ("'", '"')
            col = (
                pos.col + (1 if quoted else 0) + (exc.offset if quoted or opener not in "|>" else 0)
            )
            self.problem(Pos(pos.line, col), key, f"{label(key)}: {exc}")
            return None
        for parts in expr_paths(expr):
            if parts[0] == ROOT_NAME:
                if len(parts) > 1:
                    self.refs.append(SourceRef((), parts[1:], pos.line, pos.col))
            else:
                self.refs.append(SourceRef(self.base, parts, pos.line, pos.col))
        return expr

    def template(self, raw: Any, pos: Pos, key: str) -> Any:
        if not isinstance(raw, str):
            self.problem(pos, key, f"field '{key}': 'format' must be text")
            return None
        try:
            template = parse_template(raw, allow_value=False)
        except ValueError as exc:
            self.problem(pos, key, f"field '{key}': {exc}")
            return None
        for part in template.parts:
            if part.path is not None:
                self.record(part.path, pos)
        return template

    def flag(self, spec: YamlMap, name: str, key: str) -> bool:
        value = spec.get(name, False)
        if not isinstance(value, bool):
            self.problem(
                spec.value_pos[name], key, f"field '{key}': '{name}' must be true or false"
            )
            return False
        return value

    def text(self, tree: YamlMap, name: str, key: str, *, required: bool) -> str | None:
        if name not in tree:
            if required:
                self.problem(tree.pos, name, f"missing required key '{name}'")
            return None
        value = tree[name]
        if not isinstance(value, str) or not value.strip():
            self.problem(tree.value_pos[name], name, f"'{name}' must be non-empty text")
            return None
        return value

    def unknown_keys(self, raw: YamlMap, allowed: Sequence[str], key: str, what: str) -> None:
        for name in raw:
            if name in allowed:
                continue
            close = difflib.get_close_matches(name, allowed, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            self.problem(raw.key_pos[name], key or name, f"unknown {what} '{name}'{hint}")

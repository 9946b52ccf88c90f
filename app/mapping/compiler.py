"""Compile mapping YAML into a `Mapping`, collecting every problem before raising."""

from __future__ import annotations

import difflib
import hashlib
import re
from collections.abc import Sequence
from pathlib import Path
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
from revflow.mapping.errors import MappingLoadError, Problem
from revflow.mapping.expressions import ROOT_NAME, Expr, ExprSyntaxError, compile_expr, expr_paths
from revflow.mapping.loader import Pos, YamlList, YamlMap, parse_yaml, plain
from revflow.mapping.model import (
    Const,
    EachField,
    FieldSpec,
    Mapping,
    ObjectField,
    SourceRef,
    ValueField,
)
from revflow.mapping.paths import PathRef, parse_path
from revflow.mapping.record_lookups import LookupSource, LookupUse, RecordLookup
from revflow.mapping.rules import NEEDS_PATH, OPTIONS, RULE_KEYS, Rule, RuleConfigError, build_check
from revflow.mapping.templates import parse_template
from revflow.mapping.transforms import (
    CompileContext,
    LookupTable,
    Transform,
    TransformConfigError,
    build_transform,
    make_table,
)

__all__ = [
    "FIELD_KEYS",
    "RECORD_LOOKUP_KEYS",
    "SOURCES",
    "TOP_KEYS",
    "compile_mapping",
    "load_mapping",
]

SOURCES = ("Order", "Quote")
TOP_KEYS = (
    "name",
    "version",
    "description",
    "source",
    "target",
    "lookups",
    "record_lookups",
    "rules",
    "fields",
)
KINDS = ("path", "value", "format", "expr", "lookup_record", "fields", "each")
FIELD_KEYS = (*KINDS, "field", "where", "required", "default", "transform", "when", "description")
RECORD_LOOKUP_KEYS = ("sobject", "match", "key", "fields", "description")
_API_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
# Keys that make no sense next to a given kind of field.
FORBIDDEN = {
    "path": ("where",),
    "value": ("where",),
    "format": ("where",),
    "expr": ("where",),
    "lookup_record": ("where",),
    "fields": ("where", "required", "default", "transform"),
    "each": ("default", "transform"),
}
_START = Pos(1, 1)


def compile_mapping(
    text: str | bytes, filename: str = "<string>", *, path: Path | None = None
) -> Mapping:
    """Compile mapping source text; raises MappingLoadError listing every problem."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    try:
        decoded = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise MappingLoadError(
            [Problem(filename, 1, 1, "", f"file is not valid UTF-8: {exc.reason}")]
        ) from None
    parsed = parse_yaml(decoded, filename)
    compiler = _Compiler(filename, decoded.splitlines())
    compiler.problems.extend(parsed.problems)
    mapping = None
    if parsed.tree is not None:
        mapping = compiler.mapping(parsed.tree, hashlib.sha256(data).hexdigest(), path)
    if compiler.problems or mapping is None:
        raise MappingLoadError(compiler.problems)
    return mapping


def load_mapping(path: str | Path) -> Mapping:
    """Read and compile one mapping file; the file name in problems is `str(path)`."""
    filename = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise MappingLoadError(
            [Problem(filename, 1, 1, "", f"cannot read mapping file: {exc.strerror or exc}")]
        ) from None
    return compile_mapping(data, filename, path=Path(path))


def _label(key: str) -> str:
    """How messages name the place: `field 'lines.sku'` or `rules[2]`."""
    return key if key.startswith("rules[") else f"field '{key}'"


def _valid_path(text: str) -> bool:
    try:
        parse_path(text)
    except ValueError:
        return False
    return True


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "mapping"
    if isinstance(value, list):
        return "list"
    return type(value).__name__


class _Compiler:
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

    # -- top level ----------------------------------------------------------------

    def mapping(self, tree: Any, content_hash: str, path: Path | None) -> Mapping | None:
        if not isinstance(tree, YamlMap):
            self.problem(
                getattr(tree, "pos", _START),
                "",
                "a mapping file must be a YAML mapping with name, source, target and fields",
            )
            return None
        self.unknown_keys(tree, TOP_KEYS, "", "top-level key")
        name = self.text(tree, "name", "", required=True)
        version = tree.get("version")
        if version is not None and (
            isinstance(version, bool) or not isinstance(version, str | int | float)
        ):
            self.problem(tree.value_pos["version"], "version", "'version' must be text or a number")
        description = self.text(tree, "description", "", required=False)
        source = self.text(tree, "source", "", required=True)
        if source is not None and source not in SOURCES:
            self.problem(
                tree.value_pos["source"],
                "source",
                f"'source' must be one of {', '.join(SOURCES)}, got '{source}'",
            )
        target = self.text(tree, "target", "", required=True)
        ctx = CompileContext(self.lookups(tree))
        self.record_lookups = self.compile_record_lookups(tree)
        rules = self.rules(tree)
        fields: tuple[FieldSpec, ...] = ()
        if "fields" not in tree:
            self.problem(tree.pos, "fields", "missing required key 'fields'")
        elif not isinstance(tree["fields"], YamlMap) or not tree["fields"]:
            self.problem(tree.value_pos["fields"], "fields", "'fields' must be a non-empty mapping")
        else:
            fields = self.fields(tree["fields"], "", ctx)
        return Mapping(
            name=name or "",
            version=None if version is None else str(version),
            source=source or "",
            target=target or "",
            description=description,
            fields=fields,
            filename=self.filename,
            path=path,
            content_hash=content_hash,
            rules=rules,
            source_refs=tuple(dict.fromkeys(self.refs)),
            record_lookups=tuple(self.record_lookups.values()),
            lookup_uses=tuple(dict.fromkeys(self.lookup_uses)),
        )

    def lookups(self, tree: YamlMap) -> dict[str, LookupTable]:
        raw = tree.get("lookups")
        if raw is None:
            return {}
        if not isinstance(raw, YamlMap):
            self.problem(tree.value_pos["lookups"], "lookups", "'lookups' must be a mapping")
            return {}
        tables = {}
        for name, spec in raw.items():
            try:
                tables[name] = make_table(name, f"lookup '{name}'", plain(spec))
            except TransformConfigError as exc:
                self.problem(raw.key_pos[name], f"lookups.{name}", str(exc))
        return tables

    def compile_record_lookups(self, tree: YamlMap) -> dict[str, RecordLookup]:
        raw = tree.get("record_lookups")
        if raw is None:
            return {}
        if not isinstance(raw, YamlMap):
            self.problem(
                tree.value_pos["record_lookups"],
                "record_lookups",
                "'record_lookups' must be a mapping",
            )
            return {}
        out = {}
        for name, spec in raw.items():
            built = self.record_lookup(name, spec, raw.key_pos[name], raw.value_pos[name])
            if built is not None:
                out[name] = built
        return out

    def record_lookup(self, name: str, spec: Any, kpos: Pos, vpos: Pos) -> RecordLookup | None:
        key = f"record_lookups.{name}"
        if not isinstance(spec, YamlMap):
            self.problem(
                vpos,
                key,
                f"record lookup '{name}' must be a mapping with sobject, match, key and fields",
            )
            return None
        self.unknown_keys(spec, RECORD_LOOKUP_KEYS, key, f"{key} key")
        missing = [k for k in ("sobject", "match", "key", "fields") if k not in spec]
        if missing:
            self.problem(
                kpos, key, f"record lookup '{name}' needs {', '.join(repr(m) for m in missing)}"
            )
            return None
        ok = True
        for word in ("sobject", "match"):
            if not isinstance(spec[word], str) or not _API_NAME.match(spec[word]):
                self.problem(
                    spec.value_pos[word],
                    key,
                    f"record lookup '{name}': '{word}' must be an API name like Account or Id",
                )
                ok = False
        raw_fields = spec["fields"]
        fields: list[str] = []
        if not isinstance(raw_fields, YamlList) or not raw_fields:
            self.problem(
                spec.value_pos["fields"],
                key,
                f"record lookup '{name}': 'fields' must be a non-empty list of field names",
            )
            ok = False
        else:
            for item, pos in zip(raw_fields, raw_fields.item_pos, strict=True):
                if not isinstance(item, str) or item.startswith("$") or not _valid_path(item):
                    self.problem(pos, key, f"record lookup '{name}': invalid field name {item!r}")
                    ok = False
                else:
                    fields.append(item)
        raw_key, path = spec["key"], None
        try:
            path = parse_path(raw_key) if isinstance(raw_key, str) else None
            if path is None:
                self.problem(
                    spec.value_pos["key"], key, f"record lookup '{name}': 'key' must be a path"
                )
        except ValueError as exc:
            self.problem(spec.value_pos["key"], key, f"record lookup '{name}': {exc}")
        if not ok or path is None:
            return None
        return RecordLookup(
            name, spec["sobject"], spec["match"], path, tuple(dict.fromkeys(fields)), kpos.line
        )

    # -- fields -------------------------------------------------------------------

    def fields(self, raw: YamlMap, prefix: str, ctx: CompileContext) -> tuple[FieldSpec, ...]:
        out = []
        for name, spec in raw.items():
            key = f"{prefix}{name}"
            if not name:
                self.problem(raw.key_pos[name], key, "target field names must not be empty")
                continue
            built = self.field(name, key, spec, raw.key_pos[name], raw.value_pos[name], ctx)
            if built is not None:
                out.append(built)
        return tuple(out)

    def field(
        self, name: str, key: str, spec: Any, kpos: Pos, vpos: Pos, ctx: CompileContext
    ) -> FieldSpec | None:
        if isinstance(spec, str):
            path = self.path(spec, vpos, key)
            return ValueField(name, key, kpos.line, None, path) if path else None
        if not isinstance(spec, YamlMap):
            self.problem(
                vpos,
                key,
                f"field '{key}' must be a source path or a mapping with one of "
                f"{', '.join(KINDS)}; got {_type_name(spec)} (use value: for constants)",
            )
            return None
        self.unknown_keys(spec, FIELD_KEYS, key, f"key in field '{key}'")
        kinds = [k for k in KINDS if k in spec and not (k == "fields" and "each" in spec)]
        if not kinds:
            self.problem(kpos, key, f"field '{key}' needs one of {', '.join(KINDS)}")
            return None
        if len(kinds) > 1:
            self.problem(
                spec.key_pos[kinds[1]],
                key,
                f"field '{key}' has both '{kinds[0]}' and '{kinds[1]}'; "
                f"use exactly one of {', '.join(KINDS)}",
            )
            return None
        kind = kinds[0]
        if "field" in spec and kind != "lookup_record":
            self.problem(
                spec.key_pos["field"], key, f"field '{key}': 'field' needs 'lookup_record'"
            )
        for bad in FORBIDDEN[kind]:
            if bad in spec:
                self.problem(
                    spec.key_pos[bad], key, f"field '{key}': '{bad}' cannot be used with '{kind}'"
                )
        when = self.condition(spec["when"], spec.value_pos["when"], key) if "when" in spec else None
        required = self.flag(spec, "required", key)
        line = kpos.line
        if kind == "fields":
            nested = self.nested(spec, key, ctx)
            return ObjectField(name, key, line, when, nested)
        if kind == "each":
            source = self.path(spec["each"], spec.value_pos["each"], key)
            if "fields" not in spec:
                self.problem(spec.key_pos["each"], key, f"field '{key}': 'each' needs 'fields'")
                return None
            outer = self.base
            if source is not None:
                self.base = source.parts if source.absolute else (*outer, *source.parts)
            try:
                nested = self.nested(spec, key, ctx)
                where = (
                    self.condition(spec["where"], spec.value_pos["where"], key)
                    if "where" in spec
                    else None
                )
            finally:
                self.base = outer
            return (
                EachField(name, key, line, when, source, nested, where, required)
                if source
                else None
            )
        source_ref: Any
        if kind == "path":
            source_ref = self.path(spec["path"], spec.value_pos["path"], key)
        elif kind == "expr":
            source_ref = self.expr(spec["expr"], spec.value_pos["expr"], key)
        elif kind == "value":
            source_ref = Const(plain(spec["value"]))
        elif kind == "lookup_record":
            source_ref = self.lookup_source(spec, key)
        else:
            source_ref = self.template(spec["format"], spec.value_pos["format"], key)
        transforms = self.transforms(spec, key, ctx) if "transform" in spec else ()
        if source_ref is None:
            return None
        return ValueField(
            name, key, line, when, source_ref, required, plain(spec.get("default")), transforms
        )

    def lookup_source(self, spec: YamlMap, key: str) -> LookupSource | None:
        name, pos = spec["lookup_record"], spec.value_pos["lookup_record"]
        lookup = self.record_lookups.get(name) if isinstance(name, str) else None
        if lookup is None:
            known = ", ".join(sorted(self.record_lookups)) or "none declared"
            self.problem(
                pos, key, f"field '{key}': undefined record lookup {name!r} (known: {known})"
            )
            return None
        field = spec.get("field")
        if "field" not in spec:
            self.problem(pos, key, f"field '{key}': 'lookup_record' needs 'field'")
            return None
        if field not in lookup.fields:
            self.problem(
                spec.value_pos["field"],
                key,
                f"field '{key}': {field!r} is not fetched by record lookup '{lookup.name}' "
                f"(fields: {', '.join(lookup.fields)})",
            )
            return None
        base = () if lookup.key.absolute else self.base
        self.lookup_uses.append(LookupUse(lookup.name, base))
        self.refs.append(SourceRef(base, lookup.key.parts, pos.line, pos.col))
        return LookupSource(lookup, parse_path(field))

    def nested(self, spec: YamlMap, key: str, ctx: CompileContext) -> tuple[FieldSpec, ...]:
        raw = spec["fields"]
        if not isinstance(raw, YamlMap) or not raw:
            self.problem(
                spec.value_pos["fields"],
                key,
                f"field '{key}': 'fields' must be a non-empty mapping",
            )
            return ()
        return self.fields(raw, f"{key}.", ctx)

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
                    f"got {_type_name(item)}",
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
            self.problem(pos, key, f"{_label(key)}: a path must be text, got {_type_name(raw)}")
            return None
        try:
            path = parse_path(raw)
        except ValueError as exc:
            self.problem(pos, key, f"{_label(key)}: {exc}")
            return None
        self.record(path, pos)
        return path

    def record(self, path: PathRef, pos: Pos) -> None:
        base = () if path.absolute else self.base
        self.refs.append(SourceRef(base, path.parts, pos.line, pos.col))

    def expr(self, raw: Any, pos: Pos, key: str) -> Expr | None:
        """Compile an expression; syntax errors point at the offending column."""
        if not isinstance(raw, str):
            self.problem(pos, key, f"{_label(key)}: an expression must be text")
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
            self.problem(Pos(pos.line, col), key, f"{_label(key)}: {exc}")
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

    # -- rules --------------------------------------------------------------------

    def rules(self, tree: YamlMap) -> tuple[Rule, ...]:
        raw = tree.get("rules")
        if raw is None:
            return ()
        if not isinstance(raw, YamlList):
            self.problem(tree.value_pos["rules"], "rules", "'rules' must be a list")
            return ()
        out = []
        for index, (item, pos) in enumerate(zip(raw, raw.item_pos, strict=True)):
            rule = self.rule(item, pos, f"rules[{index}]")
            if rule is not None:
                out.append(rule)
        return tuple(out)

    def rule(self, item: Any, pos: Pos, key: str) -> Rule | None:
        if not isinstance(item, YamlMap) or not isinstance(item.get("rule"), str):
            self.problem(pos, key, f"{key}: a rule must be a mapping with 'rule: <name>'")
            return None
        kind = item["rule"]
        if kind not in OPTIONS:
            close = difflib.get_close_matches(kind, list(OPTIONS), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            known = ", ".join(sorted(OPTIONS))
            self.problem(
                item.value_pos["rule"], key, f"{key}: unknown rule '{kind}'{hint} (known: {known})"
            )
            return None
        self.unknown_keys(item, (*RULE_KEYS, *OPTIONS[kind]), key, f"key in rule '{kind}'")
        name = kind
        if "name" in item:
            name = self.text(item, "name", key, required=False) or kind
        message = self.text(item, "message", key, required=False) if "message" in item else None
        if kind in NEEDS_PATH and "path" not in item:
            self.problem(pos, key, f"{key}: rule '{kind}' needs 'path'")
        each = self.path(item["each"], item.value_pos["each"], key) if "each" in item else None
        outer = self.base
        self.base = each.parts if each is not None else ()
        try:
            path = self.path(item["path"], item.value_pos["path"], key) if "path" in item else None
            when = (
                self.condition(item["when"], item.value_pos["when"], key)
                if "when" in item
                else None
            )
            opts = {k: plain(item[k]) for k in OPTIONS[kind] if k in item}
            if kind == "expr":
                if "expr" not in item:
                    self.problem(pos, key, f"{key}: rule 'expr' needs 'expr'")
                    return None
                opts["expr"] = self.expr(item["expr"], item.value_pos["expr"], key)
                if opts["expr"] is None:
                    return None

            def path_of(option: str, text: Any) -> PathRef:
                if not isinstance(text, str):
                    raise RuleConfigError(f"rule '{kind}': '{option}' must be a path")
                try:
                    found = parse_path(text)
                except ValueError as exc:
                    raise RuleConfigError(f"rule '{kind}': {exc}") from None
                self.record(found, item.value_pos.get(option, pos))
                return found

            check = build_check(kind, opts, path_of)
        except RuleConfigError as exc:
            self.problem(pos, key, f"{key}: {exc}")
            return None
        finally:
            self.base = outer
        return Rule(name, pos.line, path, each, when, check, message)

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

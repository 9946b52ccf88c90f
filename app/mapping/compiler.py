"""Compile mapping YAML into a `Mapping`, collecting every problem before raising."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from revflow.mapping.compile_lookups import RECORD_LOOKUP_KEYS, LookupsCompiler
from revflow.mapping.compile_pieces import type_name
from revflow.mapping.compile_rules import RulesCompiler
from revflow.mapping.errors import MappingLoadError, Problem
from revflow.mapping.loader import Pos, YamlMap, parse_yaml, plain
from revflow.mapping.model import (
    Const,
    EachField,
    FieldSpec,
    Mapping,
    ObjectField,
    SourceRef,
    ValueField,
)
from revflow.mapping.paths import parse_path
from revflow.mapping.record_lookups import LookupSource, LookupUse
from revflow.mapping.transforms import (
    CompileContext,
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


class _Compiler(LookupsCompiler, RulesCompiler):
    """The whole mapping: top level and fields; the sections come from the bases."""

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
                f"{', '.join(KINDS)}; got {type_name(spec)} (use value: for constants)",
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

"""The mapping compiler's ``lookups:`` (value tables) and ``record_lookups:``
(records read from Salesforce by a key) sections."""

from __future__ import annotations

import re
from typing import Any

from revflow.mapping.compile_pieces import PiecesCompiler, valid_path
from revflow.mapping.loader import Pos, YamlList, YamlMap, plain
from revflow.mapping.paths import parse_path
from revflow.mapping.record_lookups import RecordLookup
from revflow.mapping.transforms import (
    LookupTable,
    TransformConfigError,
    make_table,
)

RECORD_LOOKUP_KEYS = ("sobject", "match", "key", "fields", "description")
_API_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")


class LookupsCompiler(PiecesCompiler):
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
                if not isinstance(item, str) or item.startswith("$") or not valid_path(item):
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

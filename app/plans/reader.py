"""Typed reads from a located YAML tree, for the plan-file compiler.

Every mistake becomes a Problem at the line and column of the offending key or
value, and reading carries on (the caller sees every problem of a file at once).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from revflow.connectors.external_id import ExternalIdPath, compile_path
from revflow.mapping.errors import Problem
from revflow.mapping.loader import Pos, YamlList, YamlMap
from revflow.mapping.paths import PathRef, parse_path
from revflow.plans.rules import Cond, Value, compile_condition, compile_value, parse_duration


class Reader:
    """Reads values of one file and collects its problems."""

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.problems: list[Problem] = []

    def problem(self, pos: Pos | None, message: str, key: str = "") -> None:
        line, col = pos or (1, 1)
        self.problems.append(Problem(self.filename, line, col, key, message))

    def unknown_keys(self, raw: YamlMap, allowed: Iterable[str], where: str) -> None:
        allowed = tuple(allowed)
        for key in raw:
            if key not in allowed:
                self.problem(
                    raw.key_pos[key],
                    f"unknown key '{key}' in {where} (expected one of: {', '.join(allowed)})",
                )

    def get(
        self,
        raw: YamlMap,
        key: str,
        kind: type | tuple[type, ...],
        what: str,
        required: bool = False,
    ) -> Any:
        if key not in raw:
            if required:
                self.problem(raw.pos, f"{what}: missing required key '{key}'")
            return None
        value = raw[key]
        ok = isinstance(value, kind) and not (
            isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,))
        )
        if not ok:
            self.problem(
                raw.value_pos[key],
                f"{what}: '{key}' must be {type_word(kind)}, got {type_name(value)}",
            )
            return None
        return value

    def duration(self, raw: YamlMap, key: str, what: str) -> float | None:
        if key not in raw:
            return None
        try:
            return parse_duration(raw[key])
        except ValueError as exc:
            self.problem(raw.value_pos[key], f"{what}: '{key}': {exc}")
            return None

    def condition(self, raw: YamlMap, key: str, what: str) -> Cond | None:
        if key not in raw:
            return None
        fallback = raw.value_pos[key]
        return compile_condition(
            raw[key],
            lambda pos, msg: self.problem(pos or fallback, f"{what}: '{key}': {msg}"),
            fallback,
        )

    def value(self, raw: YamlMap, key: str, what: str) -> Value | None:
        try:
            return compile_value(raw[key])
        except ValueError as exc:
            self.problem(raw.value_pos[key], f"{what}: '{key}': {exc}")
            return None

    def path(self, raw: YamlMap, key: str, what: str) -> PathRef | None:
        text = self.get(raw, key, str, what)
        if text is None:
            return None
        try:
            return parse_path(text)
        except ValueError as exc:
            self.problem(raw.value_pos[key], f"{what}: {exc}")
            return None

    def external_id(self, raw: YamlMap, what: str) -> ExternalIdPath | None:
        text = self.get(raw, "external_id", str, what)
        if text is None:
            return None
        try:
            return compile_path(text)
        except ValueError as exc:
            self.problem(raw.value_pos["external_id"], f"{what}: 'external_id': {exc}")
            return None

    def items(self, raw: YamlMap, key: str, what: str) -> list[tuple[Any, Pos]]:
        value = self.get(raw, key, YamlList, what)
        return list(zip(value, value.item_pos, strict=True)) if value is not None else []


def type_word(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    words = {
        str: "text",
        int: "a whole number",
        float: "a number",
        bool: "true or false",
        YamlMap: "a mapping",
        YamlList: "a list",
    }
    return " or ".join(dict.fromkeys(words.get(k, k.__name__) for k in kinds))


def type_name(value: Any) -> str:
    if value is None:
        return "nothing"
    return {
        bool: "true/false",
        int: "a number",
        float: "a number",
        str: "text",
        YamlMap: "a mapping",
        YamlList: "a list",
    }.get(type(value), type(value).__name__)

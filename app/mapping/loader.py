"""Parse YAML into plain values that remember where each key and value came from.

Mappings become `YamlMap` (a dict with `key_pos` / `value_pos`), sequences become
`YamlList` (a list with `item_pos`); scalars stay plain Python values. Mapping keys
are always the literal key text, so `NO:` (Norway) or `on:` stay strings, and YAML
timestamps become ISO strings, so dates in a mapping compare equal to record data.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from revflow.mapping.errors import Problem

__all__ = ["Parsed", "Pos", "YamlList", "YamlMap", "parse_yaml", "plain"]


class Pos(NamedTuple):
    """A 1-based line and column."""

    line: int
    col: int


class YamlMap(dict[str, Any]):
    """A YAML mapping with the position of the mapping, each key and each value."""

    pos: Pos
    key_pos: dict[str, Pos]
    value_pos: dict[str, Pos]


class YamlList(list[Any]):
    """A YAML sequence with the position of the sequence and each item."""

    pos: Pos
    item_pos: list[Pos]


@dataclass(slots=True)
class Parsed:
    """The located tree (None when the text is not usable YAML) and problems found."""

    tree: Any
    problems: list[Problem] = field(default_factory=list)


def _pos(node: Node) -> Pos:
    return Pos(node.start_mark.line + 1, node.start_mark.column + 1)


class _Loader(yaml.SafeLoader):
    """SafeLoader whose only job here is composing nodes and constructing scalars."""


def parse_yaml(text: str, filename: str) -> Parsed:
    """Parse one YAML document from `text`; syntax errors become a Problem with the YAML mark."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return Parsed(None, [Problem(filename, 1, 1, "", "file is empty")])
        problems: list[Problem] = []
        tree = _Converter(loader, filename, problems).convert(node)
        return Parsed(tree, problems)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        reason = " ".join(part for part in (exc.context, exc.problem) if part)
        return Parsed(None, [Problem(filename, line, col, "", f"invalid YAML: {reason}")])
    except yaml.YAMLError as exc:
        return Parsed(None, [Problem(filename, 1, 1, "", f"invalid YAML: {exc}")])
    finally:
        loader.dispose()


class _Converter:
    def __init__(self, loader: _Loader, filename: str, problems: list[Problem]) -> None:
        self.loader = loader
        self.filename = filename
        self.problems = problems
        self.active: set[int] = set()

    def convert(self, node: Node) -> Any:
        if id(node) in self.active:
            self._problem(node, "recursive YAML alias")
            return None
        if isinstance(node, ScalarNode):
            return self._scalar(node)
        self.active.add(id(node))
        try:
            if isinstance(node, SequenceNode):
                return self._sequence(node)
            if isinstance(node, MappingNode):
                return self._mapping(node)
        finally:
            self.active.discard(id(node))
        return None

    def _scalar(self, node: ScalarNode) -> Any:
        value = self.loader.construct_object(node, deep=True)
        if isinstance(value, dt.date | dt.datetime):
            return value.isoformat()
        return value

    def _sequence(self, node: SequenceNode) -> YamlList:
        out = YamlList(self.convert(item) for item in node.value)
        out.pos = _pos(node)
        out.item_pos = [_pos(item) for item in node.value]
        return out

    def _mapping(self, node: MappingNode) -> YamlMap:
        own = {id(key_node) for key_node, _ in node.value}
        self.loader.flatten_mapping(node)  # resolves `<<:` merge keys; own keys win
        out = YamlMap()
        out.pos, out.key_pos, out.value_pos = _pos(node), {}, {}
        merged: set[str] = set()
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                self._problem(key_node, "mapping keys must be plain text")
                continue
            key = str(key_node.value)
            if key in out and key not in merged:
                self._problem(key_node, f"duplicate key '{key}'")
                continue
            merged.discard(key)
            if id(key_node) not in own:
                merged.add(key)
            out[key] = self.convert(value_node)
            out.key_pos[key] = _pos(key_node)
            out.value_pos[key] = _pos(value_node)
        return out

    def _problem(self, node: Node, message: str) -> None:
        line, col = _pos(node)
        self.problems.append(Problem(self.filename, line, col, "", message))


def plain(value: Any) -> Any:
    """Strip position tracking, returning ordinary dicts and lists."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value

"""Pub/Sub ``changedFields`` / ``nulledFields`` / ``diffFields`` bitmaps (facts §2.7).

Wire form: ``["0x650004E0", "4-0x10"]``.  The ``0x…`` entry is a bitmap over the
top-level Avro fields (bit *i*, from the least significant bit, = ``fields[i]``);
``"<pos>-0x…"`` entries are bitmaps over the nested record of the compound field at
top-level position ``pos`` and decode to ``Parent.Child`` names.

Choice (documented): by default every set child is reported as ``Parent.Child``, even
when all of a compound's children are set, because that is what CometD's
``changedFields`` carries, so both transports yield the same names.  Pass
``collapse=True`` for the Java sample's behaviour (all children set -> ``Parent``).
Encoding emits uppercase, even-length hex; decoding accepts any case and length.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class FieldNode:
    """A top-level Avro field; ``children`` are the nested record's field names."""

    name: str
    children: tuple[str, ...] | None = None


def field_tree(schema: Mapping[str, Any]) -> list[FieldNode]:
    """Top-level fields of an Avro record schema (JSON dict), compounds with children.

    Unions such as ``["null", record]`` or ``["null", "string", record]`` are
    unwrapped and named-type references are resolved.
    """
    named: dict[str, Mapping[str, Any]] = {}
    namespace = str(schema.get("namespace", ""))
    _collect_named(schema, namespace, named)
    out = []
    for f in schema.get("fields", ()):
        record = _record_of(f["type"], namespace, named)
        children = tuple(c["name"] for c in record["fields"]) if record is not None else None
        out.append(FieldNode(f["name"], children))
    return out


def _collect_named(node: Any, namespace: str, named: dict[str, Mapping[str, Any]]) -> None:
    if isinstance(node, list):
        for item in node:
            _collect_named(item, namespace, named)
    elif isinstance(node, Mapping):
        kind = node.get("type")
        if kind in ("record", "enum", "fixed") and "name" in node:
            ns = str(node.get("namespace", namespace))
            name = str(node["name"])
            full = name if "." in name or not ns else f"{ns}.{name}"
            named[full] = named[name.rsplit(".", 1)[-1]] = node
            namespace = ns
        for f in node.get("fields", ()) if kind == "record" else ():
            _collect_named(f["type"], namespace, named)
        if kind in ("array", "map"):
            _collect_named(node.get("items", node.get("values")), namespace, named)
        elif isinstance(kind, (list, Mapping)):
            _collect_named(kind, namespace, named)


def _record_of(
    avro_type: Any, namespace: str, named: Mapping[str, Mapping[str, Any]]
) -> Mapping[str, Any] | None:
    """The record schema inside a (union) type, or None."""
    for branch in avro_type if isinstance(avro_type, list) else [avro_type]:
        if isinstance(branch, str):
            branch = named.get(branch) or named.get(f"{namespace}.{branch}")
        if isinstance(branch, Mapping) and branch.get("type") == "record":
            return branch
    return None


def _bits(hex_value: str, names: Sequence[str]) -> list[str]:
    value = int(hex_value, 16)  # tolerant of case, odd length and the 0x prefix
    return [name for i, name in enumerate(names) if value >> i & 1]


def decode(
    fields: Sequence[FieldNode], bitmaps: Iterable[str], *, collapse: bool = False
) -> list[str]:
    """Field names for bitmaps: top-level entries first, then nested ones in list order.

    Unknown positions and bits beyond the schema are ignored (a newer schema).
    """
    top = [f.name for f in fields]
    out: list[str] = []
    for entry in bitmaps:
        entry = entry.strip()
        if not entry:
            continue
        head, sep, tail = entry.partition("-")
        if not sep:
            out.extend(n for n in _bits(entry, top) if n not in out)
            continue
        pos = int(head)
        if pos >= len(fields) or fields[pos].children is None:
            continue
        node = fields[pos]
        assert node.children is not None
        children = _bits(tail, node.children)
        if collapse and children and len(children) == len(node.children):
            names = [node.name]
        else:
            names = [f"{node.name}.{c}" for c in children]
        out.extend(n for n in names if n not in out)
    return out


def _hex(value: int) -> str:
    digits = f"{value:X}"
    return "0x" + digits.zfill(len(digits) + len(digits) % 2)


def encode(fields: Sequence[FieldNode], names: Iterable[str]) -> list[str]:
    """Bitmaps for field names (``Name``, ``Parent.Child``; a bare compound ``Parent``
    sets all of its children).  ``[]`` for no names; raises KeyError for unknown names."""
    index = {f.name: i for i, f in enumerate(fields)}
    top = 0
    nested: dict[int, int] = {}
    seen = False
    for name in names:
        seen = True
        parent, dot, child = name.partition(".")
        pos = index[parent]
        children = fields[pos].children
        if dot:
            if children is None or child not in children:
                raise KeyError(name)
            nested[pos] = nested.get(pos, 0) | 1 << children.index(child)
        elif children is not None:
            nested[pos] = nested.get(pos, 0) | (1 << len(children)) - 1
        else:
            top |= 1 << pos
    if not seen:
        return []
    return [_hex(top)] + [f"{pos}-{_hex(bits)}" for pos, bits in sorted(nested.items())]

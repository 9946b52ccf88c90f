"""SOQL evaluation: rows of a resolved ``Query`` from a ``RecordStore``, shaped as REST.

Rows come from an index when one answers (``Id`` by the table's own key, a
subquery's children by parent), else from a scan; every predicate is applied to
them either way, so both give the same answer.
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

from revflow.sandbox.records import RecordStore
from revflow.sandbox.schema import Field
from revflow.sandbox.shapes import parse_datetime, record_attributes, rest_value
from revflow.sandbox.soql_syntax import BoolOp, Compare, FieldPath, Query, Token


def _follow(store: RecordStore, record: dict[str, Any] | None, path: FieldPath) -> Any:
    """The value at a resolved path (None if a parent is missing)."""
    for ref in path.steps[:-1]:
        if record is None:
            return None
        parent_id = record.get(ref.name)
        record = store.table(ref.reference_to or "").get(parent_id) if parent_id else None
        if record is not None and record.get("IsDeleted"):
            record = None
    if record is None or path.owner is None:
        return None
    return rest_value(path.owner, path.steps[-1].name, record)


def _today() -> date:
    return datetime.now(UTC).date()


def _typed(f: Field, value: Any) -> Any:
    if value is None:
        return None
    if f.type == "datetime":
        return parse_datetime(value)
    if f.type == "date":
        return date.fromisoformat(value)
    if f.type in ("string", "textarea", "url", "picklist"):
        return str(value).casefold()
    return value


def _literal(f: Field, tok: Token) -> Any:
    if tok.kind == "string" and f.type not in ("id", "reference"):
        return tok.value.casefold()
    return tok.value


def _compare(f: Field, actual: Any, op: str, tok: Token) -> bool:
    if tok.kind == "daterange":
        lo_days, hi_days = tok.value
        lo_d, hi_d = _today() + timedelta(lo_days), _today() + timedelta(hi_days)
        if actual is None:
            return op == "!="
        lo: Any = lo_d
        hi: Any = hi_d
        if f.type == "datetime":
            lo = datetime(lo_d.year, lo_d.month, lo_d.day, tzinfo=UTC)
            hi = datetime(hi_d.year, hi_d.month, hi_d.day, tzinfo=UTC)
        inside = lo <= actual < hi
        return {
            "=": inside,
            "!=": not inside,
            "<": actual < lo,
            "<=": actual < hi,
            ">": actual >= hi,
            ">=": actual >= lo,
        }[op]
    expected = _literal(f, tok)
    if op == "=":
        return actual == expected
    if op == "!=":
        return actual != expected
    if actual is None or expected is None:
        return False
    if op == "LIKE":
        return re.fullmatch(tok.like or "", str(actual), re.IGNORECASE | re.DOTALL) is not None
    return {
        "<": actual < expected,
        ">": actual > expected,
        "<=": actual <= expected,
        ">=": actual >= expected,
    }[op]


def _matches(store: RecordStore, record: dict[str, Any], cond: Any) -> bool:
    if isinstance(cond, BoolOp):
        if cond.op == "AND":
            return all(_matches(store, record, c) for c in cond.parts)
        if cond.op == "OR":
            return any(_matches(store, record, c) for c in cond.parts)
        return not _matches(store, record, cond.parts[0])
    f = cond.path.steps[-1]
    actual = _typed(f, _follow(store, record, cond.path))
    if cond.op in ("IN", "NOTIN"):
        if cond.members is None and all(tok.kind != "daterange" for tok in cond.values):
            cond.members = frozenset(_literal(f, tok) for tok in cond.values)
        if cond.members is not None:  # what comparing each with '=' answers, in O(1)
            hit = actual in cond.members
        else:
            hit = any(_compare(f, actual, "=", tok) for tok in cond.values)
        return hit if cond.op == "IN" else not hit
    return _compare(f, actual, cond.op, cond.values[0])


def _sort(store: RecordStore, found: list[dict[str, Any]], q: Query) -> list[dict[str, Any]]:
    if not q.order:
        return sorted(found, key=lambda r: r["Id"])

    def cmp(a: dict[str, Any], b: dict[str, Any]) -> int:
        for path, desc, nulls_first in q.order:
            f = path.steps[-1]
            va, vb = _typed(f, _follow(store, a, path)), _typed(f, _follow(store, b, path))
            if va == vb:
                continue
            if va is None or vb is None:
                return (-1 if va is None else 1) * (1 if nulls_first else -1)
            result = -1 if va < vb else 1
            return -result if desc else result
        return 0

    return sorted(found, key=functools.cmp_to_key(cmp))


def shape(store: RecordStore, q: Query, record: dict[str, Any], version: str) -> dict[str, Any]:
    assert q.type is not None
    out: dict[str, Any] = {"attributes": record_attributes(q.type.name, record["Id"], version)}
    for item in q.fields:
        if isinstance(item, Query):
            children = rows(store, item, parent_id=record["Id"])
            shaped = [shape(store, item, c, version) for c in children]
            out[item.sobject] = (
                {"totalSize": len(shaped), "done": True, "records": shaped} if shaped else None
            )
            continue
        target = out
        current: dict[str, Any] | None = record
        for ref in item.steps[:-1]:
            rel = ref.relationship_name or ""
            parent_id = current.get(ref.name) if current else None
            parent = store.table(ref.reference_to or "").get(parent_id) if parent_id else None
            if parent is None or parent.get("IsDeleted"):
                target[rel] = None
                break
            if not isinstance(target.get(rel), dict):
                target[rel] = {
                    "attributes": record_attributes(ref.reference_to or "", parent["Id"], version)
                }
            target, current = target[rel], parent
        else:
            assert item.owner is not None and current is not None
            target[item.steps[-1].name] = rest_value(item.owner, item.steps[-1].name, current)
    return out


def _id_keys(cond: Any) -> list[Any] | None:
    """The ids a condition limits rows to (``Id = x``, ``Id IN (...)``, either ANDed
    with anything), or None when it does not: the rows then come from a scan."""
    if isinstance(cond, Compare):
        steps = cond.path.steps
        if cond.op in ("=", "IN") and len(steps) == 1 and steps[0].name == "Id":
            return [tok.value for tok in cond.values]
        return None
    if isinstance(cond, BoolOp) and cond.op == "AND":
        for part in cond.parts:
            keys = _id_keys(part)
            if keys is not None:
                return keys
    return None


def _candidates(store: RecordStore, q: Query, parent_id: str | None) -> Any:
    """A superset of the rows ``q`` selects, in table order, without a scan when an
    index answers: a subquery's children by parent, ``Id`` by the table's own key."""
    assert q.type is not None
    if parent_id is not None:
        return store.org.indexes.children(q.type.name, q.child_fk or "", parent_id)
    table = store.table(q.type.name)
    keys = _id_keys(q.where)
    if keys is None:
        return table.values()
    # ids increase as records are created, so Id order is the table's order
    found = {k: table[k] for k in keys if isinstance(k, str) and k in table}
    return [found[k] for k in sorted(found)]


def rows(
    store: RecordStore, q: Query, parent_id: str | None = None, include_deleted: bool = False
) -> list[dict[str, Any]]:
    assert q.type is not None
    kept = [
        r
        for r in _candidates(store, q, parent_id)
        if (include_deleted or not r.get("IsDeleted"))
        and (q.where is None or _matches(store, r, q.where))
    ]
    kept = _sort(store, kept, q)[q.offset :]
    return kept if q.limit is None else kept[: q.limit]

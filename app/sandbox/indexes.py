"""Lookups that must not grow with the org's size: children by parent, next auto-number.

A table (``SandboxOrg.records[type]``) is itself the index on ``Id``.  The others
live here, one ``Indexes`` per org (several ``RecordStore`` objects share an org),
built on first use and kept by ``RecordStore`` on every create, update and
rollback.  Records stored without it (``SandboxOrg.seed``, a test writing a
table) change the table's size, which the indexes compare with their own count
and then rebuild.  What they cannot see is a reference field edited in place,
outside ``RecordStore``, in a table of unchanged size (nothing does that).
Candidates are checked against the record, so a stale entry is never returned.
Deleted records stay indexed (they stay in the table); callers filter
``IsDeleted`` as a scan would.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

Table = dict[str, dict[str, Any]]


class _ChildIndex:
    """Record ids of one type by the value of one reference field."""

    def __init__(self, table: Table, fk: str) -> None:
        self.fk = fk
        self.size = len(table)
        # ordered like the table (insertion order), so callers see what a scan sees
        self.by_parent: dict[Any, dict[str, None]] = {}
        for rid, record in table.items():
            self.add(rid, record.get(fk))

    def add(self, rid: str, parent: Any) -> None:
        if parent is not None:
            self.by_parent.setdefault(parent, {})[rid] = None

    def drop(self, rid: str, parent: Any) -> None:
        ids = self.by_parent.get(parent)
        if ids is not None:
            ids.pop(rid, None)
            if not ids:
                del self.by_parent[parent]


class Indexes:
    """The org's secondary indexes (see the module docstring)."""

    def __init__(self, records: dict[str, Table]) -> None:
        self._records = records
        self._children: dict[tuple[str, str], _ChildIndex] = {}
        self._numbers: dict[str, tuple[int, int]] = {}  # type -> (table size, highest)

    def _table(self, sobject: str) -> Table:
        return self._records.setdefault(sobject, {})

    def children(self, sobject: str, fk: str, parent_id: Any) -> Iterator[dict[str, Any]]:
        """Records of ``sobject`` whose ``fk`` is ``parent_id`` (deleted ones included)."""
        table = self._table(sobject)
        index = self._children.get((sobject, fk))
        if index is None or index.size != len(table):
            index = self._children[(sobject, fk)] = _ChildIndex(table, fk)
        for rid in list(index.by_parent.get(parent_id, ())):
            record = table.get(rid)
            if record is not None and record.get(fk) == parent_id:
                yield record

    def stored(self, sobject: str, rid: str, old: dict[str, Any] | None) -> None:
        """``RecordStore`` put a record in place of ``old`` (None: a new one)."""
        table = self._table(sobject)
        new = table.get(rid)
        grew = 1 if old is None and new is not None else 0
        for (name, fk), index in self._children.items():
            if name != sobject:
                continue
            if index.size + grew != len(table):  # written around us: rebuilt on next read
                continue
            before, after = (old or {}).get(fk), (new or {}).get(fk)
            if before != after or old is None:
                index.drop(rid, before)
                index.add(rid, after)
            index.size = len(table)

    def removed(self, sobject: str, rid: str, old: dict[str, Any]) -> None:
        """``RecordStore`` took a record out of its table (a rolled-back create)."""
        table = self._table(sobject)
        for (name, fk), index in self._children.items():
            if name == sobject and index.size - 1 == len(table):
                index.drop(rid, old.get(fk))
                index.size = len(table)
        self._numbers.pop(sobject, None)  # its number is free again, as a rescan finds

    def next_number(self, sobject: str, field: str, start: int) -> int:
        """The next auto-number: one above the highest stored (``start`` when none)."""
        table = self._table(sobject)
        cached = self._numbers.get(sobject)
        if cached is None or cached[0] != len(table):
            used = [int(r[field]) for r in table.values() if r.get(field)]
            cached = (len(table), max(used, default=start - 1))
        number = cached[1] + 1
        # the caller stores the record next: the table is then one larger
        self._numbers[sobject] = (len(table) + 1, number)
        return number

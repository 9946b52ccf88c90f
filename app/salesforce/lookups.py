"""Fetch and cache the records mappings look up (`record_lookups:`), in batches.

    cache = LookupCache(client)
    await cache.attach(orders, mappings)   # fills order["__lookups__"] for mapping.apply

One SOQL query per (sobject, match field, field set) and up to 200 keys; found
records and misses are cached for ``ttl_s``.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any

from revflow.mapping.record_lookups import LOOKUPS_KEY, LookupRequest, RecordLookup, lookup_keys
from revflow.salesforce.client import SalesforceClient
from revflow.salesforce.orders import normalize

__all__ = ["KEYS_PER_QUERY", "LookupCache", "soql_string"]

KEYS_PER_QUERY = 200
Row = dict[str, Any]
ResultKey = tuple[str, str, str]  # (sobject, match, key value)
_ESCAPES = {"\\": "\\\\", "'": "\\'", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_ESCAPES |= {"\b": "\\b", "\f": "\\f"}


def soql_string(value: str) -> str:
    """A quoted SOQL string literal."""
    return "'" + "".join(_ESCAPES.get(c, c) for c in value) + "'"


def _index(rows: list[Row], match: str) -> dict[str, Row]:
    """Rows by match value; Ids also by their 15-character form, text also case-folded."""
    out: dict[str, Row] = {}
    for row in rows:
        value = row.get(match)
        if value is None:
            continue
        text = str(value)
        out.setdefault(text, row)
        out.setdefault(text[:15] if match == "Id" else text.casefold(), row)
    return out


class LookupCache:
    """Batching, TTL-bounded cache of looked-up records; ``queries`` counts SOQL calls."""

    def __init__(
        self,
        client: SalesforceClient,
        ttl_s: float = 300.0,
        max_entries: int = 10_000,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self.clock = clock
        self.queries = 0
        # (sobject, match, fields, key) -> (expires at, row or None for a miss)
        self._entries: OrderedDict[tuple[str, str, tuple[str, ...], str], tuple[float, Row | None]]
        self._entries = OrderedDict()

    def _cached(self, key: tuple[str, str, tuple[str, ...], str]) -> tuple[bool, Row | None]:
        entry = self._entries.get(key)
        if entry is None:
            return False, None
        if entry[0] <= self.clock():
            del self._entries[key]
            return False, None
        self._entries.move_to_end(key)
        return True, entry[1]

    def _store(self, key: tuple[str, str, tuple[str, ...], str], row: Row | None) -> None:
        self._entries[key] = (self.clock() + self.ttl_s, row)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    async def resolve(self, requests: Iterable[LookupRequest]) -> dict[ResultKey, Row | None]:
        """The record for each request (None when there is none), from cache or Salesforce."""
        wanted: dict[tuple[str, str, tuple[str, ...]], list[str]] = {}
        for req in requests:
            fields = tuple(sorted(set(req.fields) | {req.match, "Id"}))
            keys = wanted.setdefault((req.sobject, req.match, fields), [])
            if req.key_value not in keys:
                keys.append(req.key_value)
        out: dict[ResultKey, Row | None] = {}
        for (sobject, match, fields), keys in wanted.items():
            todo = []
            for key in keys:
                hit, row = self._cached((sobject, match, fields, key))
                if hit:
                    _merge(out, (sobject, match, key), row)
                else:
                    todo.append(key)
            for start in range(0, len(todo), KEYS_PER_QUERY):
                chunk = todo[start : start + KEYS_PER_QUERY]
                found = _index(await self._query(sobject, match, fields, chunk), match)
                for key in chunk:
                    row = found.get(key) or found.get(key[:15] if match == "Id" else key.casefold())
                    self._store((sobject, match, fields, key), row)
                    _merge(out, (sobject, match, key), row)
        return out

    async def _query(
        self, sobject: str, match: str, fields: tuple[str, ...], keys: list[str]
    ) -> list[Row]:
        values = ", ".join(soql_string(k) for k in keys)
        soql = f"SELECT {', '.join(fields)} FROM {sobject} WHERE {match} IN ({values})"
        budget = getattr(self.client, "budget", None)
        if budget is not None:
            budget.check()  # lookups are non-urgent: BudgetExhausted makes intake retry
        self.queries += 1
        return [normalize(r) for r in await self.client.query(soql)]

    async def attach(self, records: Iterable[dict[str, Any]], mappings: Iterable[Any]) -> None:
        """Fill ``record["__lookups__"][name][key]`` for every record lookup of the mappings.

        Mappings without ``record_lookups`` are ignored; records that need no lookup
        are left unchanged.
        """
        specs = [
            (tuple(getattr(m, "record_lookups", ())), tuple(getattr(m, "lookup_uses", ())))
            for m in mappings
        ]
        specs = [(lookups, uses) for lookups, uses in specs if lookups and uses]
        if not specs:
            return
        needs: list[tuple[dict[str, Any], list[tuple[RecordLookup, str]]]] = []
        for record in records:
            keys = [pair for lookups, uses in specs for pair in lookup_keys(lookups, uses, record)]
            if keys:
                needs.append((record, keys))
        resolved = await self.resolve(
            LookupRequest(lookup.sobject, lookup.match, key, lookup.fields)
            for _, keys in needs
            for lookup, key in keys
        )
        for record, keys in needs:
            tables = record.setdefault(LOOKUPS_KEY, {})
            for lookup, key in keys:
                row = resolved.get((lookup.sobject, lookup.match, key))
                tables.setdefault(lookup.name, {})[key] = row


def _merge(out: dict[ResultKey, Row | None], key: ResultKey, row: Row | None) -> None:
    """Results for the same record fetched with different field sets are combined."""
    if row is None:
        out.setdefault(key, None)
        return
    current = out.get(key)
    out[key] = {**current, **row} if current else dict(row)

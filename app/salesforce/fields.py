"""Every Salesforce field Revflow reads or writes, and why: the code's list of fields.

    uses = used_fields(settings, mappings, plans)   # [FieldUse("Order", "PoNumber", READ, ...)]

``revflow salesforce doctor`` checks each against the org (exists, usable type,
readable or writable by the integration user) and tests check the metadata package
in ``salesforce/`` against it (every field it declares is used; the permission set
grants what is used).  Sources: the order query (``orders.py``), the write-back
settings, the plan link, the Quote write-back (and, with Quotes enabled, the quote
query, ``quotes.py``), the mappings' source paths and record
lookups, the correlation field of each subscribed platform event, and the fields that
plans' ``update_fields``/``publish_event`` steps write.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from revflow.config import Settings
from revflow.mapping.describe import CHILD_RELATIONSHIPS, PARENT_TYPES
from revflow.mapping.model import Mapping
from revflow.plans.definitions import PlanDefinition
from revflow.salesforce.orders import ITEM_FIELDS, ORDER_FIELDS
from revflow.salesforce.quotes import LINE_FIELDS, QUOTE_FIELDS


class Access(StrEnum):
    READ = "read"
    WRITE = "write"  # also read: Revflow reads what it wrote (echo detection, checks)
    PAYLOAD = "payload"  # a subscribed platform event's field, handed whole to waiting steps


TEXT = frozenset({"string", "textarea", "picklist"})
WRITE_TYPES: dict[str, frozenset[str]] = {  # describe types a write-back value fits
    "status": TEXT,
    "erp_number": frozenset({"string"}),
    "error": frozenset({"textarea", "string"}),
    "jeopardy": frozenset({"picklist", "string"}),
    "plan_url": frozenset({"url", "string"}),
}


@dataclass(frozen=True)
class FieldUse:
    sobject: str
    name: str  # "*" with Access.PAYLOAD: every field of the event
    access: Access
    why: str  # the setting, file or code that uses it
    types: frozenset[str] | None = None  # describe types that work; None: any

    @property
    def full_name(self) -> str:
        return f"{self.sobject}.{self.name}"


def path_field(source: str, parts: Iterable[str]) -> tuple[str, str] | None:
    """``(sObject, field)`` at the end of a relationship path, or None when a hop's
    target is unknown without the org (a custom ``__r`` relationship) or the path ends
    at a relationship rather than a field."""
    sobject, names = source, list(parts)
    for name in names[:-1]:
        target = CHILD_RELATIONSHIPS.get((sobject, name)) or PARENT_TYPES.get(name)
        if target is None:
            return None
        sobject = target
    if not names or (sobject, names[-1]) in CHILD_RELATIONSHIPS or names[-1] in PARENT_TYPES:
        return None  # a relationship (a list or a record), not a field
    return sobject, names[-1]


def _reads(source: str, paths: Iterable[str], why: str) -> list[FieldUse]:
    out = []
    for path in paths:
        found = path_field(source, path.split("."))
        if found:
            out.append(FieldUse(found[0], found[1], Access.READ, why))
    return out


def mapping_reads(mapping: Mapping) -> list[FieldUse]:
    """The fields a mapping reads: its source paths and its record lookups."""
    why = Path(mapping.filename).name if mapping.filename else mapping.name
    why = f"mappings/{why}"
    out: list[FieldUse] = []
    for ref in mapping.source_refs:
        parts = (*ref.base, *ref.parts)
        if parts and not any(p.startswith(("_", "$")) for p in parts):
            out += _reads(mapping.source, [".".join(parts)], f"{why}:{ref.line}")
    for lookup in mapping.record_lookups:
        names = (lookup.match, *lookup.fields)
        out += [FieldUse(lookup.sobject, n, Access.READ, f"{why}:{lookup.line}") for n in names]
    return out


def _writeback(settings: Settings) -> list[FieldUse]:
    w = settings.writeback
    roles = {
        "status": ("STATUS_FIELD", w.status_field),
        "erp_number": ("ERP_NUMBER_FIELD", w.erp_number_field),
        "error": ("ERROR_FIELD", w.error_field),
        "jeopardy": ("JEOPARDY_FIELD", w.jeopardy_field),
    }
    out = [
        FieldUse("Order", name, Access.WRITE, f"REVFLOW_WRITEBACK__{setting}", WRITE_TYPES[role])
        for role, (setting, name) in roles.items()
        if name
    ]
    if w.plan_url_field and settings.console.public_url:
        why = "REVFLOW_WRITEBACK__PLAN_URL_FIELD (with REVFLOW_CONSOLE__PUBLIC_URL)"
        out.append(FieldUse("Order", w.plan_url_field, Access.WRITE, why, WRITE_TYPES["plan_url"]))
    if w.due_date_field:
        why = "REVFLOW_WRITEBACK__DUE_DATE_FIELD"
        out.append(FieldUse("Order", w.due_date_field, Access.READ, why))
    q = w.quote  # the Quote plans' write-back: the same roles as the Order's
    quote_roles = {
        "status": ("STATUS_FIELD", q.status_field),
        "erp_number": ("ERP_NUMBER_FIELD", q.erp_number_field),
        "error": ("ERROR_FIELD", q.error_field),
    }
    out += [
        FieldUse(
            "Quote", name, Access.WRITE, f"REVFLOW_WRITEBACK__QUOTE__{setting}", WRITE_TYPES[role]
        )
        for role, (setting, name) in quote_roles.items()
        if name
    ]
    return out


def _events(settings: Settings) -> list[FieldUse]:
    out = []
    for channel in settings.ingest.channels:
        if not channel.startswith("/event/"):
            continue
        event = channel.removeprefix("/event/")
        why = f"REVFLOW_INGEST__CHANNELS ({channel})"
        out.append(FieldUse(event, "*", Access.PAYLOAD, why))
        key = settings.ingest.correlation_fields.get(channel)
        if key:
            out.append(FieldUse(event, key, Access.READ, "REVFLOW_INGEST__CORRELATION_FIELDS"))
    return out


def plan_writes(plan: PlanDefinition) -> list[FieldUse]:
    """Fields the plan's ``update_fields`` and ``publish_event`` steps write."""
    out: list[FieldUse] = []
    for step in (*plan.steps, *plan.compensations):
        auto = step.auto
        names = getattr(auto.fields, "raw", None) if auto else None
        if auto is None or not isinstance(names, dict):
            continue
        why = f"plans/{Path(plan.file).name if plan.file else plan.name} (step {step.key})"
        if auto.action == "publish_event" and auto.event:
            target = auto.event
        elif auto.target == "line":
            target = plan.record.line_object  # OrderItem, or QuoteLineItem
        else:
            target = plan.source
        out += [FieldUse(target, str(name), Access.WRITE, why) for name in names]
    return out


def used_fields(
    settings: Settings,
    mappings: Iterable[Mapping] = (),
    plans: Iterable[PlanDefinition] = (),
) -> list[FieldUse]:
    """The code's list of fields for these settings, mappings and plans (in that order,
    without repeats of the same field and access)."""
    query = "the order query (app/salesforce/orders.py)"
    uses = _reads("Order", ORDER_FIELDS, query)
    uses += _reads("OrderItem", ITEM_FIELDS, query)
    if settings.quotes.enabled:
        quotes = "the quote query (app/salesforce/quotes.py)"
        uses += _reads("Quote", QUOTE_FIELDS, quotes)
        uses += _reads("QuoteLineItem", LINE_FIELDS, quotes)
    uses += _writeback(settings)
    uses += _events(settings)
    for mapping in mappings:
        uses += mapping_reads(mapping)
    for plan in plans:
        uses += plan_writes(plan)
    seen: dict[tuple[str, str, Access], FieldUse] = {}
    for use in uses:
        seen.setdefault((use.sobject, use.name, use.access), use)
    return list(seen.values())


def by_field(uses: Iterable[FieldUse]) -> dict[tuple[str, str], list[FieldUse]]:
    out: dict[tuple[str, str], list[FieldUse]] = {}
    for use in uses:
        out.setdefault((use.sobject, use.name), []).append(use)
    return out


def writes(uses: Iterable[FieldUse]) -> set[tuple[str, str]]:
    return {(u.sobject, u.name) for u in uses if u.access is Access.WRITE}


__all__: list[Any] = ["Access", "FieldUse", "by_field", "path_field", "used_fields", "writes"]

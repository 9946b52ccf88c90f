"""Org check: does every Salesforce field a mapping reads exist?

    problems = check_fields(mapping, describe)   # describe("Account") -> {"Id", "Name", ...}

`describe(sobject)` returns the field API names of one sObject (the lead wires it
to `/sobjects/{type}/describe`, cached). It may also return relationship names
(`Account`, `OrderItems`); otherwise a parent relationship `Account` counts as
present when its lookup field `AccountId` is, `Foo__r` when `Foo__c` is, and the
standard child lists below are known. Each path is walked from the mapping's
source object through its relationships, so `OrderItems[].Product2.Family` checks
Order.OrderItems, OrderItem.Product2 and Product2.Family.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from collections.abc import Mapping as AbcMapping

from revflow.mapping.errors import Problem
from revflow.mapping.model import Mapping

__all__ = ["CHILD_RELATIONSHIPS", "PARENT_TYPES", "Describe", "check_fields"]

Describe = Callable[[str], set[str]]

# Child relationship name on an object -> the child sObject.
CHILD_RELATIONSHIPS: dict[tuple[str, str], str] = {
    ("Order", "OrderItems"): "OrderItem",
    ("Quote", "QuoteLineItems"): "QuoteLineItem",
    ("Opportunity", "OpportunityLineItems"): "OpportunityLineItem",
    ("Account", "Contacts"): "Contact",
}
# Standard parent relationship name -> the sObject it points to, on any object.
PARENT_TYPES: dict[str, str] = {
    "Account": "Account",
    "BillToContact": "Contact",
    "Contact": "Contact",
    "Contract": "Contract",
    "CreatedBy": "User",
    "LastModifiedBy": "User",
    "Opportunity": "Opportunity",
    "Order": "Order",
    "OriginalOrder": "Order",
    "Owner": "User",
    "Pricebook2": "Pricebook2",
    "PricebookEntry": "PricebookEntry",
    "Product2": "Product2",
    "Quote": "Quote",
    "ShipToContact": "Contact",
}


def check_fields(
    mapping: Mapping,
    describe: Describe,
    *,
    relationships: AbcMapping[str, str] | None = None,
) -> list[Problem]:
    """Problems for source paths that do not exist in the org (empty when all exist).

    `relationships` adds or overrides relationship targets as {"Order.Payer__r": "Payer__c"}.
    """
    walker = _Walker(mapping, describe, dict(relationships or {}))
    for ref in mapping.source_refs:
        walker.check((*ref.base, *ref.parts), ref.line, ref.col)
    for lookup in mapping.record_lookups:  # what a record lookup matches on and fetches
        fields = walker.fields(lookup.sobject, lookup.line, 1)
        if fields is None:
            continue
        for name in (lookup.match, *lookup.fields):
            if name not in fields:
                where = f"record_lookups.{lookup.name}"
                walker.missing(lookup.sobject, name, fields, where, lookup.line, 1, relation=False)
    return sorted(set(walker.problems))


class _Walker:
    def __init__(self, mapping: Mapping, describe: Describe, extra: dict[str, str]) -> None:
        self.mapping = mapping
        self.describe = describe
        self.extra = extra
        self.cache: dict[str, set[str] | None] = {}
        self.problems: list[Problem] = []

    def fields(self, sobject: str, line: int, col: int) -> set[str] | None:
        if sobject not in self.cache:
            try:
                self.cache[sobject] = set(self.describe(sobject))
            except Exception as exc:  # the describe call is the caller's I/O
                self.cache[sobject] = None
                self.problem(line, col, sobject, f"cannot describe {sobject}: {exc}")
        return self.cache[sobject]

    def check(self, path: tuple[str, ...], line: int, col: int) -> None:
        sobject = self.mapping.source
        dotted = ".".join(path)
        for index, name in enumerate(path):
            fields = self.fields(sobject, line, col)
            if fields is None:
                return
            last = index == len(path) - 1
            target = self.relationship(sobject, name, fields)
            if last and (name in fields or target is not None):
                return
            if target is None:
                self.missing(sobject, name, fields, dotted, line, col, relation=not last)
                return
            if target == "":
                self.problem(
                    line,
                    col,
                    dotted,
                    f"cannot tell which object {sobject}.{name} points to in '{dotted}' "
                    f"(pass relationships={{'{sobject}.{name}': '<sObject>'}})",
                )
                return
            sobject = target

    def relationship(self, sobject: str, name: str, fields: set[str]) -> str | None:
        """The related sObject, "" when present but of unknown type, None when absent."""
        override = self.extra.get(f"{sobject}.{name}")
        child = CHILD_RELATIONSHIPS.get((sobject, name))
        if child is not None:
            return override or child
        lookup = f"{name[:-3]}__c" if name.endswith("__r") else f"{name}Id"
        named = name in fields and bool(override or name in PARENT_TYPES or name.endswith("__r"))
        if lookup not in fields and not named:
            return None
        return override or PARENT_TYPES.get(name, "")

    def missing(
        self,
        sobject: str,
        name: str,
        fields: set[str],
        dotted: str,
        line: int,
        col: int,
        *,
        relation: bool,
    ) -> None:
        what = "relationship" if relation else "field"
        close = difflib.get_close_matches(name, sorted(fields), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        self.problem(line, col, dotted, f"{sobject} has no {what} '{name}' (in '{dotted}'){hint}")

    def problem(self, line: int, col: int, key: str, message: str) -> None:
        self.problems.append(Problem(self.mapping.filename, line, col, key, message))

"""Org check: does the org have every field Revflow and its mappings read?

    shape = await OrgCheck(client, settings).run(mappings, used)   # or OrgCheckError

Describes the objects the order query and the mappings touch (Order, OrderItem,
Product2, Account, record lookups' objects ...) and reports, in one error, every
field the org lacks, each line naming the mapping file, line, column and key (or
the setting that names a write-back field).  A single-currency org has no
``CurrencyIsoCode`` anywhere: Revflow then supplies the org's one currency
(``salesforce.org_currency``, else SOAP ``getUserInfo``) instead of reading it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from revflow.config import Settings
from revflow.mapping.describe import PARENT_TYPES, check_fields
from revflow.mapping.errors import Problem
from revflow.mapping.model import Mapping as CompiledMapping
from revflow.salesforce.client import SalesforceClient
from revflow.salesforce.errors import (
    OrgCheckError,
    RequestLimitExceeded,
    SalesforceError,
    SessionExpired,
    TransientError,
)
from revflow.salesforce.orders import ITEM_FIELDS, ORDER_FIELDS
from revflow.salesforce.quotes import LINE_FIELDS, QUOTE_FIELDS
from revflow.salesforce.user_info import user_info

log = logging.getLogger("revflow.org_check")

CURRENCY = "CurrencyIsoCode"
MAX_ROUNDS = 6  # relationship depth the mapping walk may need describes for
# errors that say nothing of the org's shape: the caller retries or reports them
PASSING = (TransientError, SessionExpired, RequestLimitExceeded)


@dataclass(frozen=True)
class OrgShape:
    """What the check learnt: the currency of a single-currency org (None: multicurrency)."""

    currency: str | None


class _NotFetched(Exception):
    pass


def _problem(where: str, message: str, key: str = "") -> Problem:
    """A problem outside any mapping file: ``where`` names the setting or the code."""
    return Problem(where, 0, 0, key, message)


def field_names(body: Mapping[str, Any]) -> set[str]:
    """Field, parent-relationship and child-relationship names of a describe answer."""
    fields = body.get("fields") or []
    names = {f["name"] for f in fields}
    names |= {f["relationshipName"] for f in fields if f.get("relationshipName")}
    children = body.get("childRelationships") or []
    names |= {c["relationshipName"] for c in children if c.get("relationshipName")}
    return names


class OrgCheck:
    def __init__(self, client: SalesforceClient, settings: Settings) -> None:
        self.client = client
        self.settings = settings
        self._described: dict[str, set[str] | str] = {}  # names, or why there are none

    async def run(
        self, mappings: Mapping[str, CompiledMapping], used: Iterable[str] = ()
    ) -> OrgShape:
        """Check the org; raise OrgCheckError listing every problem.

        Checks Order-sourced mappings (the order query reads them all) and those in
        ``used`` (named by the plan).  Transient and auth errors propagate.
        """
        self._described = {}  # describe afresh: an admin may have added the field
        problems: list[Problem] = []
        order = await self._describe("Order")
        single = isinstance(order, set) and CURRENCY not in order
        currency = await self._currency(problems) if single else None
        problems += await self._own_fields(single)
        wanted = set(used)
        checked = [m for n, m in sorted(mappings.items()) if m.source == "Order" or n in wanted]
        problems += await self._mapping_problems(checked, single)
        if problems:
            raise OrgCheckError(problems)
        log.info(
            "org check passed",
            extra={"currency": currency or "multicurrency", "mappings": [m.name for m in checked]},
        )
        return OrgShape(currency)

    async def _describe(self, sobject: str) -> set[str] | str:
        if sobject not in self._described:
            try:
                body = await self.client.request("GET", f"sobjects/{sobject}/describe")
                self._described[sobject] = field_names(body or {})
            except PASSING:
                raise
            except SalesforceError as exc:  # NOT_FOUND: no such object (or no access)
                self._described[sobject] = f"cannot describe {sobject}: {exc.code}: {exc.message}"
        return self._described[sobject]

    async def _currency(self, problems: list[Problem]) -> str | None:
        configured = self.settings.salesforce.org_currency
        if configured:
            return configured
        try:
            info = await user_info(self.client)
        except PASSING:
            raise
        except SalesforceError as exc:
            info = None
            why = f"getUserInfo failed: {exc.code}: {exc.message}"
        if info is not None and info.org_currency and not info.multi_currency:
            return info.org_currency
        if info is not None:
            why = "getUserInfo names no org currency"
        problems.append(
            _problem(
                "REVFLOW_SALESFORCE__ORG_CURRENCY",
                f"Order has no {CURRENCY} (a single-currency org) and {why}; "
                "set REVFLOW_SALESFORCE__ORG_CURRENCY to the org's currency",
            )
        )
        return None

    async def _own_fields(self, single: bool) -> list[Problem]:
        """Fields the order query and write-back use whatever the mappings say."""
        w = self.settings.writeback
        query = "revflow (order query, app/salesforce/orders.py)"
        needs: list[tuple[str, str, str]] = [  # (sobject, path, who needs it)
            ("Order", p, query) for p in ORDER_FIELDS
        ]
        needs += [("OrderItem", p, query) for p in ITEM_FIELDS]
        for setting, name in (
            ("STATUS_FIELD", w.status_field),
            ("ERP_NUMBER_FIELD", w.erp_number_field),
            ("ERROR_FIELD", w.error_field),
            ("JEOPARDY_FIELD", w.jeopardy_field),
            ("DUE_DATE_FIELD", w.due_date_field),
            ("PLAN_URL_FIELD", w.plan_url_field if self.settings.console.public_url else ""),
        ):
            if name:
                needs.append(("Order", name, f"REVFLOW_WRITEBACK__{setting}"))
        if self.settings.quotes.enabled:  # the quote query and the Quote's write-back
            quotes = "revflow (quote query, app/salesforce/quotes.py)"
            needs += [("Quote", p, quotes) for p in QUOTE_FIELDS]
            needs += [("QuoteLineItem", p, quotes) for p in LINE_FIELDS]
            q = w.quote
            for setting, name in (
                ("STATUS_FIELD", q.status_field),
                ("ERP_NUMBER_FIELD", q.erp_number_field),
                ("ERROR_FIELD", q.error_field),
            ):
                if name:
                    needs.append(("Quote", name, f"REVFLOW_WRITEBACK__QUOTE__{setting}"))
        problems: list[Problem] = []
        for sobject, path, who in needs:
            if single and path.split(".")[-1] == CURRENCY:
                continue  # supplied from the org's currency
            why = await self._missing_path(sobject, path.split("."))
            if why:
                problems.append(_problem(who, why, key=f"{sobject}.{path}"))
        return problems

    async def _missing_path(self, sobject: str, parts: list[str]) -> str | None:
        """Why ``sobject.parts`` cannot be read, or None."""
        current = sobject
        for index, name in enumerate(parts):
            fields = await self._describe(current)
            if isinstance(fields, str):
                return fields
            if index == len(parts) - 1:
                break
            if f"{name}Id" not in fields or name not in PARENT_TYPES:
                return f"{current} has no relationship '{name}' (in '{'.'.join(parts)}')"
            current = PARENT_TYPES[name]
        if parts[-1] not in fields:
            return f"{current} has no field '{parts[-1]}' (in {sobject}.{'.'.join(parts)})"
        return None

    async def _mapping_problems(
        self, mappings: list[CompiledMapping], single: bool
    ) -> list[Problem]:
        """check_fields over the mappings, describing objects as the walk reaches them."""
        found: list[Problem] = []
        for _ in range(MAX_ROUNDS):
            missing: set[str] = set()
            describe = partial(self._cached, missing=missing, single=single)
            found = [p for m in mappings for p in check_fields(m, describe)]
            if not missing:
                break
            for sobject in sorted(missing):
                await self._describe(sobject)
        return found  # after MAX_ROUNDS: with "cannot describe" problems

    def _cached(self, sobject: str, *, missing: set[str], single: bool) -> set[str]:
        """Describe from the cache for check_fields; notes objects not fetched yet."""
        found = self._described.get(sobject)
        if found is None:
            missing.add(sobject)
            raise _NotFetched(sobject)
        if isinstance(found, str):
            raise LookupError(found.split(": ", 1)[1])
        return found | {CURRENCY} if single else found


async def single_currency(client: SalesforceClient, settings: Settings) -> str | None:
    """The currency of a single-currency org, None for a multicurrency one (a describe
    call, then the setting or getUserInfo), for commands that read orders without the
    full check.  Raises OrgCheckError when the currency cannot be told."""
    body = await client.request("GET", "sobjects/Order/describe")
    if CURRENCY in field_names(body or {}):
        return None
    check = OrgCheck(client, settings)
    problems: list[Problem] = []
    currency = await check._currency(problems)
    if problems:
        raise OrgCheckError(problems)
    return currency

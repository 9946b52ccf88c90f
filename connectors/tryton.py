"""Tryton (https://www.tryton.org): sales orders and invoices over JSON-RPC.

Tryton is an open-source ERP with accounting.  The connector speaks its JSON-RPC
protocol (``POST {url}/{database}/rpc/``, ``{"id", "method", "params"}``) over
httpx, as the Tryton desktop client does:

- **login**: ``common.db.login [user, {"password": ...}, language]`` answers
  ``[user_id, session, ...]``; later calls send ``Authorization: Session
  base64(user:user_id:session)``.  The user's context (company, language) comes from
  ``model.res.user.get_preferences`` and is the last parameter of every model call.
  Tryton ends idle sessions (``[session] timeout``, 5 minutes by default) with HTTP
  401: the connector logs in again and repeats the call once.
- ``sales_order.create``: looks the sale up by ``reference`` = the Salesforce Order id
  (``external_id``) first, so a retry after an ambiguous timeout never creates a
  second sale; otherwise finds the customer party (by ``code`` = account number,
  else by name) or creates it with an address, creates the sale with its lines and
  then moves it on: ``quote`` → ``confirm`` → ``process``.  A sale found in an
  earlier state is moved on from there.  ``external_id`` is the sale ``number``.
- An amended order's sales order comes again with ``revision`` N (see
  docs/plans.md): a sale processed in Tryton cannot be changed, so revision N is a
  sale of its own with reference ``<Order id>/r<N>``, found and created like the
  first.  The earlier sale stays as it is, for the ERP team to settle.
- ``quote.create`` (a Salesforce Quote, the ``quote_to_erp_quote`` mapping): the
  same look-up by ``reference`` = the Quote id, then a sale created as above and
  moved to ``quotation`` only (Tryton numbers it then); a line's ``discount_percent``
  lowers its unit price.  ``external_id`` is the sale ``number``.
- ``invoice.create``: finds the order's newest sale by reference, posts its draft (or validated)
  customer invoice(s) with ``model.account.invoice.post`` (Tryton numbers the invoice
  then) and returns the invoice ``number``; already posted invoices are returned as
  they are, so the action is idempotent.
- ``find_existing`` does the same look-up by reference, finishing a half-done
  workflow; it answers ``None`` when no sale has that reference.

Products are **not** created by the connector: order lines name products by their
Tryton product ``code`` (``sku``) and every code must exist as a salable product (the
ERP team owns the item master and its accounting categories).  An unknown code is a
``FatalError`` naming it.  ``product_codes`` may map Salesforce codes to Tryton codes.

Errors (``revflow.connectors.errors``):

| Tryton answer | Error |
|---|---|
| ``UserError`` / ``UserWarning`` (validation, business rule) | ``FatalError``, Tryton's text |
| ``ConcurrencyException``, database locked, HTTP 5xx / 504 | ``RetryableError`` |
| HTTP 429 / 503 | ``RateLimitedError`` |
| login refused (bad user or password), HTTP 403 / 404 | ``FatalError`` |
| connection refused / unreachable | ``RetryableError`` |
| timeout or dropped connection after a write was sent | ``AmbiguousError`` (reads: retryable) |

Payload keys (the ``order_to_sales_order`` / ``order_to_invoice`` mappings):
``external_id`` (required), ``customer`` ({``name``, ``account_number``?} or a
name), ``lines`` [{``sku``, ``quantity``, ``unit_price``, ``description``?}],
``currency``?, ``order_date``?, ``order_number``? (a Quote: ``quote_number``?),
``po_number``?.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import httpx

from revflow.connectors.actions import (
    INVOICE_ACTIONS,
    QUOTE_ACTIONS,
    SALES_ORDER_ACTIONS,
    unsupported,
)
from revflow.connectors.base import CallContext, CallResult, Connector
from revflow.connectors.errors import FatalError, RetryableError
from revflow.connectors.tryton_rpc import (
    session_header,
    tryton_decode,
    tryton_encode,
    tryton_error,
)
from revflow.connectors.tryton_values import TrytonSaleValues

__all__ = [
    "TrytonConnector",
    "build",
    "session_header",
    "tryton_decode",
    "tryton_encode",
    "tryton_error",
]

SALE_ACTIONS = SALES_ORDER_ACTIONS
PROCESSED, QUOTATION = "processing", "quotation"  # where sales and quotes are left


class TrytonConnector(TrytonSaleValues, Connector):
    """Create, confirm and process Tryton sales; post their invoices."""

    def __init__(
        self,
        url: str,
        database: str,
        user: str,
        password: str,
        *,
        language: str = "en",
        timeout_s: float = 30.0,
        product_codes: Mapping[str, str] | None = None,
        max_concurrency: int = 4,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        super().__init__(
            url,
            database,
            user,
            password,
            language=language,
            timeout_s=timeout_s,
            product_codes=product_codes,
            http_client=http_client,
        )
        # Tryton on SQLite serialises writers; a few calls at once keep it responsive
        self._slots = asyncio.Semaphore(max(1, max_concurrency))

    async def call(self, action: str, payload: dict[str, Any], ctx: CallContext) -> CallResult:
        async with self._slots:
            if action in SALE_ACTIONS or action in QUOTE_ACTIONS:
                until = QUOTATION if action in QUOTE_ACTIONS else PROCESSED
                result = await self._sales_order(payload, ctx, create=True, until=until)
                assert result is not None  # create=True always answers
                return result
            if action in INVOICE_ACTIONS:
                return await self._invoice(payload, ctx)
        raise FatalError(
            unsupported("tryton", action, SALE_ACTIONS | QUOTE_ACTIONS | INVOICE_ACTIONS)
        )

    async def find_existing(
        self, action: str, payload: dict[str, Any], ctx: CallContext
    ) -> CallResult | None:
        async with self._slots:
            if action in SALE_ACTIONS:
                return await self._sales_order(payload, ctx, create=False)
            if action in QUOTE_ACTIONS:
                return await self._sales_order(payload, ctx, create=False, until=QUOTATION)
            if action in INVOICE_ACTIONS:
                return None  # ``call`` posts what is still draft and is safe to repeat
        return None

    # -- sales orders -----------------------------------------------------------------

    @staticmethod
    def _reference(payload: Mapping[str, Any]) -> str:
        """The sale's reference: the Salesforce Order id, ``<id>/r<N>`` for revision N."""
        ref = payload.get("external_id")
        if not ref:
            raise FatalError("payload has no 'external_id' (the Salesforce Order id)")
        revision = payload.get("revision") or 1
        if not isinstance(revision, int) or revision < 1:
            raise FatalError(f"payload 'revision' must be a positive integer, not {revision!r}")
        return str(ref) if revision == 1 else f"{ref}/r{revision}"

    async def newest_sale(self, payload: Mapping[str, Any], ctx: CallContext) -> int | None:
        """The order's sale of the highest revision (an amended order has several)."""
        base = self._reference({"external_id": payload.get("external_id")})
        rows = await self.rpc(
            "model.sale.sale.search_read",
            [
                ["OR", ("reference", "=", base), ("reference", "like", f"{base}/r%")],
                ("state", "!=", "cancelled"),
            ],
            0,
            None,
            [("id", "ASC")],
            ["reference"],
            timeout_s=ctx.timeout_s,
        )

        def revision(row: Mapping[str, Any]) -> int:
            _, _, n = str(row["reference"]).partition("/r")
            return int(n) if n.isdigit() else 1

        return max(rows, key=revision)["id"] if rows else None

    async def find_sales(self, reference: str, ctx: CallContext | None = None) -> list[int]:
        ids = await self.rpc(
            "model.sale.sale.search",
            [("reference", "=", reference), ("state", "!=", "cancelled")],
            0,
            None,
            [("id", "ASC")],
            timeout_s=ctx.timeout_s if ctx else None,
        )
        return list(ids)

    async def _sales_order(
        self, payload: dict[str, Any], ctx: CallContext, *, create: bool, until: str = PROCESSED
    ) -> CallResult | None:
        reference = self._reference(payload)
        found = await self.find_sales(reference, ctx)
        created = False
        if found:
            sale_id = found[0]
        elif not create:
            return None
        else:
            values = await self._sale_values(payload, reference, ctx)
            (sale_id,) = await self.rpc(
                "model.sale.sale.create", [values], write=True, timeout_s=ctx.timeout_s
            )
            created = True
        sale = await self._advance(sale_id, ctx, until)
        return CallResult(
            external_id=sale["number"],
            response={
                "id": sale_id,
                "number": sale["number"],
                "reference": sale["reference"],
                "state": sale["state"],
                "created": created,
            },
        )

    async def _read_sale(self, sale_id: int, ctx: CallContext) -> dict[str, Any]:
        (sale,) = await self.rpc(
            "model.sale.sale.read",
            [sale_id],
            ["number", "reference", "state", "invoices"],
            timeout_s=ctx.timeout_s,
        )
        return dict(sale)

    async def _advance(
        self, sale_id: int, ctx: CallContext, until: str = PROCESSED
    ) -> dict[str, Any]:
        """Move a sale on to ``until`` (``processing``, or ``quotation`` for a quote);
        each transition skips sales already past it."""
        steps = (("draft", "quote"), ("quotation", "confirm"), ("confirmed", "process"))
        before = [state for state, _ in steps][: 1 if until == QUOTATION else 3]
        sale = await self._read_sale(sale_id, ctx)
        for state, button in steps:
            if sale["state"] == state and state in before:
                await self.rpc(
                    f"model.sale.sale.{button}", [sale_id], write=True, timeout_s=ctx.timeout_s
                )
                sale = await self._read_sale(sale_id, ctx)
        if sale["state"] in before:
            raise RetryableError(
                f"Tryton sale {sale['number'] or sale_id} is still {sale['state']}"
            )
        return sale

    # -- invoices -----------------------------------------------------------------------

    async def _invoice(self, payload: dict[str, Any], ctx: CallContext) -> CallResult:
        sale_id = await self.newest_sale(payload, ctx)
        if sale_id is None:
            reference = payload.get("external_id")
            raise FatalError(f"no Tryton sale with reference {reference!r} to invoice")
        sale = await self._advance(sale_id, ctx)
        invoice_ids = sale["invoices"]
        if not invoice_ids:
            raise RetryableError(f"Tryton sale {sale['number']} has no invoice yet")
        invoices = await self._read_invoices(invoice_ids, ctx)
        to_post = [i["id"] for i in invoices if i["state"] in ("draft", "validated")]
        if to_post:
            await self.rpc(
                "model.account.invoice.post", to_post, write=True, timeout_s=ctx.timeout_s
            )
            invoices = await self._read_invoices(invoice_ids, ctx)
        live = [i for i in invoices if i["state"] in ("posted", "paid")]
        if not live:
            states = ", ".join(sorted({i["state"] for i in invoices}))
            raise FatalError(f"Tryton sale {sale['number']} has no postable invoice ({states})")
        numbers = [i["number"] for i in live]
        return CallResult(
            external_id=", ".join(numbers),
            response={
                "sale": sale["number"],
                "invoices": [
                    {
                        "id": i["id"],
                        "number": i["number"],
                        "state": i["state"],
                        "total_amount": str(i["total_amount"]),
                    }
                    for i in live
                ],
                "posted_now": to_post,
            },
        )

    async def _read_invoices(self, ids: list[int], ctx: CallContext) -> list[dict[str, Any]]:
        rows = await self.rpc(
            "model.account.invoice.read",
            list(ids),
            ["number", "state", "total_amount"],
            timeout_s=ctx.timeout_s,
        )
        return sorted((dict(r) for r in rows), key=lambda r: r["id"])


def build(name: str, settings: Mapping[str, Any]) -> TrytonConnector:
    options = dict(settings)
    missing = [k for k in ("url", "database", "user", "password") if not options.get(k)]
    if missing:
        raise ValueError(f"tryton connector {name!r} needs {', '.join(missing)}")
    try:
        return TrytonConnector(
            options.pop("url"),
            options.pop("database"),
            options.pop("user"),
            options.pop("password"),
            **options,
        )
    except TypeError as exc:
        raise ValueError(f"tryton connector {name!r}: {exc}") from exc

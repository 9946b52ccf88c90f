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
import base64
import itertools
from collections.abc import Mapping
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx

from revflow.connectors.actions import (
    INVOICE_ACTIONS,
    QUOTE_ACTIONS,
    SALES_ORDER_ACTIONS,
    unsupported,
)
from revflow.connectors.base import CallContext, CallResult, Connector
from revflow.connectors.errors import (
    AmbiguousError,
    ConnectorError,
    FatalError,
    RateLimitedError,
    RetryableError,
)

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
_TRANSIENT = ("database is locked", "could not serialize", "deadlock", "OperationalError")


# -- the wire format -----------------------------------------------------------------


def tryton_encode(value: Any) -> Any:
    """Decimals and dates as Tryton's JSON-RPC sends them (``{"__class__": ...}``)."""
    if isinstance(value, Decimal):
        return {"__class__": "Decimal", "decimal": str(value)}
    if isinstance(value, date):
        return {"__class__": "date", "year": value.year, "month": value.month, "day": value.day}
    if isinstance(value, Mapping):
        return {k: tryton_encode(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [tryton_encode(v) for v in value]
    return value


def tryton_decode(value: Any) -> Any:
    """The inverse of ``tryton_encode`` for the classes a sale or invoice read returns."""
    if isinstance(value, dict):
        cls = value.get("__class__")
        if cls == "Decimal":
            return Decimal(value["decimal"])
        if cls == "date":
            return date(value["year"], value["month"], value["day"])
        if cls in ("datetime", "time", "timedelta", "bytes"):
            return value  # not needed by the connector; keep as sent
        return {k: tryton_decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [tryton_decode(v) for v in value]
    return value


def session_header(user: str, user_id: int, session: str) -> str:
    token = base64.b64encode(f"{user}:{user_id}:{session}".encode()).decode("ascii")
    return f"Session {token}"


def tryton_error(error: Any, method: str) -> ConnectorError:
    """Classify the ``error`` member of a JSON-RPC answer."""
    if isinstance(error, list | tuple) and len(error) >= 2 and isinstance(error[1], list | tuple):
        kind, args = error[0], list(error[1])
        if kind == "UserError":
            message = str(args[0]) if args else "UserError"
            description = str(args[1]) if len(args) > 1 and args[1] else ""
            text = f"{message} {description}".strip() if description else message
            return FatalError(text, details={"tryton_error": kind, "method": method})
        if kind == "UserWarning":
            text = " ".join(str(a) for a in args[1:3] if a) or str(args[0])
            return FatalError(
                text, details={"tryton_error": kind, "warning": args[0], "method": method}
            )
        if kind == "ConcurrencyException":
            return RetryableError(
                str(args[0]) if args else kind, details={"tryton_error": kind, "method": method}
            )
        if kind == "LoginException":
            return FatalError(
                f"Tryton asks for {args[0] if args else 'more'} to log in",
                details={"tryton_error": kind},
            )
    text = str(error[0]) if isinstance(error, list | tuple) and error else str(error)
    details = {"tryton_error": "exception", "method": method}
    if any(marker in text for marker in _TRANSIENT):
        return RetryableError(f"Tryton: {text}", details=details)
    return FatalError(f"Tryton {method} failed: {text}", details=details)


def _decimal(value: Any, what: str) -> Decimal:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise FatalError(f"{what} {value!r} is not a number") from None


def _date(value: Any, what: str) -> date:
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        raise FatalError(f"{what} {value!r} is not a date (YYYY-MM-DD)") from None


class TrytonConnector(Connector):
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
        self.url = url.rstrip("/")
        self.database = database
        self.user = user
        self.password = password
        self.language = language
        self.timeout_s = timeout_s
        self.product_codes = dict(product_codes or {})
        self._own_http = http_client is None
        self.http = http_client or httpx.AsyncClient()
        self._session: str | None = None
        self._context: dict[str, Any] = {}
        self._login_lock = asyncio.Lock()
        self._party_lock = asyncio.Lock()
        # Tryton on SQLite serialises writers; a few calls at once keep it responsive
        self._slots = asyncio.Semaphore(max(1, max_concurrency))
        self._ids = itertools.count(1)
        self.logins = 0

    @property
    def rpc_url(self) -> str:
        return f"{self.url}/{self.database}/rpc/"

    # -- JSON-RPC --------------------------------------------------------------------

    async def _post(
        self, method: str, params: list[Any], *, write: bool, timeout_s: float, auth: bool = True
    ) -> httpx.Response:
        headers = {"Authorization": self._session} if auth and self._session else {}
        body = {"id": next(self._ids), "method": method, "params": tryton_encode(params)}
        try:
            return await self.http.post(self.rpc_url, json=body, headers=headers, timeout=timeout_s)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise RetryableError(f"Tryton unreachable: {exc!r}") from exc
        except (httpx.TimeoutException, httpx.RemoteProtocolError, httpx.ReadError) as exc:
            if write:
                raise AmbiguousError(
                    f"Tryton {method}: no answer after sending ({type(exc).__name__})",
                    details={"method": method},
                ) from exc
            raise RetryableError(f"Tryton {method}: {type(exc).__name__}") from exc
        except httpx.TransportError as exc:
            raise RetryableError(f"Tryton {method}: {exc!r}") from exc

    def _check_status(self, response: httpx.Response, method: str) -> None:
        status = response.status_code
        if status < 300:
            return
        text = response.text[:500]
        details = {"method": method, "body": text}
        if status in (429, 503):
            retry_after = response.headers.get("retry-after")
            raise RateLimitedError(
                f"Tryton {method}: HTTP {status}",
                retry_after=float(retry_after) if retry_after and retry_after.isdigit() else None,
                status_code=status,
                details=details,
            )
        if status == 408 or status >= 500:
            raise RetryableError(f"Tryton {method}: HTTP {status}", status_code=status)
        if status == 404:
            raise FatalError(
                f"Tryton has no database {self.database!r} at {self.url} (HTTP 404)",
                status_code=status,
                details=details,
            )
        raise FatalError(
            f"Tryton {method}: HTTP {status} {text}", status_code=status, details=details
        )

    async def _login(self, timeout_s: float) -> None:
        async with self._login_lock:
            if self._session is not None:
                return
            response = await self._post(
                "common.db.login",
                [self.user, {"password": self.password}, self.language],
                write=False,
                timeout_s=timeout_s,
                auth=False,
            )
            if response.status_code in (401, 403):
                raise FatalError(
                    f"Tryton refused the login of user {self.user!r} on {self.database!r}",
                    status_code=response.status_code,
                )
            self._check_status(response, "common.db.login")
            body = response.json()
            if body.get("error") is not None:
                raise tryton_error(body["error"], "common.db.login")
            user_id, session = body["result"][0], body["result"][1]
            self._session = session_header(self.user, user_id, session)
            self.logins += 1
            try:
                preferences = await self._call_once(
                    "model.res.user.get_preferences", [True, {}], write=False, timeout_s=timeout_s
                )
            except _SessionExpired:
                self._session = None
                raise RetryableError("Tryton refused the session it had just opened") from None
            self._context = dict(preferences or {})

    async def _call_once(
        self, method: str, params: list[Any], *, write: bool, timeout_s: float
    ) -> Any:
        response = await self._post(method, params, write=write, timeout_s=timeout_s)
        if response.status_code == 401:
            raise _SessionExpired
        self._check_status(response, method)
        try:
            body = response.json()
        except ValueError:
            raise RetryableError(
                f"Tryton {method}: answer is not JSON", status_code=response.status_code
            ) from None
        if body.get("error") is not None:
            raise tryton_error(body["error"], method)
        return tryton_decode(body.get("result"))

    async def rpc(
        self, method: str, *args: Any, write: bool = False, timeout_s: float | None = None
    ) -> Any:
        """Call ``method`` with ``args`` and the user's context; log in as needed."""
        timeout = timeout_s or self.timeout_s
        for _ in range(2):
            if self._session is None:
                await self._login(timeout)
            session = self._session
            try:
                return await self._call_once(
                    method, [*args, self._context], write=write, timeout_s=timeout
                )
            except _SessionExpired:
                # the session expired: log in again (once) and repeat; a 401 is sent
                # before anything runs, so repeating a write is safe
                if self._session == session:
                    self._session = None
        raise RetryableError(f"Tryton {method}: session refused right after login")

    # -- the connector ------------------------------------------------------------------

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

    async def aclose(self) -> None:
        if self._own_http:
            await self.http.aclose()

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

    async def _sale_values(
        self, payload: Mapping[str, Any], reference: str, ctx: CallContext
    ) -> dict[str, Any]:
        lines = payload.get("lines")
        if not isinstance(lines, list) or not lines:
            raise FatalError("payload has no 'lines'")
        products = await self._products(lines, ctx)
        party, address = await self._party(payload.get("customer"), ctx)
        sale_lines = []
        for i, line in enumerate(lines, 1):
            product_id, unit_id = products[self._code(line)]
            price = _decimal(line.get("unit_price"), f"line {i} unit_price")
            if line.get("discount_percent"):  # a quote line's discount: a lower price
                off = _decimal(line["discount_percent"], f"line {i} discount_percent")
                price = (price * (100 - off) / 100).quantize(Decimal("0.0001"))
            values: dict[str, Any] = {
                "type": "line",
                "product": product_id,
                "unit": unit_id,
                "quantity": float(_decimal(line.get("quantity"), f"line {i} quantity")),
                "unit_price": price,
            }
            if line.get("description"):
                values["description"] = str(line["description"])
            sale_lines.append(values)
        values = {
            "reference": reference,
            "party": party,
            "invoice_address": address,
            "shipment_address": address,
            "lines": [["create", sale_lines]],
        }
        number = payload.get("order_number")
        po = payload.get("po_number")
        description = " / ".join(str(v) for v in (number, po) if v)
        if payload.get("quote_number"):
            description = f"quote {payload['quote_number']}"
        if description:
            values["description"] = f"Salesforce {description}"
        if payload.get("order_date"):
            values["sale_date"] = _date(payload["order_date"], "order_date")
        if payload.get("currency"):
            values["currency"] = await self._currency(str(payload["currency"]), ctx)
        return values

    def _code(self, line: Mapping[str, Any]) -> str:
        code = line.get("sku") or line.get("product_code")
        if not code:
            raise FatalError("an order line has no 'sku' (the Tryton product code)")
        return self.product_codes.get(str(code), str(code))

    async def _products(self, lines: list[Any], ctx: CallContext) -> dict[str, tuple[int, int]]:
        codes = sorted({self._code(line) for line in lines})
        found = await self.rpc(
            "model.product.product.search_read",
            [("code", "in", codes), ("salable", "=", True)],
            0,
            None,
            None,
            ["code", "sale_uom"],
            timeout_s=ctx.timeout_s,
        )
        products = {p["code"]: (p["id"], p["sale_uom"]) for p in found}
        missing = [c for c in codes if c not in products]
        if missing:
            raise FatalError(
                f"no salable Tryton product with code {', '.join(missing)}: create it in "
                "Tryton (or map the code with the connector's product_codes setting)",
                details={"missing_products": missing},
            )
        return products

    async def _currency(self, code: str, ctx: CallContext) -> int:
        found = await self.rpc(
            "model.currency.currency.search", [("code", "=", code.upper())], timeout_s=ctx.timeout_s
        )
        if not found:
            raise FatalError(f"Tryton has no currency {code!r}")
        return int(found[0])

    async def _party(self, customer: Any, ctx: CallContext) -> tuple[int, int]:
        if isinstance(customer, Mapping):
            name = customer.get("name")
            code = customer.get("account_number") or None
        else:
            name, code = customer, None
        if not name:
            raise FatalError("payload has no customer name")
        domain = [("code", "=", str(code))] if code else [("name", "=", str(name))]
        async with self._party_lock:  # two orders of one new customer: one party
            found = await self.rpc(
                "model.party.party.search", domain, 0, 1, None, timeout_s=ctx.timeout_s
            )
            if found:
                party_id = int(found[0])
            else:
                values: dict[str, Any] = {"name": str(name), "addresses": [["create", [{}]]]}
                if code:
                    values["code"] = str(code)
                (party_id,) = await self.rpc(
                    "model.party.party.create", [values], write=True, timeout_s=ctx.timeout_s
                )
        addresses = await self.rpc(
            "model.party.address.search",
            [("party", "=", party_id)],
            0,
            1,
            None,
            timeout_s=ctx.timeout_s,
        )
        if not addresses:
            (address,) = await self.rpc(
                "model.party.address.create",
                [{"party": party_id}],
                write=True,
                timeout_s=ctx.timeout_s,
            )
            return party_id, int(address)
        return party_id, int(addresses[0])

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


class _SessionExpired(Exception):
    """HTTP 401 on a model call: log in again."""


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

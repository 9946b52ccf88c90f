"""Tryton sale values from a mapped payload: the customer's party, products, currency.

Products are looked up by code (``product_codes`` may map Salesforce codes to
Tryton's) and never created; a customer's party is found by account number, else by
name, or created with an address.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from revflow.connectors.base import CallContext
from revflow.connectors.errors import FatalError
from revflow.connectors.tryton_rpc import TrytonRpc

__all__ = ["TrytonSaleValues"]


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


class TrytonSaleValues(TrytonRpc):
    """A sale's values, with the look-ups and creations they need."""

    def __init__(
        self, *args: Any, product_codes: Mapping[str, str] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.product_codes = dict(product_codes or {})
        self._party_lock = asyncio.Lock()  # two orders of one new customer: one party

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

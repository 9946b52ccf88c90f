"""The demo acting as a Salesforce user: creating, activating, cancelling and amending
orders over the org's REST API, with the demo's own connected app (so Revflow's API
calls are counted apart)."""

from __future__ import annotations

import random
import time
from typing import Any

import httpx

from revflow.config import Settings
from revflow.demo.catalog import COUNTRIES, PRODUCTS
from revflow.sandbox.org import SandboxOrg
from revflow.sandbox.validation import ValidationRule


class SalesforceUser:
    """Part of ``DemoEnvironment``: what a Salesforce user does to orders."""

    org: SandboxOrg
    settings: Settings | None
    rng: random.Random
    activated_at: dict[str, float]
    _http: httpx.AsyncClient
    _demo_token: str | None
    _catalog: tuple[list[str], list[str]] | None = None  # accounts, products

    async def _rest(self, method: str, path: str, **kw: Any) -> Any:
        if self._demo_token is None:
            resp = await self._http.post(
                f"{self.org.instance_url}/services/oauth2/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": "demo-consumer-key",
                    "client_secret": "demo-secret",
                },
            )
            resp.raise_for_status()
            self._demo_token = resp.json()["access_token"]
        version = self.settings.salesforce.api_version if self.settings else "62.0"
        resp = await self._http.request(
            method,
            f"{self.org.instance_url}/services/data/v{version}/{path}",
            headers={"Authorization": f"Bearer {self._demo_token}"},
            **kw,
        )
        if resp.status_code == 401:
            self._demo_token = None
            return await self._rest(method, path, **kw)
        resp.raise_for_status()
        return resp.json() if resp.content else None

    async def _create(self, sobject: str, rows: list[dict[str, Any]]) -> list[str]:
        ids: list[str] = []
        for start in range(0, len(rows), 200):
            chunk = rows[start : start + 200]
            body = {
                "allOrNone": True,
                "records": [{"attributes": {"type": sobject}, **r} for r in chunk],
            }
            results = await self._rest("POST", "composite/sobjects", json=body)
            for res in results:
                if not res.get("success"):
                    raise RuntimeError(f"creating {sobject} failed: {res}")
                ids.append(res["id"])
        return ids

    async def catalog(self, n: int) -> tuple[list[str], list[str]]:
        """The demo's accounts (up to 20, for ``n`` records) and products, created once."""
        cached = self._catalog
        if cached is not None and len(cached[0]) >= max(1, min(n, 20)):
            return cached
        start = len(cached[0]) if cached else 0
        accounts = (cached[0] if cached else []) + await self._create(
            "Account",
            [
                {
                    "Name": f"Customer {i:03d}",
                    "AccountNumber": f"ACC-{i:04d}",
                    "BillingCountry": COUNTRIES[i % len(COUNTRIES)],
                }
                for i in range(start, max(1, min(n, 20)))
            ],
        )
        products = (
            cached[1]
            if cached
            else await self._create(
                "Product2",
                [
                    {"Name": name, "ProductCode": code, "Family": family, "IsActive": True}
                    for code, name, family, _ in PRODUCTS
                ],
            )
        )
        self._catalog = (accounts, products)
        return accounts, products

    async def create_orders(self, n: int, max_items: int = 4) -> list[str]:
        """Create ``n`` draft orders with 1..max_items items, accounts and products."""
        accounts, products = await self.catalog(n)
        orders = await self._create(
            "Order",
            [
                {
                    "AccountId": accounts[i % len(accounts)],
                    "Status": "Draft",
                    "EffectiveDate": "2026-12-01",
                    "PoNumber": f"PO-{i:05d}",
                    **({} if self.org.single_currency else {"CurrencyIsoCode": "EUR"}),
                }
                for i in range(n)
            ],
        )
        items = []
        for order_id in orders:
            for _ in range(self.rng.randint(1, max_items)):
                p = self.rng.randrange(len(PRODUCTS))
                items.append(
                    {
                        "OrderId": order_id,
                        "Product2Id": products[p],
                        "Quantity": float(self.rng.randint(1, 5)),
                        "UnitPrice": PRODUCTS[p][3],
                    }
                )
        await self._create("OrderItem", items)
        return orders

    async def activate(self, order_ids: list[str]) -> None:
        for start in range(0, len(order_ids), 200):
            chunk = order_ids[start : start + 200]
            body = {
                "allOrNone": False,
                "records": [
                    {"attributes": {"type": "Order"}, "id": oid, "Status": "Activated"}
                    for oid in chunk
                ],
            }
            now = time.monotonic()
            await self._rest("PATCH", "composite/sobjects", json=body)
            for oid in chunk:
                self.activated_at[oid] = now

    async def cancel(self, order_ids: list[str]) -> None:
        """Set Status=Cancelled on the orders, as a Salesforce user would."""
        for start in range(0, len(order_ids), 200):
            body = {
                "allOrNone": False,
                "records": [
                    {"attributes": {"type": "Order"}, "id": oid, "Status": "Cancelled"}
                    for oid in order_ids[start : start + 200]
                ],
            }
            await self._rest("PATCH", "composite/sobjects", json=body)

    def refuse_completion(self, order_ids: list[str]) -> None:
        """The org gets a validation rule refusing status Completed on these orders."""
        if not order_ids:
            return  # (a rule without records would hold every order)
        status = self.settings.writeback.status_field if self.settings else "Fulfillment_Status__c"
        self.org.faults.validation_rules.append(
            ValidationRule(status, "Completed", records=list(order_ids))
        )

    async def amend(self, order_ids: list[str], in_place: bool = False) -> None:
        """Amend activated orders as a Salesforce user would: add 2 to the first line's
        quantity.  ``in_place``: only that, on the activated order (a user with "Edit
        Activated Orders"; an OrderItem change event).  Otherwise also add a line, which
        needs the order deactivated first and activated again afterwards."""
        if not in_place:
            await self._set_status(order_ids, "Draft")
        items = self.org.records.get("OrderItem", {})
        first: dict[str, dict[str, Any]] = {}
        for item in items.values():
            first.setdefault(item["OrderId"], item)
        changed = [
            {
                "attributes": {"type": "OrderItem"},
                "id": first[o]["Id"],
                "Quantity": first[o]["Quantity"] + 2,
            }
            for o in order_ids
            if o in first
        ]
        for start in range(0, len(changed), 200):
            body = {"allOrNone": False, "records": changed[start : start + 200]}
            await self._rest("PATCH", "composite/sobjects", json=body)
        if in_place:
            return
        added = [
            {
                "OrderId": o,
                "Product2Id": first[o]["Product2Id"],
                "Quantity": 1.0,
                "UnitPrice": first[o]["UnitPrice"],
            }
            for o in order_ids
            if o in first
        ]
        await self._create("OrderItem", added)
        await self._set_status(order_ids, "Activated")

    async def _set_status(self, order_ids: list[str], status: str) -> None:
        for start in range(0, len(order_ids), 200):
            body = {
                "allOrNone": False,
                "records": [
                    {"attributes": {"type": "Order"}, "id": oid, "Status": status}
                    for oid in order_ids[start : start + 200]
                ],
            }
            await self._rest("PATCH", "composite/sobjects", json=body)

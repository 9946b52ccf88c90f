"""The demo's Quotes: a Salesforce user drafts Quotes with lines and approves them;
Revflow syncs each to the ERP as a quotation and writes status and the ERP quote
number back onto the Quote, which the demo watches."""

from __future__ import annotations

import time
from typing import Any

from revflow.demo.catalog import PRODUCTS, REVFLOW_APP
from revflow.demo.report import DemoSummary, percentile, rounded, status_latencies
from revflow.demo.user import SalesforceUser

APPROVED = "Approved"
DISCOUNTS = (0.0, 0.0, 5.0, 10.0)  # within the quote mapping's 30 % rule


class DemoQuotes(SalesforceUser):
    """Part of ``DemoEnvironment``: what a Salesforce user does to Quotes, and how
    they ended."""

    approved_at: dict[str, float]

    async def create_quotes(self, n: int, max_lines: int = 3) -> list[str]:
        """``n`` Draft Quotes of the demo's accounts, each with 1..max_lines lines."""
        rng = self.rng
        accounts, products = await self.catalog(n)
        quotes = await self._create(
            "Quote",
            [
                {
                    "Name": f"Quote {i:05d}",
                    "AccountId": accounts[i % len(accounts)],
                    "Status": "Draft",
                    "ExpirationDate": "2027-03-31",
                    **({} if self.org.single_currency else {"CurrencyIsoCode": "EUR"}),
                }
                for i in range(n)
            ],
        )
        lines = []
        for quote_id in quotes:
            for _ in range(rng.randint(1, max_lines)):
                p = rng.randrange(len(PRODUCTS))
                price = PRODUCTS[p][3]
                lines.append(
                    {
                        "QuoteId": quote_id,
                        "Product2Id": products[p],
                        "Quantity": float(rng.randint(1, 5)),
                        "ListPrice": price,
                        "UnitPrice": price,
                        "Discount": rng.choice(DISCOUNTS),
                    }
                )
        await self._create("QuoteLineItem", lines)
        return quotes

    async def approve(self, quote_ids: list[str], status: str = APPROVED) -> None:
        """Set the Quotes' Status (Approved: each gets a plan), 200 per call."""
        for start in range(0, len(quote_ids), 200):
            chunk = quote_ids[start : start + 200]
            body = {
                "allOrNone": False,
                "records": [
                    {"attributes": {"type": "Quote"}, "id": qid, "Status": status} for qid in chunk
                ],
            }
            now = time.monotonic()
            await self._rest("PATCH", "composite/sobjects", json=body)
            for qid in chunk:
                self.approved_at.setdefault(qid, now)

    def _quote_field(self, quote_id: str, role: str) -> Any:
        q = self.settings.writeback.quote if self.settings else None
        name = {
            "status": q.status_field if q else "Fulfillment_Status__c",
            "erp_number": q.erp_number_field if q else "ERP_Quote_Number__c",
            "error": q.error_field if q else "Fulfillment_Error__c",
        }[role]
        return (self.org.records.get("Quote", {}).get(quote_id) or {}).get(name)

    def quote_status(self, quote_id: str) -> str | None:
        return self._quote_field(quote_id, "status")

    def quote_erp_number(self, quote_id: str) -> str | None:
        return self._quote_field(quote_id, "erp_number")

    def quote_error(self, quote_id: str) -> str | None:
        return self._quote_field(quote_id, "error")

    def quote_synced(self, quote_id: str) -> bool:
        """Completed on the Quote, with the ERP's quote number."""
        return self.quote_status(quote_id) == "Completed" and bool(self.quote_erp_number(quote_id))

    def quote_latencies(self, quote_ids: list[str]) -> dict[str, float]:
        """Seconds from each Quote's approval to Completed, from the org's field history."""
        q = self.settings.writeback.quote if self.settings else None
        return status_latencies(
            self.org.history,
            "Quote",
            quote_ids,
            ("Status", APPROVED),
            q.status_field if q else "Fulfillment_Status__c",
            self.quote_status,
        )

    def add_quotes(self, summary: DemoSummary, quote_ids: list[str]) -> DemoSummary:
        """``summary`` with the Quotes' figures; API calls per record count both kinds."""
        latencies = self.quote_latencies(quote_ids).values()
        calls = self.org.usage.by_app.get(REVFLOW_APP, 0)
        records = summary.orders + len(quote_ids)
        summary.quotes = len(quote_ids)
        summary.quotes_synced = sum(self.quote_synced(q) for q in quote_ids)
        summary.quote_latency_p50_s = rounded(percentile(latencies, 50))
        summary.quote_latency_p95_s = rounded(percentile(latencies, 95))
        summary.api_calls_per_record = round(calls / records, 3) if records else 0.0
        return summary

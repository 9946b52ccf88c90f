"""What the demo watches: each Order's status and error field as the org holds them,
the ERP's documents, and the summary of a run."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from revflow.config import Settings
from revflow.demo.catalog import REVFLOW_APP
from revflow.demo.report import DemoSummary, order_latencies, percentile, rounded
from revflow.plans.ponr import REFUSED
from revflow.salesforce.refusals import PREFIX as WRITEBACK_REFUSED
from revflow.sandbox.erp import SandboxErp
from revflow.sandbox.org import SandboxOrg

if TYPE_CHECKING:
    from revflow.sandbox.tryton import TrytonServer


class OrderOutcomes:
    """Part of ``DemoEnvironment``: reading how orders ended."""

    org: SandboxOrg
    erp: SandboxErp
    settings: Settings | None
    tryton: TrytonServer | None
    finished_at: dict[str, float]
    systems_summary: Callable[[], dict[str, dict[str, Any]]]

    def cancel_settled(self, order_id: str) -> bool:
        """A cancelled order ended: Cancelled, or Completed with the refusal text."""
        status = self.order_status(order_id)
        if status == "Cancelled":
            return True
        error = self.order_error(order_id) or ""
        return status == "Completed" and error.startswith(REFUSED)

    def refusal_shown(self, order_id: str) -> bool:
        """The rule refused Completed, and the Order's error field quotes the refusal."""
        error = self.order_error(order_id) or ""
        return (
            self.order_status(order_id) != "Completed"
            and error.startswith(WRITEBACK_REFUSED)
            and "'Completed'" in error
        )

    def order_error(self, order_id: str) -> str | None:
        field_name = self.settings.writeback.error_field if self.settings else None
        record = self.org.records.get("Order", {}).get(order_id) or {}
        return record.get(field_name or "Fulfillment_Error__c")

    async def wait_for_cancellations(self, order_ids: list[str], timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        pending = set(order_ids)
        while pending and time.monotonic() < deadline:
            pending = {o for o in pending if not self.cancel_settled(o)}
            if pending:
                await asyncio.sleep(0.05)
        return not pending

    def amend_refused(self, order_id: str) -> bool:
        error = self.order_error(order_id) or ""
        return self.order_status(order_id) == "Completed" and error.startswith(REFUSED)

    def amend_applied(self, order_id: str) -> bool:
        """Completed, and the ERP's newest sales order has the order's lines as they are now."""
        if self.order_status(order_id) != "Completed":
            return False
        lines = {
            i["Id"]: float(i["Quantity"])
            for i in self.org.records.get("OrderItem", {}).values()
            if i["OrderId"] == order_id
        }
        if self.tryton is not None:
            return self._tryton_quantities(order_id) == sorted(lines.values())
        docs = self.erp.documents_of("sales_order", order_id)
        if not docs:
            return False
        newest = max(docs, key=lambda d: (d.data.get("revision") or 1, d.created_at))
        sent = {
            str(line.get("external_id")): float(line.get("quantity") or 0)
            for line in newest.data.get("lines") or []
        }
        return sent == lines

    def _tryton_quantities(self, order_id: str) -> list[float]:
        """Line quantities of the order's newest sale in Tryton (``<id>/r<N>`` revisions)."""
        tryton = self.tryton
        assert tryton is not None
        sales = tryton.rpc(
            "model.sale.sale.search_read",
            [["OR", ("reference", "=", order_id), ("reference", "like", f"{order_id}/r%")]],
            0,
            None,
            None,
            ["reference", "lines"],
        )
        if not sales:
            return []

        def revision(sale: dict[str, Any]) -> int:
            _, _, n = str(sale["reference"]).partition("/r")
            return int(n) if n.isdigit() else 1

        newest = max(sales, key=revision)
        rows = tryton.rpc("model.sale.line.read", newest["lines"], ["quantity"])
        return sorted(float(r["quantity"]) for r in rows)

    async def wait_for(
        self, order_ids: list[str], settled: Callable[[str], bool], timeout_s: float
    ) -> bool:
        deadline = time.monotonic() + timeout_s
        pending = set(order_ids)
        while pending and time.monotonic() < deadline:
            pending = {o for o in pending if not settled(o)}
            if pending:
                await asyncio.sleep(0.05)
        return not pending

    def order_status(self, order_id: str) -> str | None:
        field_name = (
            self.settings.writeback.status_field if self.settings else "Fulfillment_Status__c"
        )
        record = self.org.records.get("Order", {}).get(order_id) or {}
        return record.get(field_name)

    async def wait_until_done(
        self,
        order_ids: list[str],
        timeout_s: float,
        progress: Callable[[int, int], None] | None = None,
        final: tuple[str, ...] = ("Completed", "Failed"),
    ) -> bool:
        deadline = time.monotonic() + timeout_s
        pending = set(order_ids)
        field_name = self.settings.writeback.status_field if self.settings else ""
        field_name = field_name or "Fulfillment_Status__c"
        changes, seen, rescan_at = self.org.history.changes, 0, 0.0
        while pending and time.monotonic() < deadline:
            now = time.monotonic()
            if now >= rescan_at:  # every order now and then; in between, only the changed
                candidates: Iterable[str] = list(pending)
                rescan_at = now + 2.0
            else:
                candidates = {
                    c.record_id
                    for c in changes[seen:]
                    if c.field == field_name and c.record_id in pending
                }
            seen = len(changes)
            for oid in candidates:
                if self.order_status(oid) in final:
                    self.finished_at[oid] = now
                    pending.discard(oid)
            if progress:
                progress(len(order_ids) - len(pending), len(order_ids))
            if pending:
                await asyncio.sleep(0.05)
        return not pending

    def summary(self, order_ids: list[str], elapsed_s: float) -> DemoSummary:
        statuses = [self.order_status(o) for o in order_ids]
        erp = self.erp.stats()
        status_field = self.settings.writeback.status_field if self.settings else ""
        latencies = order_latencies(
            self.org.history, order_ids, status_field or "Fulfillment_Status__c", self.order_status
        ).values()
        calls = self.org.usage.by_app.get(REVFLOW_APP, 0)
        completed = statuses.count("Completed")
        faults = dict(self.org.faults_injected)
        if erp.get("failed"):
            faults["erp_failures"] = erp["failed"]
        deliveries = erp["created"]
        duplicates = len({d["order_id"] for d in erp["duplicate_documents"]})
        if self.tryton is not None:  # counted by Tryton itself: sales per reference
            sales = self.tryton.sales_by_reference()
            deliveries = sum(len(numbers) for numbers in sales.values())
            duplicates = sum(len(numbers) > 1 for numbers in sales.values())
        return DemoSummary(
            orders=len(order_ids),
            completed=completed,
            failed=statuses.count("Failed"),
            erp_deliveries=deliveries,
            duplicate_deliveries=duplicates,
            salesforce_api_calls=calls,
            elapsed_s=round(elapsed_s, 3),
            orders_per_s=round(completed / elapsed_s, 2) if elapsed_s else 0.0,
            latency_p50_s=rounded(percentile(latencies, 50)),
            latency_p95_s=rounded(percentile(latencies, 95)),
            latency_p99_s=rounded(percentile(latencies, 99)),
            api_calls_per_order=round(calls / len(order_ids), 3) if order_ids else 0.0,
            erp_failed_attempts=erp["failed"],
            erp_redeliveries=erp["duplicate_accepted"],
            faults_injected=faults,
            cancelled=statuses.count("Cancelled"),
            api_calls_per_record=round(calls / len(order_ids), 3) if order_ids else 0.0,
            systems=self.systems_summary(),
        )

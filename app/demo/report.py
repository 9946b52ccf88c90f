"""What ``revflow demo`` reports: the summary, per-order latency from the org's record
history, and whether the run passed (every order in its final state, no duplicate ERP
document).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from revflow.sandbox.history import FieldHistory

FINAL = ("Completed", "Cancelled", "Failed")


@dataclass
class DemoSummary:
    orders: int
    completed: int
    failed: int
    erp_deliveries: int
    duplicate_deliveries: int
    salesforce_api_calls: int
    elapsed_s: float
    orders_per_s: float = 0.0
    # activation -> final status per order, from the org's field history (order_latencies)
    latency_p50_s: float | None = None
    latency_p95_s: float | None = None
    latency_p99_s: float | None = None
    api_calls_per_order: float = 0.0
    erp_failed_attempts: int = 0
    erp_redeliveries: int = 0  # repeats of an accepted webhook-id, deduplicated by the ERP
    faults_injected: dict[str, int] = field(default_factory=dict)
    cancelled: int = 0  # orders cancelled in flight and read Cancelled
    cancel_refused: int = 0  # cancellations refused (point of no return, or done): Completed
    amended: int = 0  # amended in flight: Completed, the ERP's documents have the new lines
    amend_refused: int = 0  # amendments refused (point of no return, or done): Completed
    writeback_refused: int = 0  # the org's rule refused Completed: the error field says so
    # with --serve: orders the ERP refused for good, On Hold for a person to fix
    fallout: int = 0
    # Quotes approved beside the orders (--quotes): Completed with the ERP's quote number
    quotes: int = 0
    quotes_synced: int = 0
    quote_latency_p50_s: float | None = None  # approval -> Completed on the Quote
    quote_latency_p95_s: float | None = None
    # Revflow's Salesforce API calls per Order or Quote (api_calls_per_order counts Orders
    # alone, so it includes the Quotes' calls when there are Quotes)
    api_calls_per_record: float = 0.0
    # systems beside the ERP (--plan): documents, redeliveries, orders with a duplicate
    systems: dict[str, dict[str, Any]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def percentile(values: Iterable[float], q: float) -> float | None:
    """The nearest-rank ``q``-th percentile (0 < q <= 100), or ``None`` without values."""
    ordered = sorted(values)
    if not ordered:
        return None
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def order_latencies(
    history: FieldHistory,
    order_ids: Iterable[str],
    status_field: str,
    status_of: Callable[[str], str | None],
) -> dict[str, float]:
    """Seconds from each Order's activation to its final status on the record.

    Both ends are commit times in the org's field history: the first ``Status`` ->
    ``Activated``, then the first time ``status_field`` took the order's final value.
    Orders without a final status are left out (the verdict counts them as lost).
    """
    start = ("Status", "Activated")
    return status_latencies(history, "Order", order_ids, start, status_field, status_of)


def status_latencies(
    history: FieldHistory,
    sobject: str,
    record_ids: Iterable[str],
    start: tuple[str, str],
    status_field: str,
    status_of: Callable[[str], str | None],
) -> dict[str, float]:
    """Seconds from the first time field ``start[0]`` became ``start[1]`` (an Order's
    activation, a Quote's approval) to the record's final status, per record."""
    latencies: dict[str, float] = {}
    for rid in record_ids:
        final = status_of(rid)
        began = history.first_set(sobject, rid, start[0], start[1])
        if final not in FINAL or began is None:
            continue
        done = history.first_set(sobject, rid, status_field, final, after=began)
        if done is not None:
            latencies[rid] = done - began
    return latencies


def verdict(summary: DemoSummary, cancel: int, amend: int) -> str | None:
    """Why the run failed, in one line, or ``None`` when it passed."""
    orders = summary.orders
    doomed = min(cancel, orders)
    changed = min(amend, max(orders - cancel, 0))
    reasons = []
    if summary.duplicate_deliveries:
        reasons.append(f"{summary.duplicate_deliveries} order(s) got duplicate ERP documents")
    for name, system in summary.systems.items():
        if system.get("duplicate_orders"):
            reasons.append(f"{system['duplicate_orders']} order(s) got duplicates in {name}")
    # an order whose Completed the org's validation rule refused ends showing the refusal
    shown = summary.completed + summary.writeback_refused
    ended = shown + summary.cancelled + summary.fallout
    if ended != orders:
        reasons.append(
            f"{orders - ended} of {orders} order(s) lost: not Completed, Cancelled or showing "
            f"a refused write-back on the record ({summary.failed} Failed)"
        )
    elif shown + summary.fallout - summary.cancel_refused != orders - doomed:
        reasons.append(f"{doomed} cancellation(s) did not all end Cancelled or refused")
    if summary.amended + summary.amend_refused != changed:
        missing = changed - summary.amended - summary.amend_refused
        reasons.append(f"{missing} of {changed} amendment(s) neither applied nor refused")
    if summary.quotes_synced != summary.quotes:
        missing = summary.quotes - summary.quotes_synced
        reasons.append(
            f"{missing} of {summary.quotes} quote(s) not Completed with an ERP quote number"
        )
    return "; ".join(reasons) or None


def rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)

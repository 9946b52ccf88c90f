"""The benches' 5-step workflow and instant connector, defined once.

``bench_steps`` runs it as a Revflow plan; ``bench/peers`` runs the same five steps as
a DBOS workflow.  Five dependent steps, one after another:

    validate -> create_sales_order -> reserve_stock -> create_invoice -> notify_shipment

``validate`` checks the mapped document (no connector); the four others call the
instant connector, which returns an id at once without any I/O, so what is measured is
the engine's own cost per step: its queries, commits and bookkeeping.
"""

from __future__ import annotations

from typing import Any

from revflow.connectors.base import CallContext, CallResult, FakeConnector
from revflow.plans.definitions import PlanDefinition, StepDefinition, StepKind

PLAN_NAME = "bench_five_steps"
CONNECTOR = "erp"
MAPPING = "bench_document"
# the four callouts after validate, in order: (step key, connector action)
CALLOUTS: tuple[tuple[str, str], ...] = (
    ("create_sales_order", "sales_order.create"),
    ("reserve_stock", "stock.reserve"),
    ("create_invoice", "invoice.create"),
    ("notify_shipment", "shipment.notify"),
)
STEPS_PER_WORKFLOW = 1 + len(CALLOUTS)


class BenchMapping:
    """A compiled mapping stand-in: the document is the order's id."""

    content_hash = "bench"

    def apply(self, record: dict[str, Any]) -> dict[str, Any]:
        return document(record)


def document(order: dict[str, Any]) -> dict[str, Any]:
    return {"external_id": order["Id"]}


def order(i: int) -> dict[str, Any]:
    return {"Id": f"801{i:012d}AAA", "OrderItems": []}


def five_step_plan() -> PlanDefinition:
    steps = [StepDefinition("validate", StepKind.VALIDATE)]
    previous = "validate"
    for key, action in CALLOUTS:
        steps.append(
            StepDefinition(
                key,
                StepKind.CALLOUT,
                depends_on=(previous,),
                connector=CONNECTOR,
                action=action,
                mapping=MAPPING,
            )
        )
        previous = key
    return PlanDefinition(name=PLAN_NAME, steps=tuple(steps))


def mappings() -> dict[str, Any]:
    return {MAPPING: BenchMapping()}


def answer(action: str, payload: dict[str, Any], ctx: CallContext) -> CallResult:
    """The instant connector's answer: an id derived from the call, no I/O."""
    return CallResult(external_id=f"{action}:{ctx.idempotency_key}")


def instant_connector() -> FakeConnector:
    return FakeConnector(answer)

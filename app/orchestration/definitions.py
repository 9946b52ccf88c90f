"""Plan definitions: which steps an order's fulfillment runs, and in what order.

The skeleton ships one definition, ``order_fulfillment``: validate the mapped
documents, create the ERP sales order, then create the invoice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from app.orchestration.retry import RetryPolicy


class StepKind(StrEnum):
    VALIDATE = "validate"  # fails fatally when the mapped documents are invalid
    CALLOUT = "callout"  # a connector action with a mapped document as payload


@dataclass(frozen=True)
class StepDefinition:
    key: str
    kind: StepKind
    depends_on: tuple[str, ...] = ()
    connector: str | None = None
    action: str | None = None
    mapping: str | None = None  # name of the mapping that builds the payload
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    writes_erp_number: bool = False  # its external id is the ERP reference on the Order


@dataclass(frozen=True)
class PlanDefinition:
    name: str
    steps: tuple[StepDefinition, ...]

    def step(self, key: str) -> StepDefinition:
        return next(s for s in self.steps if s.key == key)

    @property
    def mappings(self) -> tuple[str, ...]:
        return tuple(s.mapping for s in self.steps if s.mapping)


def order_fulfillment(
    sales_order_mapping: str = "order_to_sales_order",
    invoice_mapping: str = "order_to_invoice",
    retry: RetryPolicy | None = None,
) -> PlanDefinition:
    policy = retry or RetryPolicy()
    return PlanDefinition(
        name="order_fulfillment",
        steps=(
            StepDefinition("validate", StepKind.VALIDATE, retry=policy),
            StepDefinition(
                "create_sales_order",
                StepKind.CALLOUT,
                depends_on=("validate",),
                connector="erp",
                action="sales_order.create",
                mapping=sales_order_mapping,
                retry=policy,
                writes_erp_number=True,
            ),
            StepDefinition(
                "create_invoice",
                StepKind.CALLOUT,
                depends_on=("create_sales_order",),
                connector="erp",
                action="invoice.create",
                mapping=invoice_mapping,
                retry=policy,
            ),
        ),
    )

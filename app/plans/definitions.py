"""Plan definitions: which steps an order's fulfillment runs, and in what order.

A definition is either built in code (``order_fulfillment``: validate the mapped
documents, create the ERP sales order, then create the invoice; every scenario runs
the same steps) or compiled from a plan file (``app/plans/files.py``,
docs/plans.md) with step groups per scenario, line/bundle scopes, conditions, waits,
manual tasks, pauses, PONR and compensation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from revflow.connectors.external_id import ExternalIdPath
from revflow.mapping.paths import PathRef, Scope
from revflow.plans.retry import RetryPolicy
from revflow.plans.rules import Cond, Value, Verdict, show

SCENARIOS = ("new", "amendment", "cancellation")


@dataclass(frozen=True)
class Source:
    """A kind of record plans are built for: its lines' child relationship and sObject."""

    name: str  # Order | Quote
    lines: str  # OrderItems | QuoteLineItems
    line_object: str  # OrderItem | QuoteLineItem


SOURCES = {
    "Order": Source("Order", "OrderItems", "OrderItem"),
    "Quote": Source("Quote", "QuoteLineItems", "QuoteLineItem"),
}
EACH_SUFFIXES = ("@each", "@each_line")  # `depends_on: [x@each]`: every instance of x


class StepKind(StrEnum):
    VALIDATE = "validate"  # fails fatally when the mapped documents are invalid
    CALLOUT = "callout"  # a connector action with a mapped document as payload
    AUTO = "auto"  # an internal action: update_fields (write-back) or publish_event
    WAIT = "wait"  # parks until a platform event / callback with its correlation key
    MANUAL = "manual"  # a task for a person or queue; an operator completes it
    MILESTONE = "milestone"  # a marker that completes when its dependencies have
    PAUSE = "pause"  # waits until a time (from a path) or for an offset


class ScopeKind(StrEnum):
    ORDER = "order"  # once per order
    LINE = "line"  # once per matching OrderItem (QuoteLineItem in a Quote plan)
    BUNDLE = "bundle"  # once per group of matching lines sharing a value


@dataclass(frozen=True)
class WaitSpec:
    key: Value  # correlation key template, e.g. "{Id}-shipped"
    signal: str = "event"  # event (platform event) | callback (inbound HTTP)
    channel: str | None = None  # e.g. /event/Fulfillment_Callback__e
    timeout_s: float | None = None
    on_timeout: str = "fail"  # fail | complete


@dataclass(frozen=True)
class PauseSpec:
    until: PathRef | None = None  # a date/datetime on the scope item or order
    after_s: float | None = None  # offset from `until`, or from when the step is ready


@dataclass(frozen=True)
class ManualSpec:
    assignee: str | None = None  # "queue:Order Desk", "user:jane@example.com"
    instructions: Value | None = None


@dataclass(frozen=True)
class AutoSpec:
    action: str  # update_fields | publish_event
    fields: Value
    event: str | None = None  # publish_event: the platform event API name
    target: str = "order"  # update_fields: order | line


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
    description: str = ""
    when: Cond | None = None  # execute-on condition; false -> the step is skipped
    ponr: bool = False  # point of no return: no amendment/cancellation once it ran
    compensation: str | None = None  # key of the step definition that undoes this one
    expected_duration_s: float | None = None  # for jeopardy
    honour_retry_after: bool = True
    payload: Value | None = None  # callout payload when there is no mapping
    wait: WaitSpec | None = None
    pause: PauseSpec | None = None
    manual: ManualSpec | None = None
    auto: AutoSpec | None = None
    external_id: ExternalIdPath | None = None  # where the id is in a callout's answer


@dataclass(frozen=True)
class LineMatch:
    """A decomposition rule: which order lines a line or bundle group applies to."""

    product_codes: tuple[str, ...] = ()
    families: tuple[str, ...] = ()
    when: Cond | None = None

    def check(self, scope: Scope) -> Verdict:
        """Whether the line in ``scope.item`` matches, and why (every criterion must hold)."""
        product = (scope.item or {}).get("Product2") or {}
        why: list[Verdict] = []
        for label, wanted, value in (
            ("ProductCode", self.product_codes, product.get("ProductCode")),
            ("Family", self.families, product.get("Family")),
        ):
            if wanted:
                ok = value in wanted
                why.append(
                    Verdict(
                        ok,
                        f"{label}={value}"
                        if ok
                        else f"{label} {show(value)} is not in {show(wanted)}",
                    )
                )
        if self.when is not None:
            why.append(self.when.check(scope))
        failed = [v.reason for v in why if not v.ok]
        if failed:
            return Verdict(False, "; ".join(failed))
        return Verdict(True, ", ".join(v.reason for v in why) or "every line")

    def describe(self) -> str:
        parts = []
        if self.product_codes:
            parts.append(f"ProductCode in {show(self.product_codes)}")
        if self.families:
            parts.append(f"Family in {show(self.families)}")
        if self.when is not None:
            parts.append("its condition holds")
        return " and ".join(parts) or "any line"


@dataclass(frozen=True)
class StepGroup:
    name: str
    steps: tuple[str, ...]  # step keys, in definition order
    scope: ScopeKind = ScopeKind.ORDER
    match: LineMatch | None = None  # order scope: instantiated only if some line matches
    bundle_by: PathRef | None = None  # bundle scope: lines sharing this value form a bundle
    description: str = ""


@dataclass(frozen=True)
class PlanDefinition:
    name: str
    steps: tuple[StepDefinition, ...]
    description: str = ""
    source: str = "Order"  # a key of SOURCES
    version: int = 1
    groups: tuple[StepGroup, ...] = ()  # empty: one order-scope group of all steps
    scenarios: dict[str, tuple[str, ...]] = field(default_factory=dict)  # -> group names
    compensations: tuple[StepDefinition, ...] = ()
    file: str | None = None

    def step(self, key: str) -> StepDefinition:
        """The definition of a step or compensation; instance suffixes (``@line``) are ignored."""
        base = key.split("@", 1)[0]
        return next(s for s in (*self.steps, *self.compensations) if s.key == base)

    @property
    def record(self) -> Source:
        """What the plan's records are: their lines' relationship and sObject."""
        return SOURCES[self.source]

    @property
    def mappings(self) -> tuple[str, ...]:
        return tuple(s.mapping for s in (*self.steps, *self.compensations) if s.mapping)

    def scenario_groups(self, scenario: str) -> tuple[StepGroup, ...]:
        """The groups a scenario runs; code definitions run all their steps in every scenario."""
        if not self.groups:
            return (StepGroup("steps", tuple(s.key for s in self.steps)),)
        if scenario not in self.scenarios:
            raise UnknownScenario(
                f"plan {self.name!r} has no scenario {scenario!r} "
                f"(it has: {', '.join(self.scenarios) or 'none'})"
            )
        by_name = {g.name: g for g in self.groups}
        return tuple(by_name[n] for n in self.scenarios[scenario])


class UnknownScenario(ValueError):
    """The definition does not define the requested scenario."""


def order_fulfillment(
    sales_order_mapping: str = "order_to_sales_order",
    invoice_mapping: str = "order_to_invoice",
    retry: RetryPolicy | None = None,
) -> PlanDefinition:
    """The built-in plan; plans/order_fulfillment.yaml is the same plan as a file."""
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

"""Helpers for alert tests: rules installed in the process, a plan whose ERP call
fails, and reading alerts and deliveries back."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from revflow.alerts.rules_file import compile_rules
from revflow.alerts.runtime import AlertRuntime, install
from revflow.config import WritebackSettings
from revflow.connectors.base import FakeConnector
from revflow.connectors.errors import FatalError
from revflow.db.database import Database
from revflow.db.models import Alert, AlertDelivery
from revflow.links import ConsoleSettings
from revflow.orchestration.executor import StepExecutor
from revflow.orchestration.plans import create_plan
from revflow.orchestration.worker import Worker
from revflow.plans.decompose import decompose
from revflow.plans.definitions import PlanDefinition, order_fulfillment
from revflow.plans.retry import RetryPolicy

OWNER_ID = "0055e000002DeMoAAK"
ORDER: dict[str, Any] = {
    "Id": "8015e00000Q7mNpAAJ",
    "OrderNumber": "00000123",
    "OwnerId": OWNER_ID,
    "TotalAmount": 25000,
    "Account": {"Name": "Acme GmbH", "BillingCountry": "DE"},
    "OrderItems": [],
}
PUBLIC_URL = "https://revflow.example.com"
FAST = RetryPolicy(initial_interval_s=0.0, jitter=0, maximum_attempts=2)

FALLOUT_RULES = """\
teams:
  finance: {email: finance@example.com}
on_call: {email: oncall@example.com}
rules:
  - name: fallout
    events: step_fallout
    notify:
      - {to: owner, via: email}
      - {to: team:finance, via: email}
    escalate:
      - after: 30m
        notify: [{to: on_call, via: email}]
"""


def use_rules(text: str = FALLOUT_RULES, *, link_key: bytes | None = b"k" * 32) -> AlertRuntime:
    ruleset, problems = compile_rules(text, "rules.yaml")
    assert ruleset is not None, problems
    runtime = AlertRuntime(ruleset, ConsoleSettings(public_url=PUBLIC_URL), link_key)
    install(runtime)
    return runtime


class Doc:
    content_hash = "h"

    def apply(self, record: dict[str, Any]) -> dict[str, Any]:
        return {"external_id": record["Id"]}


async def make_plan(db: Database, order: dict[str, Any] | None = None) -> PlanDefinition:
    definition = order_fulfillment(retry=FAST)
    order = order or ORDER
    mappings = {"order_to_sales_order": Doc(), "order_to_invoice": Doc()}
    async with db.write() as s:
        await create_plan(s, decompose(definition, order, mappings), order, WritebackSettings())
    return definition


def failing_worker(db: Database, definition: PlanDefinition, message: str = "blocked") -> Worker:
    def erp(action: str, payload: Any, ctx: Any) -> Any:
        raise FatalError(message, status_code=422)

    return Worker(
        db,
        StepExecutor({"erp": FakeConnector(erp)}),
        {definition.name: definition},
        WritebackSettings(),
        owner="w1",
    )


async def alerts(db: Database) -> list[Alert]:
    async with db.read() as s:
        return list((await s.scalars(select(Alert).order_by(Alert.id))).all())


async def deliveries(db: Database) -> list[AlertDelivery]:
    async with db.read() as s:
        return list((await s.scalars(select(AlertDelivery).order_by(AlertDelivery.id))).all())

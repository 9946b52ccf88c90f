"""A small, known data set for the dashboard's figures (see the expected values in
tests/console/test_repository.py).  Today is 2026-11-20; the default period is
11-14..11-20 and the previous one 11-07..11-13."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from revflow import audit
from revflow.db.database import Database
from revflow.db.models import (
    OrderSnapshot,
    Plan,
    PlanProductFamily,
    SalesforceApiUsage,
    Step,
    WebhookEndpoint,
)

TODAY = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
ACCOUNT = "001000000000001AAA"


def at(day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


# name: plan columns, families, steps (connector, attempts, state, error), operator acted
PLANS: dict[str, dict[str, Any]] = {
    "P1": dict(created=at(15, 10), completed=at(15, 10, 10), state="completed", due=at(16),
               region="FR", channel="New", families=["Hardware"], definition="A",
               account=ACCOUNT, steps=[("erp", 1, "completed", None)]),
    "P2": dict(created=at(16, 9), completed=at(16, 10), state="completed", due=at(16, 9, 30),
               region="DE", channel="Renewal", families=["Software"], definition="A",
               steps=[("erp", 3, "completed", None)], operator=True),
    "P3": dict(created=at(17, 8), completed=at(17, 8, 2), state="completed",
               region="FR", channel="New", families=["Hardware", "Software"], definition="B",
               steps=[("erp", 1, "completed", None), ("warehouse", 1, "completed", None)]),
    "P4": dict(created=at(18, 12), state="on_hold", region="FR", channel="New",
               families=["Hardware"], definition="A",
               steps=[("erp", 1, "failed", "non-retryable PermanentConnectorError: 400 VAT")]),
    "P5": dict(created=at(19, 12), updated=at(19, 13), state="cancelled", region="DE",
               channel="New", definition="A", steps=[("erp", 0, "cancelled", None)]),
    "P6": dict(created=at(20, 8), state="on_hold", region="FR", channel="Renewal",
               definition="B",
               steps=[("warehouse", 5, "failed", "gave up after 5 attempts: refused")]),
    "Q1": dict(created=at(10), completed=at(10, 0, 30), state="completed", due=at(11),
               region="FR", channel="New", families=["Hardware"], definition="A",
               steps=[("erp", 1, "completed", None)]),
    "Q2": dict(created=at(12), completed=at(14, 1), state="completed", due=at(13),
               region="FR", channel="New", definition="A", steps=[("erp", 2, "completed", None)]),
    "Q3": dict(created=at(1), state="in_progress", region="FR", channel="New", definition="A",
               steps=[("erp", 0, "pending", None)]),
}  # fmt: skip


async def seed(db: Database) -> None:
    async with db.write() as s:
        for n, (name, p) in enumerate(PLANS.items()):
            order_id = f"801{n:015d}"
            snap = OrderSnapshot(order_id=order_id, record={"Id": order_id})
            s.add(snap)
            await s.flush()
            plan = Plan(
                order_id=order_id,
                definition=p["definition"],
                correlation_id=f"rf-{name}",
                state=p["state"],
                snapshot_id=snap.id,
                created_at=p["created"],
                updated_at=p.get("updated") or p.get("completed") or p["created"],
                completed_at=p.get("completed"),
                due_at=p.get("due"),
                region=p["region"],
                channel=p["channel"],
                account_id=p.get("account"),
            )
            s.add(plan)
            await s.flush()
            for family in p.get("families", []):
                s.add(PlanProductFamily(plan_id=plan.id, family=family))
            for i, (connector, attempts, state, error) in enumerate(p["steps"]):
                s.add(
                    Step(
                        plan_id=plan.id,
                        key=f"s{i}",
                        position=i,
                        kind="call",
                        connector=connector,
                        action="create",
                        state=state,
                        attempts=attempts,
                        error=error,
                        idempotency_key=f"{order_id}-s{i}",
                    )
                )
            if p.get("operator"):
                audit.record(s, "user:olga", "operator.retry", plan_id=plan.id)
        s.add(SalesforceApiUsage(hour=at(15, 10), calls=40))
        s.add(SalesforceApiUsage(hour=at(16, 10), calls=60))
        s.add(SalesforceApiUsage(hour=at(10, 10), calls=50))
        s.add(WebhookEndpoint(connector="acct", url="http://x", consecutive_failures=2))
        s.add(WebhookEndpoint(connector="crm", url="http://y", state="disabled"))

"""ERP teams answer in their own shapes: where the ERP number sits is configured per
connector or per plan step, end to end (sandbox org -> Revflow -> sandbox ERP over
loopback -> the number on the Order); an answer without one is said, not ignored."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from revflow.db.database import Database
from revflow.db.models import AuditEntry
from revflow.demo import DemoEnvironment

pytestmark = pytest.mark.e2e

PLANS = Path(__file__).resolve().parents[2] / "plans"
ERP_NUMBER = "ERP_Order_Number__c"


async def run(env: DemoEnvironment, shape: str, n: int = 4) -> list[str]:
    env.erp.set_faults(answer_shape=shape)
    ids = await env.create_orders(n)
    await env.activate(ids)
    assert await env.wait_until_done(ids, timeout_s=60, final=("Completed",))
    return ids


def numbers(env: DemoEnvironment, ids: list[str]) -> list[str | None]:
    return [env.org.records["Order"][oid].get(ERP_NUMBER) for oid in ids]


async def missing_ids(database_url: str) -> list[AuditEntry]:
    db = Database(database_url)
    async with db.read() as s:
        q = select(AuditEntry).where(AuditEntry.action == "step.external_id_missing")
        rows = list((await s.scalars(q)).all())
    await db.dispose()
    return rows


async def test_connector_expression_finds_a_nested_number(database_url: str) -> None:
    overrides = {"erp": {"external_id": "result.documentNo"}}
    async with DemoEnvironment(
        database_url=database_url, seed=8, settings_overrides=overrides
    ) as env:
        ids = await run(env, "nested")
        assert all(n and n.startswith("SO-") for n in numbers(env, ids)), numbers(env, ids)
        assert env.erp.stats()["duplicate_documents"] == []
    assert await missing_ids(database_url) == []


async def test_plan_step_expression_overrides_the_connector(
    database_url: str, tmp_path: Path
) -> None:
    text = (PLANS / "order_fulfillment.yaml").read_text()
    marker = "        writes_erp_number: true\n"
    assert marker in text
    plan = tmp_path / "plan.yaml"
    plan.write_text(text.replace(marker, marker + "        external_id: erp_order_number\n"))
    overrides = {"plan_file": str(plan), "erp": {"external_id": "result.documentNo"}}
    async with DemoEnvironment(
        database_url=database_url, seed=9, settings_overrides=overrides
    ) as env:
        ids = await run(env, "erp_order_number")
        assert all(n and n.startswith("SO-") for n in numbers(env, ids)), numbers(env, ids)
    assert await missing_ids(database_url) == []


async def test_an_answer_without_the_number_is_audited_on_the_step(database_url: str) -> None:
    async with DemoEnvironment(database_url=database_url, seed=10) as env:
        ids = await run(env, "nested")  # the default expression: id || erp_number
        assert numbers(env, ids) == [None] * len(ids)
    entries = await missing_ids(database_url)
    assert sorted(e.order_id or "" for e in entries) == sorted(ids)
    for entry in entries:
        assert entry.detail["step"] == "create_sales_order"
        assert entry.detail["expression"] == "the connector's"
        assert entry.detail["status_code"] == 201
        assert '"documentNo": "SO-' in entry.detail["answer"]

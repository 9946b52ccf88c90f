"""Orgs that are not the sandbox org, end to end over loopback: a field the org lacks
stops start-up with one message, opens an incident when it disappears while Revflow
runs (readiness 503, slow retries, resolved when it is back), and keeps the old
mappings when a reload reads it."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest

from revflow.connectors.signing import generate_secret
from revflow.demo import DemoEnvironment
from revflow.salesforce.org_check import OrgCheckError
from revflow.sandbox.org import ConnectedApp, SandboxOrg
from revflow.service import Revflow
from tests.orgkit import incidents, settings_for

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
SALES_ORDER = ROOT / "mappings" / "order_to_sales_order.yaml"
SECRET = generate_secret()
ERP_URL = "http://127.0.0.1:9/webhooks/erp"  # never reached
ERP = {"url": ERP_URL, "secrets": [SECRET]}


async def until(predicate: Callable[[], Awaitable[bool]], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not await predicate():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.1)


def line_of(path: Path, text: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line)


async def test_start_refused_naming_the_mapping_file_and_line(org: SandboxOrg, database_url):
    org.missing_fields = {"Order.PoNumber"}
    service = Revflow(settings_for(org, database_url, erp=ERP), serve_api=False)
    with pytest.raises(OrgCheckError) as caught:
        await service.start()
    await service.stop()
    report = str(caught.value)
    # Revflow's own query, and two places in each of the two mappings the plan uses
    assert report.startswith("the Salesforce org lacks 5 thing(s) Revflow needs:")
    assert f"mappings/{SALES_ORDER.name}:{line_of(SALES_ORDER, 'po_number: PoNumber')}:" in report
    assert "Order has no field 'PoNumber' (in 'PoNumber')" in report


async def test_revflow_run_exits_with_one_message(org: SandboxOrg, tmp_path: Path):
    """`revflow run` against an org lacking a field: exit 2, the report, no traceback."""
    org.add_app(ConnectedApp(name="revflow", consumer_key="ck", consumer_secret="s3cret"))
    org.missing_fields = {"Account.AccountNumber"}
    env: dict[str, str] = {
        **os.environ,
        "REVFLOW_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/run.sqlite",
        "REVFLOW_SALESFORCE__INSTANCE_URL": org.instance_url,
        "REVFLOW_SALESFORCE__AUTH": "client_credentials",
        "REVFLOW_SALESFORCE__CLIENT_ID": "ck",
        "REVFLOW_SALESFORCE__CLIENT_SECRET": "s3cret",
        "REVFLOW_ERP__URL": ERP_URL,
        "REVFLOW_ERP__SECRETS": json.dumps([SECRET]),
        "REVFLOW_API_PORT": "0",
    }
    env.pop("REVFLOW_TEST_DATABASE_URL", None)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "revflow", "run",
        cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, stderr = await asyncio.wait_for(proc.communicate(), timeout=60)
    text = stderr.decode()
    assert proc.returncode == 2, text
    assert "error: the Salesforce org lacks" in text
    assert "Account has no field 'AccountNumber' (in 'Account.AccountNumber')" in text
    assert f"{SALES_ORDER.name}:{line_of(SALES_ORDER, 'Account.AccountNumber')}:" in text
    assert "Traceback" not in text


async def test_a_field_removed_while_running_is_an_incident_until_it_is_back(database_url):
    overrides = {"salesforce": {"incident_retry_s": 1.0}}
    async with DemoEnvironment(
        database_url=database_url, seed=11, serve_api=True, settings_overrides=overrides
    ) as env:
        assert env.revflow is not None
        server = env.revflow._server  # type: ignore[union-attr]
        ids = await env.create_orders(5)
        env.org.missing_fields = {"Order.PoNumber"}  # an admin removes access to the field
        await env.activate(ids)
        port = server.servers[0].sockets[0].getsockname()[1]  # type: ignore[union-attr]
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", headers=env.api_headers
        ) as api:

            async def not_ready() -> bool:
                return (await api.get("/readyz")).status_code == 503

            await until(not_ready)
            detail = (await api.get("/readyz")).json()["detail"]
            assert detail.startswith("incident open: salesforce:intake:order_read")
            assert "INVALID_FIELD" in detail and "'PoNumber'" in detail
            metrics = (await api.get("/metrics")).text
            assert 'revflow_incidents_opened_total{kind="salesforce_permanent"}' in metrics
            assert (await api.get("/healthz")).status_code == 200  # alive, not ready
            assert all(env.order_status(i) is None for i in ids)

            env.org.missing_fields.clear()  # access granted again: no restart needed
            assert await env.wait_until_done(ids, timeout_s=60, final=("Completed",))
            assert (await api.get("/readyz")).status_code == 200
        [incident] = await incidents(env.revflow.db, "salesforce_permanent")
        assert incident.resolved_at is not None and incident.count >= 1


async def test_a_reload_reading_a_missing_field_keeps_the_old_mappings(database_url, tmp_path):
    folder = tmp_path / "mappings"
    shutil.copytree(ROOT / "mappings", folder)
    edited = folder / SALES_ORDER.name
    async with DemoEnvironment(
        database_url=database_url, seed=12, settings_overrides={"mappings_dir": str(folder)}
    ) as env:
        assert env.revflow is not None
        store = env.revflow.mapping_store
        before = store.versions()["order_to_sales_order"]
        edited.write_text(edited.read_text().replace("po_number: PoNumber", "po_number: PO__c"))

        async def refused() -> bool:
            return bool(await incidents(env.revflow.db, "org_check"))  # type: ignore[union-attr]

        await until(refused)
        [incident] = await incidents(env.revflow.db, "org_check")
        assert not incident.blocking and incident.open_key == "org_check:mappings_reload"
        line = line_of(edited, "po_number: PO__c")
        assert any(f"{edited}:{line}:" in p for p in incident.detail["problems"])
        assert store.versions()["order_to_sales_order"] == before  # the old one stays
        ids = await env.create_orders(3)
        await env.activate(ids)
        assert await env.wait_until_done(ids, timeout_s=60, final=("Completed",))

        edited.write_text(edited.read_text().replace("po_number: PO__c", "order_ref: PoNumber"))

        async def resolved() -> bool:
            return store.versions()["order_to_sales_order"] != before

        await until(resolved)
        [incident] = await incidents(env.revflow.db, "org_check")
        assert incident.resolved_at is not None

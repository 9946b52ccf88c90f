"""`revflow salesforce setup|doctor` against the sandbox org served over HTTPS.

simple-salesforce builds https:// URLs, so the org runs TLS with a throw-away CA
(app/sandbox/tls.py) that requests (REQUESTS_CA_BUNDLE) and httpx (SSL_CERT_FILE)
trust, as a private CA would be trusted in production.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from revflow.cli import cli
from revflow.config import Settings
from revflow.salesforce.admin import OrgAdmin
from revflow.salesforce.doctor import Check, Verdict, run_doctor
from revflow.salesforce.fields import used_fields
from revflow.salesforce.org_setup import run_setup
from revflow.salesforce.package import load_package, package_dir
from revflow.sandbox.org import ConnectedApp, SandboxOrg
from revflow.sandbox.records import RecordStore
from revflow.sandbox.server import RunningServer, start_org
from revflow.sandbox.tls import SandboxTls, make_tls

CHANNELS = [
    "/data/OrderChangeEvent",
    "/data/OrderItemChangeEvent",
    "/event/Order_Status__e",
    "/event/Fulfillment_Callback__e",
]


@pytest.fixture
def tls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SandboxTls:
    found = make_tls(tmp_path / "tls")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(found.ca_file))
    monkeypatch.setenv("SSL_CERT_FILE", str(found.ca_file))
    return found


async def _serve(org: SandboxOrg, tls: SandboxTls) -> RunningServer:
    org.add_app(ConnectedApp(name="revflow", consumer_key="ck", consumer_secret="s3cret"))
    return await start_org(org, tls=tls)


def _settings(org: SandboxOrg, **extra: Any) -> Settings:
    salesforce = {
        "instance_url": org.instance_url,
        "auth": "client_credentials",
        "client_id": "ck",
        "client_secret": "s3cret",
        **extra.pop("salesforce", {}),
    }
    return Settings.model_validate(
        {"salesforce": salesforce, "ingest": {"channels": CHANNELS}, **extra}
    )


@pytest.fixture
async def bare(tls: SandboxTls) -> AsyncIterator[SandboxOrg]:
    org = SandboxOrg(set_up=False)
    server = await _serve(org, tls)
    yield org
    await server.close()


@pytest.fixture
async def ready(tls: SandboxTls) -> AsyncIterator[SandboxOrg]:
    org = SandboxOrg()
    server = await _serve(org, tls)
    yield org
    await server.close()


async def _doctor(org: SandboxOrg, **extra: Any) -> list[Check]:
    settings = _settings(org, **extra)
    admin = await OrgAdmin.connect(settings.salesforce)
    return await run_doctor(admin, settings, used_fields(settings))


def _failures(checks: list[Check]) -> dict[str, Check]:
    return {c.what: c for c in checks if c.verdict is Verdict.FAIL}


async def test_setup_turns_a_bare_org_green(bare: SandboxOrg) -> None:
    before = _failures(await _doctor(bare))
    assert "channel /data/OrderChangeEvent" in before
    assert "field Order.Fulfillment_Status__c" in before
    assert "permission set Revflow_Integration" in before
    assert "revflow salesforce setup" in before["field Order.Fulfillment_Status__c"].fix

    settings = _settings(bare)
    lines: list[str] = []
    admin = await OrgAdmin.connect(settings.salesforce)
    assert await run_setup(admin, settings, load_package(package_dir()), lines.append, poll_s=0)
    assert [line.split(":")[0] for line in lines] == [
        "ok    validate package (check-only) " + lines[0].split(" ")[-4].rstrip(":"),
        "ok    deploy package " + lines[1].split(" ")[-4].rstrip(":"),
        "ok    change data capture",
        "ok    change data capture",
        "ok    permission set Revflow_Integration assigned to 0055e000001RvFlAAK",
    ]
    after = await _doctor(bare, console={"public_url": "https://revflow.example.com"})
    assert _failures(after) == {}
    assert all(c.verdict is Verdict.OK for c in after), [c.line() for c in after]
    # a second run changes nothing and says so
    again: list[str] = []
    assert await run_setup(admin, settings, load_package(package_dir()), again.append, poll_s=0)
    assert "ok    change data capture: Order already selected" in again
    assert again[-1].endswith("already assigned to 0055e000001RvFlAAK")


async def test_doctor_names_the_fix_when_a_field_or_permission_is_removed(
    ready: SandboxOrg,
) -> None:
    assert _failures(await _doctor(ready)) == {}
    ready.missing_fields.add("Order.ERP_Order_Number__c")
    ready.readonly_fields.add("Order.Fulfillment_Status__c")
    store = RecordStore(ready)
    (assignment,) = store.live("PermissionSetAssignment")
    store.delete("PermissionSetAssignment", assignment["Id"])
    (member,) = [
        r
        for r in store.live("PlatformEventChannelMember")
        if r["SelectedEntity"] == "OrderChangeEvent"
    ]
    store.delete("PlatformEventChannelMember", member["Id"])

    failed = _failures(await _doctor(ready))
    assert set(failed) == {
        "field Order.ERP_Order_Number__c",
        "field Order.Fulfillment_Status__c",
        "permission set Revflow_Integration",
        "channel /data/OrderChangeEvent",
    }
    missing = failed["field Order.ERP_Order_Number__c"]
    assert "REVFLOW_WRITEBACK__ERP_NUMBER_FIELD" in missing.detail
    assert "grant Read on Order.ERP_Order_Number__c" in missing.fix
    assert failed["field Order.Fulfillment_Status__c"].fix.startswith(
        "grant Edit on Order.Fulfillment_Status__c in permission set Revflow_Integration"
    )
    assert (
        "not assigned to the integration user"
        in failed["permission set Revflow_Integration"].detail
    )
    assert "select Order" in failed["channel /data/OrderChangeEvent"].fix


async def test_doctor_checks_types_version_allocation_and_plan_links(ready: SandboxOrg) -> None:
    old_version = _failures(await _doctor(ready, salesforce={"api_version": "57.0"}))
    assert "newest 64.0" in old_version["API version"].fix
    assert "fields of Order" in old_version  # describe is not served at 57.0 either
    checks = await _doctor(
        ready, writeback={"erp_number_field": "PoNumber", "status_field": "EffectiveDate"}
    )
    failed = _failures(checks)
    assert "API version" not in failed
    assert "is of type date" in failed["field Order.EffectiveDate"].detail
    assert "field Order.PoNumber" not in failed  # a text field takes an ERP number
    links = next(c for c in checks if c.what == "plan links")
    assert links.verdict is Verdict.WARN and "REVFLOW_CONSOLE__PUBLIC_URL" in links.fix
    ready.usage.used = ready.usage.daily_limit
    exhausted = _failures(await _doctor(ready))
    assert "0 of 100,000 left" in exhausted["daily API requests"].detail


async def test_a_failed_validation_shows_each_component_and_deploys_nothing(
    bare: SandboxOrg, tmp_path: Path
) -> None:
    copy = tmp_path / "salesforce"
    shutil.copytree(package_dir(), copy)
    field = copy / "force-app/main/default/objects/Order/fields/Revflow_Plan_URL__c.field-meta.xml"
    field.write_text(field.read_text().replace("<type>Url</type>", "<type>Link</type>"))
    settings = _settings(bare)
    lines: list[str] = []
    admin = await OrgAdmin.connect(settings.salesforce)
    assert not await run_setup(admin, settings, load_package(copy), lines.append, poll_s=0)
    assert lines[0].startswith("FAIL  validate package (check-only)")
    assert lines[1].strip().startswith("objects/Order.object:")
    assert lines[1].endswith("CustomField Order.Revflow_Plan_URL__c: Invalid field type: Link")
    assert lines[2].endswith("no CustomField named Order.Revflow_Plan_URL__c found")
    assert len(lines) == 3  # no deploy, no CDC, no assignment after a failed validation
    assert bare.lacks("Order", "Fulfillment_Status__c")


def _env(org: SandboxOrg, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in {
        "REVFLOW_SALESFORCE__INSTANCE_URL": org.instance_url,
        "REVFLOW_SALESFORCE__AUTH": "client_credentials",
        "REVFLOW_SALESFORCE__CLIENT_ID": "ck",
        "REVFLOW_SALESFORCE__CLIENT_SECRET": "s3cret",
        "REVFLOW_INGEST__CHANNELS": '["/data/OrderChangeEvent"]',
    }.items():
        monkeypatch.setenv(key, value)


async def test_the_commands_exit_1_until_setup_ran(
    bare: SandboxOrg, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    _env(bare, monkeypatch)
    runner = CliRunner()

    def invoke(*args: str) -> Any:
        return runner.invoke(cli, ["salesforce", *args])

    doctor = await asyncio.to_thread(invoke, "doctor")
    assert doctor.exit_code == 1
    assert doctor.output.startswith("ok    login: client_credentials as 0055e000001RvFlAAK")
    assert "FAIL  channel /data/OrderChangeEvent" in doctor.output
    setup = await asyncio.to_thread(invoke, "setup")
    assert setup.exit_code == 0, setup.output
    assert "the org is set up" in setup.output
    green = await asyncio.to_thread(invoke, "doctor")
    assert green.exit_code == 0, green.output
    assert "FAIL" not in green.output


async def test_a_refused_login_is_one_line_with_the_fix(
    ready: SandboxOrg, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    _env(ready, monkeypatch)
    monkeypatch.setenv("REVFLOW_SALESFORCE__CLIENT_SECRET", "wrong")
    result = await asyncio.to_thread(CliRunner().invoke, cli, ["salesforce", "doctor"])
    assert result.exit_code == 1
    (line,) = result.output.strip().splitlines()
    assert line.startswith("FAIL  login:") and "invalid client credentials" in line
    assert "REVFLOW_SALESFORCE__CLIENT_ID" in line


def test_missing_org_settings_exit_2() -> None:
    result = CliRunner().invoke(cli, ["salesforce", "doctor"])
    assert result.exit_code == 2
    assert "missing setting REVFLOW_SALESFORCE__INSTANCE_URL" in result.output

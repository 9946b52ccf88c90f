"""The sandbox org's Metadata API (deploy, checkDeployStatus) over loopback SOAP."""

from __future__ import annotations

import base64
import io
import zipfile

import httpx

from revflow.salesforce.auth import TokenProvider
from revflow.salesforce.deploy_status import DeployResult, parse_deploy_result
from revflow.salesforce.package import load_package, package_dir
from revflow.sandbox.org import INTEGRATION_USER_ID, SandboxOrg
from revflow.sandbox.records import RecordStore
from tests.orgkit import settings_for

MD = "http://soap.sforce.com/2006/04/metadata"


def _envelope(session_id: str, body: str) -> str:
    return (
        f'<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/" xmlns:m="{MD}">'
        f"<e:Header><m:SessionHeader><m:sessionId>{session_id}</m:sessionId></m:SessionHeader>"
        f"</e:Header><e:Body>{body}</e:Body></e:Envelope>"
    )


class Metadata:
    def __init__(self, org: SandboxOrg, token: str) -> None:
        self.url = f"{org.instance_url}/services/Soap/m/62.0"
        self.token = token
        self.http = httpx.AsyncClient()

    async def call(self, body: str, token: str | None = None) -> httpx.Response:
        return await self.http.post(self.url, content=_envelope(token or self.token, body))

    async def deploy(self, zipped: bytes, check_only: bool, rollback: str = "true") -> str:
        options = (
            f"<m:checkOnly>{str(check_only)}</m:checkOnly>"  # True/False, as simple-salesforce
        )
        options += f"<m:rollbackOnError>{rollback}</m:rollbackOnError>"
        zip64 = base64.b64encode(zipped).decode()
        answer = await self.call(
            f"<m:deploy><m:ZipFile>{zip64}</m:ZipFile><m:DeployOptions>{options}"
            "</m:DeployOptions></m:deploy>"
        )
        assert answer.status_code == 200, answer.text
        assert "<state>Queued</state>" in answer.text and "<done>false</done>" in answer.text
        return answer.text.split("<id>")[1].split("</id>")[0]

    async def status(self, deploy_id: str) -> DeployResult:
        body = f"<m:checkDeployStatus><m:asyncProcessId>{deploy_id}</m:asyncProcessId>"
        answer = await self.call(
            body + "<m:includeDetails>true</m:includeDetails></m:checkDeployStatus>"
        )
        return parse_deploy_result(answer.content)

    async def finished(self, deploy_id: str) -> DeployResult:
        first = await self.status(deploy_id)
        assert not first.done and first.status == "InProgress"  # clients must poll
        return await self.status(deploy_id)


async def _metadata(org: SandboxOrg) -> Metadata:
    token = await TokenProvider(settings_for(org, "sqlite://").salesforce).token()
    return Metadata(org, token.access_token)


def _package_zip(replace: dict[str, str] | None = None) -> bytes:
    """The shipped package's deploy zip with some files' text replaced."""
    original = load_package(package_dir()).deploy_zip()
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(original)) as src, zipfile.ZipFile(out, "w") as dst:
        for name in src.namelist():
            text = src.read(name).decode()
            for old, new in (replace or {}).items():
                text = text.replace(old, new)
            dst.writestr(name, text)
    return out.getvalue()


async def test_check_only_validates_and_changes_nothing_then_the_deploy_applies() -> None:
    from revflow.sandbox.server import start_org

    org = SandboxOrg(set_up=False)
    server = await start_org(org)
    md = await _metadata(org)
    store = RecordStore(org)
    try:
        assert org.lacks("Order", "Revflow_Plan_URL__c")
        checked = await md.finished(await md.deploy(_package_zip(), check_only=True))
        assert checked.success and checked.check_only and checked.status == "Succeeded"
        assert checked.components_deployed == checked.components_total > 10
        assert org.lacks("Order", "Revflow_Plan_URL__c") and not store.live("PermissionSet")
        assert not store.live("CustomNotificationType")

        done = await md.finished(await md.deploy(_package_zip(), check_only=False))
        assert done.success and not done.check_only
        assert not org.missing_fields  # every field of the package exists now
        (permission_set,) = store.live("PermissionSet")
        assert permission_set["Name"] == "Revflow_Integration"
        grants = {r["Field"]: r for r in store.live("FieldPermissions")}
        assert grants["Order.Revflow_Plan_URL__c"]["PermissionsEdit"] is True
        assert grants["OrderItem.Tax_Rate__c"]["PermissionsEdit"] is False
        objects = {r["SobjectType"]: r for r in store.live("ObjectPermissions")}
        assert objects["Order_Status__e"]["PermissionsCreate"] is True
        (alert_type,) = store.live("CustomNotificationType")  # what the alerts notify with
        assert (alert_type["DeveloperName"], alert_type["MasterLabel"]) == (
            "Revflow_Alert",
            "Revflow Alert",
        )
        assert alert_type["Desktop"] is True and alert_type["Mobile"] is True

        again = await md.finished(await md.deploy(_package_zip(), check_only=False))
        assert again.success and len(store.live("PermissionSet")) == 1  # an upsert
        assert len(store.live("CustomNotificationType")) == 1
    finally:
        await md.http.aclose()
        await server.close()


async def test_component_failures_name_file_line_and_problem(org: SandboxOrg) -> None:
    md = await _metadata(org)
    broken = _package_zip({"<type>Url</type>": "<type>Hyperlink</type>"})
    result = await md.finished(await md.deploy(broken, check_only=False))
    assert not result.success and result.status == "Failed"
    (problem,) = result.problems
    assert problem.full_name == "Order.Revflow_Plan_URL__c"
    assert problem.file_name == "objects/Order.object"
    assert problem.component_type == "CustomField"
    assert problem.problem == "Invalid field type: Hyperlink"
    assert problem.line is not None and problem.line > 1
    await md.http.aclose()


async def test_rollback_on_error_keeps_the_org_unchanged_without_it_it_deploys_the_rest() -> None:
    from revflow.sandbox.server import start_org

    org = SandboxOrg(set_up=False)
    server = await start_org(org)
    md = await _metadata(org)
    broken = _package_zip({"<type>Url</type>": "<type>Hyperlink</type>"})
    try:
        rolled_back = await md.finished(await md.deploy(broken, check_only=False))
        assert rolled_back.status == "Failed" and org.lacks("Order", "ERP_Order_Number__c")
        partial = await md.finished(await md.deploy(broken, check_only=False, rollback="False"))
        assert partial.status == "SucceededPartial"
        assert not org.lacks("Order", "ERP_Order_Number__c")
        assert org.lacks("Order", "Revflow_Plan_URL__c")
    finally:
        await md.http.aclose()
        await server.close()


async def test_the_sandbox_cannot_invent_fields_and_permission_sets_need_real_fields(
    org: SandboxOrg,
) -> None:
    md = await _metadata(org)
    renamed = _package_zip({"Revflow_Plan_URL__c": "Revflow_Plan_Link__c"})
    result = await md.finished(await md.deploy(renamed, check_only=True))
    problems = {p.full_name: p.problem for p in result.problems}
    assert "cannot add new fields" in problems["Order.Revflow_Plan_Link__c"]
    assert problems["Revflow_Integration"] == (
        "In field: field - no CustomField named Order.Revflow_Plan_Link__c found"
    )
    await md.http.aclose()


async def test_a_zip_without_package_xml_fails_the_whole_deploy(org: SandboxOrg) -> None:
    md = await _metadata(org)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("objects/Order.object", "<CustomObject/>")
    result = await md.finished(await md.deploy(out.getvalue(), check_only=True))
    assert result.status == "Failed" and result.error_message == "No package.xml found"
    await md.http.aclose()


async def test_faults_for_a_bad_session_an_unknown_deploy_and_other_calls(org: SandboxOrg) -> None:
    md = await _metadata(org)
    bad = await md.call("<m:checkDeployStatus/>", token="nope")
    assert bad.status_code == 500 and "sf:INVALID_SESSION_ID" in bad.text
    unknown = await md.call(
        "<m:checkDeployStatus><m:asyncProcessId>0Af000000000000AAA</m:asyncProcessId>"
        "</m:checkDeployStatus>"
    )
    assert "sf:INVALID_CROSS_REFERENCE_KEY" in unknown.text
    other = await md.call("<m:listMetadata/>")
    assert "sf:INVALID_OPERATION" in other.text
    assert org.usage.by_app["revflow"] == 2  # the signed-in calls count
    await md.http.aclose()


def test_a_set_up_org_has_the_permission_set_assigned_and_cdc_selected() -> None:
    org = SandboxOrg()
    store = RecordStore(org)
    (assignment,) = store.live("PermissionSetAssignment")
    assert assignment["AssigneeId"] == INTEGRATION_USER_ID
    assert all(org.cdc_enabled(e) for e in ("Order", "OrderItem", "Quote", "QuoteLineItem"))
    bare = SandboxOrg(set_up=False)
    assert not bare.cdc_enabled("Order") and bare.lacks("Order", "Fulfillment_Status__c")
    assert not RecordStore(bare).live("PermissionSet")

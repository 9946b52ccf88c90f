"""Error paths of the simple-salesforce layer, setup and doctor, with ``responses``
answering as Salesforce documents (REST error bodies, SOAP faults, DeployResult)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import requests
import responses

from revflow.config import Settings
from revflow.salesforce.admin import AdminError, OrgAdmin
from revflow.salesforce.auth import Token
from revflow.salesforce.doctor import Verdict, run_doctor
from revflow.salesforce.org_setup import enable_cdc, run_setup
from revflow.salesforce.package import load_package, package_dir

HOST = "https://acme.my.salesforce.com"
REST = f"{HOST}/services/data/v62.0"
SOAP = f"{HOST}/services/Soap/m/62.0/deployRequest"
USER = "005000000000001AAA"
MD = "http://soap.sforce.com/2006/04/metadata"
ENV = "http://schemas.xmlsoap.org/soap/envelope/"


@pytest.fixture
def api() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def admin() -> OrgAdmin:
    token = Token("00D!token", HOST, f"https://login.salesforce.com/id/00D000000000001/{USER}", {})
    return OrgAdmin.from_token(token, "62.0")


def _rest_error(code: str, message: str) -> str:
    return json.dumps([{"errorCode": code, "message": message}])


def _soap(body: str) -> str:
    head = f'<soapenv:Envelope xmlns:soapenv="{ENV}" xmlns="{MD}">'
    return f"{head}<soapenv:Body>{body}</soapenv:Body></soapenv:Envelope>"


FAILED_DEPLOY = _soap(
    "<checkDeployStatusResponse><result><checkOnly>true</checkOnly><details>"
    "<componentFailures><changed>false</changed><columnNumber>13</columnNumber>"
    "<componentType>CustomField</componentType><created>false</created>"
    "<deleted>false</deleted><fileName>objects/Order.object</fileName>"
    "<fullName>Order.Revflow_Plan_URL__c</fullName><lineNumber>42</lineNumber>"
    "<problem>Field Order.Revflow_Plan_URL__c: Cannot change type due to existing data</problem>"
    "<problemType>Error</problemType><success>false</success></componentFailures>"
    "<runTestResult><numFailures>0</numFailures><numTestsRun>0</numTestsRun></runTestResult>"
    "</details><done>true</done><id>0Af000000000001</id><numberComponentErrors>1"
    "</numberComponentErrors><numberComponentsDeployed>18</numberComponentsDeployed>"
    "<numberComponentsTotal>19</numberComponentsTotal><rollbackOnError>true</rollbackOnError>"
    "<status>Failed</status><success>false</success></result></checkDeployStatusResponse>"
)


async def test_a_failed_validation_prints_each_component_with_file_line_and_column(
    api: responses.RequestsMock, admin: OrgAdmin
) -> None:
    api.post(
        SOAP,
        body=_soap(
            "<deployResponse><result><done>false</done><id>0Af000000000001"
            "</id><state>Queued</state></result></deployResponse>"
        ),
    )
    api.post(f"{SOAP}/0Af000000000001", body=FAILED_DEPLOY)
    lines: list[str] = []
    ok = await run_setup(admin, Settings(), load_package(package_dir()), lines.append, poll_s=0)
    assert not ok
    assert lines == [
        "FAIL  validate package (check-only) 0Af000000000001: Failed",
        "      objects/Order.object:42:13: CustomField Order.Revflow_Plan_URL__c: "
        "Field Order.Revflow_Plan_URL__c: Cannot change type due to existing data",
    ]
    deploy = api.calls[0].request
    assert "<met:checkOnly>True</met:checkOnly>" in str(deploy.body)  # simple-salesforce's spelling
    assert deploy.headers["SOAPAction"] == "deploy"
    # the SOAP headers simple-salesforce wrote into the shared dict are undone for REST calls
    assert admin.sf.headers["Content-Type"] == "application/json"
    assert "SOAPAction" not in admin.sf.headers


async def test_a_soap_fault_on_deploy_status_is_an_admin_error(
    api: responses.RequestsMock, admin: OrgAdmin
) -> None:
    fault = _soap(
        "<soapenv:Fault><faultcode>sf:INVALID_SESSION_ID</faultcode>"
        "<faultstring>INVALID_SESSION_ID: Invalid Session ID found in SessionHeader</faultstring>"
        "</soapenv:Fault>"
    )
    api.post(f"{SOAP}/0Af000000000002", body=fault, status=500)
    with pytest.raises(AdminError) as caught:
        await admin.deploy_status("0Af000000000002")
    assert caught.value.code == "INVALID_SESSION_ID"
    api.post(f"{SOAP}/0Af000000000003", body="<html>maintenance</html>", status=503)
    with pytest.raises(AdminError) as caught:
        await admin.deploy_status("0Af000000000003")
    assert caught.value.code == "HTTP_503"


async def test_rest_errors_and_network_errors_keep_salesforces_code(
    api: responses.RequestsMock, admin: OrgAdmin
) -> None:
    api.get(f"{REST}/query/", body=_rest_error("INVALID_SESSION_ID", "Session expired"), status=401)
    with pytest.raises(AdminError) as caught:
        await admin.query("SELECT Id FROM PermissionSet")
    assert (caught.value.code, caught.value.status) == ("INVALID_SESSION_ID", 401)
    api.get(f"{REST}/limits/", body=requests.ConnectionError("connection refused"))
    with pytest.raises(AdminError) as caught:
        await admin.limits()
    assert caught.value.code == "NETWORK_ERROR" and "connection refused" in caught.value.message


async def test_a_refused_cdc_selection_is_a_fail_line_and_the_others_go_on(
    api: responses.RequestsMock, admin: OrgAdmin
) -> None:
    api.get(f"{REST}/tooling/query/", json={"totalSize": 0, "done": True, "records": []})
    refused = _rest_error("LIMIT_EXCEEDED", "You can select up to 5 entities")
    api.post(f"{REST}/tooling/sobjects/PlatformEventChannelMember/", body=refused, status=400)
    lines: list[str] = []
    from revflow.salesforce.org_setup import SetupFailed

    with pytest.raises(SetupFailed):
        await enable_cdc(admin, ["Order", "OrderItem"], lines.append)
    assert lines == [
        "FAIL  change data capture: selecting Order refused: "
        "LIMIT_EXCEEDED: You can select up to 5 entities",
        "FAIL  change data capture: selecting OrderItem refused: "
        "LIMIT_EXCEEDED: You can select up to 5 entities",
    ]
    body = json.loads(str(api.calls[1].request.body))
    assert body == {
        "FullName": "ChangeEvents_OrderChangeEvent",
        "Metadata": {"eventChannel": "ChangeEvents", "selectedEntity": "OrderChangeEvent"},
    }


async def test_doctor_reports_a_refused_check_and_goes_on(
    api: responses.RequestsMock, admin: OrgAdmin
) -> None:
    api.get(f"{HOST}/services/data/", json=[{"version": "61.0"}, {"version": "62.0"}])
    no_access = _rest_error("INSUFFICIENT_ACCESS", "insufficient access rights on object id")
    api.get(f"{REST}/tooling/query/", body=no_access, status=403)
    api.get(f"{REST}/sobjects/Order/describe", body=_rest_error("NOT_FOUND", "x"), status=404)
    api.get(f"{REST}/query/", json={"totalSize": 0, "done": True, "records": []})
    api.get(f"{REST}/limits/", json={"DataStorageMB": {"Max": 5, "Remaining": 5}})
    checks = await run_doctor(admin, Settings(), [])
    lines = {c.what: c for c in checks}
    assert lines["API version"].verdict is Verdict.OK
    channels = lines["channels"]
    assert channels.verdict is Verdict.FAIL
    assert channels.detail == "INSUFFICIENT_ACCESS: insufficient access rights on object id"
    assert lines["permission set Revflow_Integration"].fix.startswith(
        "run `revflow salesforce setup`"
    )
    assert "no DailyApiRequests limit" in lines["daily API requests"].detail


async def test_doctor_refuses_an_integration_user_id_that_is_not_an_id(admin: OrgAdmin) -> None:
    settings = Settings.model_validate({"salesforce": {"integration_user_id": "005' OR Name != '"}})
    (check,) = await run_doctor(admin, settings, [])
    assert check.verdict is Verdict.FAIL and "is not a user id" in check.detail

"""The sandbox org's Metadata API over SOAP: ``deploy`` and ``checkDeployStatus``.

``POST /services/Soap/m/<version>`` (also with a path after it, as simple-salesforce
posts to ``…/deployRequest``) with the access token in ``SessionHeader/sessionId``.
``deploy`` answers an ``AsyncResult`` (id, state Queued, done false); the deploy runs
at once (``app/sandbox/deploy.py``), but the first ``checkDeployStatus`` still answers
InProgress, so clients poll as they must against a real org.  Booleans are read
case-insensitively (simple-salesforce writes ``True``/``False``).
"""

from __future__ import annotations

import base64
import binascii
from xml.etree import ElementTree
from xml.sax.saxutils import escape

from aiohttp import web

from revflow.sandbox.deploy import MD, Deployment, Message, run_deploy
from revflow.sandbox.ids import new_id
from revflow.sandbox.org import SandboxOrg
from revflow.sandbox.records import RecordStore, format_datetime

ENVELOPE_NS = "http://schemas.xmlsoap.org/soap/envelope/"
_HEAD = f'<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="{ENVELOPE_NS}"'


def _respond(body: str, status: int = 200) -> web.Response:
    return web.Response(status=status, body=body, content_type="text/xml", charset="utf-8")


def _fault(code: str, message: str) -> web.Response:
    return _respond(
        f'{_HEAD} xmlns:sf="{MD}"><soapenv:Body><soapenv:Fault>'
        f"<faultcode>sf:{code}</faultcode><faultstring>{code}: {escape(message)}</faultstring>"
        "</soapenv:Fault></soapenv:Body></soapenv:Envelope>",
        status=500,
    )


def _ok(operation: str, result: str) -> web.Response:
    return _respond(
        f'{_HEAD} xmlns="{MD}"><soapenv:Body><{operation}Response><result>{result}</result>'
        f"</{operation}Response></soapenv:Body></soapenv:Envelope>"
    )


def _xml(name: str, value: object) -> str:
    if value is None:
        return ""
    text = str(value).lower() if isinstance(value, bool) else str(value)
    return f"<{name}>{escape(text)}</{name}>"


def _flag(element: ElementTree.Element | None, name: str, default: bool = False) -> bool:
    found = element.findtext(f"{{{MD}}}{name}") if element is not None else None
    return default if found is None else found.strip().lower() == "true"


def _message(m: Message, created_date: str) -> str:
    """A ``DeployMessage`` in WSDL order."""
    return "".join(
        (
            _xml("changed", m.changed),
            _xml("columnNumber", m.column),
            _xml("componentType", m.component_type),
            _xml("created", m.created),
            _xml("createdDate", created_date),
            _xml("deleted", False),
            _xml("fileName", m.file_name),
            _xml("fullName", m.full_name),
            _xml("lineNumber", m.line),
            _xml("problem", m.problem),
            _xml("problemType", None if m.success else "Error"),
            _xml("success", m.success),
        )
    )


def deploy_result_xml(d: Deployment, now: str) -> str:
    """The ``DeployResult`` of ``d`` (InProgress without details until it is done)."""
    done = d.done and d.polls_left <= 0
    status = d.status if done else "InProgress"
    details = ""
    if done:
        details = "".join(
            f"<componentFailures>{_message(m, d.created)}</componentFailures>" for m in d.failures
        ) + "".join(
            f"<componentSuccesses>{_message(m, d.created)}</componentSuccesses>"
            for m in d.successes
        )
        details += "<runTestResult><numFailures>0</numFailures><numTestsRun>0</numTestsRun>"
        details += "<totalTime>0.0</totalTime></runTestResult>"
    total = len(d.messages)
    return "".join(
        (
            _xml("checkOnly", d.check_only),
            _xml("completedDate", now if done else None),
            _xml("createdBy", "0055e000001RvFlAAK"),
            _xml("createdDate", d.created),
            f"<details>{details}</details>",
            _xml("done", done),
            _xml("errorMessage", d.error_message if done else None),
            _xml("id", d.id),
            _xml("ignoreWarnings", False),
            _xml("numberComponentErrors", len(d.failures) if done else 0),
            _xml("numberComponentsDeployed", len(d.successes) if done else 0),
            _xml("numberComponentsTotal", total),
            _xml("numberTestErrors", 0),
            _xml("numberTestsCompleted", 0),
            _xml("numberTestsTotal", 0),
            _xml("rollbackOnError", d.rollback_on_error),
            _xml("runTestsEnabled", False),
            _xml("startDate", d.created),
            _xml("status", status),
            _xml("success", done and d.status == "Succeeded"),
        )
    )


def add_metadata_routes(app: web.Application, org: SandboxOrg) -> dict[str, Deployment]:
    """Register the Metadata API endpoint; returns the deployments by id (for tests)."""
    deployments: dict[str, Deployment] = {}
    store = RecordStore(org)

    async def metadata(request: web.Request) -> web.Response:
        if request.match_info["version"] not in org.api_versions:
            return _fault("UNSUPPORTED_API_VERSION", "Invalid Api version specified on URL")
        try:
            root = ElementTree.fromstring(await request.read())
        except ElementTree.ParseError as exc:
            return _fault("INVALID_XML", f"Unable to parse the request: {exc}")
        session = org.session_for(root.findtext(f".//{{{MD}}}sessionId"))
        if session is None:
            return _fault("INVALID_SESSION_ID", "Invalid Session ID found in SessionHeader")
        body = root.find(f"{{{ENVELOPE_NS}}}Body")
        call = body[0] if body is not None and len(body) else None
        operation = call.tag.split("}")[-1] if call is not None else ""
        org.usage.count(session.app)
        now = format_datetime(org.events.clock())
        if call is not None and operation == "deploy":
            try:
                zipped = base64.b64decode(call.findtext(f"{{{MD}}}ZipFile") or "", validate=True)
            except (binascii.Error, ValueError):
                return _fault("INVALID_ZIP", "The ZipFile is not base64")
            options = call.find(f"{{{MD}}}DeployOptions")
            deployment = Deployment(
                id=new_id("DeployRequest", "0Af"),
                check_only=_flag(options, "checkOnly"),
                rollback_on_error=_flag(options, "rollbackOnError", default=True),
                created=now,
            )
            run_deploy(org, store, deployment, zipped)
            deployments[deployment.id] = deployment
            result = _xml("done", False) + _xml("id", deployment.id) + _xml("state", "Queued")
            return _ok("deploy", result)
        if call is not None and operation == "checkDeployStatus":
            found = deployments.get((call.findtext(f"{{{MD}}}asyncProcessId") or "").strip())
            if found is None:
                return _fault("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
            result = deploy_result_xml(found, now)
            found.polls_left -= 1
            return _ok("checkDeployStatus", result)
        return _fault("INVALID_OPERATION", f"The sandbox does not implement '{operation}'")

    app.router.add_post("/services/Soap/m/{version}", metadata)
    app.router.add_post("/services/Soap/m/{version}/{tail:.*}", metadata)
    return deployments

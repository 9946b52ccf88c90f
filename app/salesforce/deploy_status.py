"""``checkDeployStatus`` of the Metadata API, parsed in full.

simple-salesforce's ``checkDeployStatus`` keeps each failure's type, file and problem
but drops ``fullName``, ``lineNumber`` and ``columnNumber``; an admin needs those to
find the broken component, so Revflow posts the call itself on simple-salesforce's
session (``POST <instance>/services/Soap/m/<version>/deployRequest/<id>``, the access
token in ``SessionHeader``) and reads the ``DeployResult`` (API 29+).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from xml.etree import ElementTree
from xml.sax.saxutils import escape

import requests

ENVELOPE_NS = "http://schemas.xmlsoap.org/soap/envelope/"
MD = "http://soap.sforce.com/2006/04/metadata"


@dataclass(frozen=True)
class ComponentProblem:
    """One ``DeployMessage`` with ``success`` false."""

    component_type: str
    full_name: str
    file_name: str
    problem: str
    problem_type: str = "Error"
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        where = self.file_name
        if self.line is not None:
            where += f":{self.line}" + (f":{self.column}" if self.column is not None else "")
        return f"{where}: {self.component_type} {self.full_name}: {self.problem}"


@dataclass(frozen=True)
class DeployResult:
    id: str
    done: bool
    status: (
        str  # Pending | InProgress | Succeeded | SucceededPartial | Failed | Canceling | Canceled
    )
    success: bool
    check_only: bool
    components_total: int = 0
    components_deployed: int = 0
    error_message: str | None = None
    problems: list[ComponentProblem] = field(default_factory=list)


def _envelope(session_id: str, deploy_id: str) -> str:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><env:Envelope xmlns:env="{ENVELOPE_NS}" '
        f'xmlns:met="{MD}"><env:Header><met:SessionHeader><met:sessionId>{escape(session_id)}'
        "</met:sessionId></met:SessionHeader></env:Header><env:Body><met:checkDeployStatus>"
        f"<met:asyncProcessId>{escape(deploy_id)}</met:asyncProcessId>"
        "<met:includeDetails>true</met:includeDetails></met:checkDeployStatus></env:Body>"
        "</env:Envelope>"
    )


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def parse_deploy_result(body: bytes) -> DeployResult:
    """The ``DeployResult`` of a checkDeployStatus answer; a SOAP fault raises
    ``DeployStatusError`` with its code."""
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError as exc:
        raise DeployStatusError("UNKNOWN", f"checkDeployStatus answered no XML: {exc}") from exc
    fault = root.find(f".//{{{ENVELOPE_NS}}}Fault")
    if fault is not None:
        texts = {child.tag.split("}")[-1]: (child.text or "") for child in fault}
        code = (texts.get("faultcode") or "UNKNOWN").split(":")[-1]  # "sf:INVALID_SESSION_ID"
        raise DeployStatusError(code, texts.get("faultstring", ""))
    result = root.find(f".//{{{MD}}}checkDeployStatusResponse/{{{MD}}}result")
    if result is None:
        raise DeployStatusError("UNKNOWN", "checkDeployStatus answered without a result")

    def text(name: str, element: ElementTree.Element = result) -> str | None:
        return element.findtext(f"{{{MD}}}{name}")

    problems = [
        ComponentProblem(
            component_type=text("componentType", m) or "",
            full_name=text("fullName", m) or "",
            file_name=text("fileName", m) or "",
            problem=text("problem", m) or "",
            problem_type=text("problemType", m) or "Error",
            line=_int(text("lineNumber", m)),
            column=_int(text("columnNumber", m)),
        )
        for m in result.findall(f"{{{MD}}}details/{{{MD}}}componentFailures")
    ]
    return DeployResult(
        id=text("id") or "",
        done=text("done") == "true",
        status=text("status") or "",
        success=text("success") == "true",
        check_only=text("checkOnly") == "true",
        components_total=_int(text("numberComponentsTotal")) or 0,
        components_deployed=_int(text("numberComponentsDeployed")) or 0,
        error_message=text("errorMessage"),
        problems=problems,
    )


class DeployStatusError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def check_deploy_status(
    session: requests.Session, url: str, session_id: str, deploy_id: str
) -> DeployResult:
    """One checkDeployStatus call (blocking: run it in a thread)."""
    resp = session.post(
        url,
        data=_envelope(session_id, deploy_id).encode(),
        headers={"Content-Type": "text/xml; charset=UTF-8", "SOAPAction": "checkDeployStatus"},
        timeout=60,
    )
    if resp.status_code >= 300 and b"Fault" not in resp.content:
        resp.raise_for_status()
    return parse_deploy_result(resp.content)

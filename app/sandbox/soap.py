"""The sandbox org's SOAP partner API: ``getUserInfo`` only.

Revflow asks it which currency a single-currency org uses (``orgDefaultCurrencyIsoCode``,
set only when ``organizationMultiCurrency`` is false), as a real org answers on
``POST /services/Soap/u/<version>`` with the session id in ``SessionHeader``.
"""

from __future__ import annotations

from xml.etree import ElementTree
from xml.sax.saxutils import escape

from aiohttp import web

from revflow.sandbox.org import SandboxOrg

ENVELOPE_NS = "http://schemas.xmlsoap.org/soap/envelope/"
PARTNER_NS = "urn:partner.soap.sforce.com"
_HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    f'<soapenv:Envelope xmlns:soapenv="{ENVELOPE_NS}" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
)


def _fault(code: str, message: str, status: int = 500) -> web.Response:
    body = (
        f'{_HEAD} xmlns:sf="urn:fault.partner.soap.sforce.com"><soapenv:Body><soapenv:Fault>'
        f"<faultcode>sf:{code}</faultcode><faultstring>{code}: {escape(message)}</faultstring>"
        f'<detail><sf:UnexpectedErrorFault xsi:type="sf:UnexpectedErrorFault">'
        f"<sf:exceptionCode>{code}</sf:exceptionCode>"
        f"<sf:exceptionMessage>{escape(message)}</sf:exceptionMessage>"
        "</sf:UnexpectedErrorFault></detail></soapenv:Fault></soapenv:Body></soapenv:Envelope>"
    )
    return web.Response(status=status, body=body, content_type="text/xml", charset="utf-8")


def _value(name: str, value: object) -> str:
    if value is None:
        return f'<{name} xsi:nil="true"/>'
    text = str(value).lower() if isinstance(value, bool) else str(value)
    return f"<{name}>{escape(text)}</{name}>"


def user_info_xml(org: SandboxOrg, user_id: str, username: str) -> str:
    """The ``getUserInfoResponse`` envelope for one user (fields in WSDL order)."""
    single = org.single_currency
    fields = {
        "accessibilityMode": False,
        "currencySymbol": None,
        "orgDefaultCurrencyIsoCode": single,  # only in single-currency orgs
        "orgDisallowHtmlAttachments": False,
        "orgHasPersonAccounts": False,
        "organizationId": org.org_id,
        "organizationMultiCurrency": single is None,
        "organizationName": "Revflow Sandbox",
        "sessionSecondsValid": 7200,
        "userDefaultCurrencyIsoCode": "USD" if single is None else None,  # multicurrency only
        "userEmail": username,
        "userFullName": "Integration User",
        "userId": user_id,
        "userLanguage": "en_US",
        "userLocale": "en_US",
        "userName": username,
        "userTimeZone": "Europe/Berlin",
        "userType": "Standard",
        "userUiSkin": "Theme3",
    }
    result = "".join(_value(k, v) for k, v in fields.items())
    return (
        f'{_HEAD} xmlns="{PARTNER_NS}"><soapenv:Body><getUserInfoResponse><result>{result}</result>'
        "</getUserInfoResponse></soapenv:Body></soapenv:Envelope>"
    )


def add_soap_routes(app: web.Application, org: SandboxOrg) -> None:
    """Register ``POST /services/Soap/u/{version}`` (the partner endpoint)."""

    async def partner(request: web.Request) -> web.Response:
        if request.match_info["version"] not in org.api_versions:
            return _fault("UNSUPPORTED_API_VERSION", "Invalid Api version specified on URL")
        try:
            root = ElementTree.fromstring(await request.read())
        except ElementTree.ParseError as exc:
            return _fault("INVALID_XML", f"Unable to parse the request: {exc}")
        session_id = root.findtext(f".//{{{PARTNER_NS}}}sessionId")
        session = org.session_for(session_id)
        if session is None:
            return _fault(
                "INVALID_SESSION_ID", "Invalid Session ID found in SessionHeader: Illegal Session"
            )
        body = root.find(f"{{{ENVELOPE_NS}}}Body")
        call = body[0].tag.split("}")[-1] if body is not None and len(body) else ""
        if call != "getUserInfo":
            return _fault("INVALID_OPERATION", f"The sandbox does not implement '{call}'")
        org.usage.count(session.app)
        app_ = next((a for a in org.apps.values() if a.name == session.app), None)
        username = app_.username if app_ else "integration@revflow.sandbox"
        return web.Response(
            body=user_info_xml(org, session.user_id, username),
            content_type="text/xml",
            charset="utf-8",
        )

    app.router.add_post("/services/Soap/u/{version}", partner)

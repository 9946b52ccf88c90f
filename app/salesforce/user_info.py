"""SOAP ``getUserInfo``: is the org multicurrency, and which currency a single-currency
org uses (``orgDefaultCurrencyIsoCode``, documented as set only then).

The REST API has no equivalent documented field, so this is Revflow's one SOAP call:
``POST <instance>/services/Soap/u/<version>`` with the OAuth access token as the
``SessionHeader`` session id (not ``login()``, which is being retired).
"""

from __future__ import annotations

from dataclasses import dataclass
from xml.etree import ElementTree

import httpx

from revflow.metrics import SALESFORCE_CALLS
from revflow.salesforce.auth import Token
from revflow.salesforce.client import SalesforceClient, reauthenticating
from revflow.salesforce.errors import SalesforceError, SessionExpired, TransientError

ENVELOPE_NS = "http://schemas.xmlsoap.org/soap/envelope/"
PARTNER_NS = "urn:partner.soap.sforce.com"
SOAP_KIND = "POST soap getUserInfo"  # in ApiUsage.by_kind


@dataclass(frozen=True)
class UserInfo:
    multi_currency: bool
    org_currency: str | None  # single-currency orgs only


def _envelope(session_id: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<env:Envelope xmlns:env="{ENVELOPE_NS}" xmlns:p="{PARTNER_NS}">'
        f"<env:Header><p:SessionHeader><p:sessionId>{session_id}</p:sessionId>"
        "</p:SessionHeader></env:Header><env:Body><p:getUserInfo/></env:Body></env:Envelope>"
    )


def parse_user_info(status: int, body: bytes) -> UserInfo:
    """The answer of getUserInfo, or the SalesforceError its SOAP fault names."""
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError as exc:
        raise TransientError(status, "UNKNOWN", f"getUserInfo answered no XML: {exc}") from exc
    fault = root.find(f".//{{{ENVELOPE_NS}}}Fault")
    if fault is not None:
        texts = {child.tag.split("}")[-1]: (child.text or "") for child in fault}
        code = (texts.get("faultcode") or "UNKNOWN").split(":")[-1]  # "sf:INVALID_SESSION_ID"
        message = texts.get("faultstring", "")
        if code == "INVALID_SESSION_ID":
            raise SessionExpired(status, code, message)
        if status >= 500 and code in ("SERVER_UNAVAILABLE", "UNKNOWN"):
            raise TransientError(status, code, message)
        raise SalesforceError(status, code, message)
    result = root.find(f".//{{{PARTNER_NS}}}result")
    if result is None:
        raise SalesforceError(status, "UNKNOWN", "getUserInfo answered without a result")
    multi = (result.findtext(f"{{{PARTNER_NS}}}organizationMultiCurrency") or "").strip()
    currency = (result.findtext(f"{{{PARTNER_NS}}}orgDefaultCurrencyIsoCode") or "").strip()
    return UserInfo(multi_currency=multi == "true", org_currency=currency or None)


async def user_info(client: SalesforceClient) -> UserInfo:
    """Call getUserInfo with the client's token (re-authenticating once if it expired)."""
    token = await client.tokens.token()
    async for attempt in reauthenticating():
        with attempt:
            if attempt.retry_state.attempt_number > 1:
                token = await client.tokens.token(refresh=True, stale=token)
            return await _call(client, token)
    raise AssertionError("unreachable")


async def _call(client: SalesforceClient, token: Token) -> UserInfo:
    url = f"{token.instance_url.rstrip('/')}/services/Soap/u/{client.api_version}"
    try:
        resp = await client.http.post(
            url,
            content=_envelope(token.access_token),
            headers={"Content-Type": "text/xml; charset=UTF-8", "SOAPAction": '""'},
        )
    except httpx.HTTPError as exc:
        raise TransientError(0, "NETWORK_ERROR", str(exc) or type(exc).__name__) from exc
    client.usage.calls_made += 1
    client.usage.by_kind[SOAP_KIND] = client.usage.by_kind.get(SOAP_KIND, 0) + 1
    SALESFORCE_CALLS.inc()
    return parse_user_info(resp.status_code, resp.content)

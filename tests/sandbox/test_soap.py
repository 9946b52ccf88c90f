"""The sandbox org's SOAP getUserInfo over loopback, as Revflow's client calls it."""

from __future__ import annotations

import pytest

from revflow.salesforce.auth import TokenProvider
from revflow.salesforce.client import SalesforceClient
from revflow.salesforce.errors import SalesforceError, SessionExpired
from revflow.salesforce.user_info import user_info
from revflow.sandbox.org import SandboxOrg
from tests.orgkit import settings_for


def _client(org: SandboxOrg) -> SalesforceClient:
    settings = settings_for(org, "sqlite+aiosqlite://")
    return SalesforceClient(TokenProvider(settings.salesforce), "62.0", "revflow")


async def test_user_info_names_the_currency_of_a_single_currency_org(org: SandboxOrg) -> None:
    client = _client(org)
    multi = await user_info(client)
    assert multi.multi_currency is True and multi.org_currency is None
    org.single_currency = "CHF"
    single = await user_info(client)
    assert single.multi_currency is False and single.org_currency == "CHF"
    assert org.usage.by_app["revflow"] == 2  # SOAP calls count against the API limit
    await client.aclose()


async def test_an_expired_session_is_renewed_once(org: SandboxOrg) -> None:
    client = _client(org)
    await user_info(client)
    org.revoke_all()  # the fault answers INVALID_SESSION_ID; the client logs in again
    assert (await user_info(client)).multi_currency is True
    await client.aclose()


async def test_faults_are_salesforce_errors(org: SandboxOrg) -> None:
    client = _client(org)
    token = await client.tokens.token()
    url = f"{org.instance_url}/services/Soap/u/62.0"
    body = (
        '<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:p="urn:partner.soap.sforce.com"><e:Header><p:SessionHeader><p:sessionId>'
        f"{token.access_token}</p:sessionId></p:SessionHeader></e:Header>"
        "<e:Body><p:describeSObjects/></e:Body></e:Envelope>"
    )
    answer = await client.http.post(url, content=body)
    assert answer.status_code == 500 and b"<faultcode>sf:INVALID_OPERATION" in answer.content
    org.api_versions = ("63.0",)  # the client's version is not served
    with pytest.raises(SalesforceError) as caught:
        await user_info(client)
    assert caught.value.code == "UNSUPPORTED_API_VERSION"
    assert not isinstance(caught.value, SessionExpired)
    await client.aclose()

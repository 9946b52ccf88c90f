"""Tokens from the sandbox org over loopback: the JWT bearer and client credentials flows."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from revflow.config import SalesforceSettings
from revflow.salesforce.auth import AuthError, TokenProvider
from revflow.sandbox.keys import generate_keypair
from revflow.sandbox.org import ConnectedApp
from tests.salesforce.test_client import cc_settings


async def test_jwt_flow_with_the_wrong_key_is_refused(org):
    good, bad = generate_keypair(), generate_keypair()
    org.add_app(
        ConnectedApp(
            name="revflow",
            consumer_key="jwt-ck",
            certificate_pem=good.certificate_pem,
            username="integration@revflow.sandbox",
        )
    )
    settings = SalesforceSettings(
        instance_url=org.instance_url,
        login_url=org.instance_url,
        client_id="jwt-ck",
        username="integration@revflow.sandbox",
        private_key=SecretStr(bad.private_key_pem),
    )
    with pytest.raises(AuthError, match="refused"):
        await TokenProvider(settings).token()
    ok = TokenProvider(settings.model_copy(update={"private_key": SecretStr(good.private_key_pem)}))
    assert (await ok.token()).org_id == org.org_id


async def test_bad_client_secret_is_an_auth_error(org):
    with pytest.raises(AuthError):
        await TokenProvider(cc_settings(org, secret="wrong")).token()

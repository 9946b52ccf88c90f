"""One HTTP error classification for every HTTP connector (connectors.http_errors)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from revflow.connectors import http_base, rest, webhook
from revflow.connectors.errors import (
    AmbiguousError,
    EndpointGoneError,
    FatalError,
    RateLimitedError,
    RetryableError,
)
from revflow.connectors.http_errors import classify_response, classify_transport
from revflow.connectors.oauth import OAuth2TokenProvider


def answer(status: int, **kw: Any) -> httpx.Response:
    return httpx.Response(status, request=httpx.Request("POST", "https://erp.example/o"), **kw)


@pytest.mark.parametrize(
    "status, error",
    [
        (410, EndpointGoneError),
        (429, RateLimitedError),
        (503, RateLimitedError),
        (408, RetryableError),
        (500, RetryableError),
        (504, RetryableError),
        (400, FatalError),
        (404, FatalError),
    ],
)
def test_statuses(status: int, error: type) -> None:
    found = classify_response(answer(status, text="why"))
    assert found is not None and type(found) is error and found.status_code == status
    assert found.details["body"] == "why"
    assert type(webhook.error_for_response(answer(status))) is error
    assert type(http_base.classify(answer(status), "their text")) is error


def test_success_target_text_ambiguous_statuses_and_retry_after() -> None:
    assert classify_response(answer(204)) is None
    err = http_base.classify(answer(422, json={"e": 1}), "bad customer")
    assert err is not None and err.message == "HTTP POST /o 422: bad customer"
    assert err.details["json"] == {"e": 1}
    gateway = classify_response(answer(504), ambiguous_statuses=(504,))
    assert type(gateway) is AmbiguousError
    limited = classify_response(answer(429, headers={"retry-after": "12"}))
    assert isinstance(limited, RateLimitedError) and limited.retry_after == 12


@pytest.mark.parametrize(
    "exc, plain, safe",
    [
        (httpx.ConnectError("refused"), RetryableError, RetryableError),
        (httpx.ReadTimeout("slow"), AmbiguousError, RetryableError),
        (httpx.RemoteProtocolError("cut"), AmbiguousError, RetryableError),
        (httpx.UnsupportedProtocol("ftp"), FatalError, FatalError),
    ],
)
def test_transport(exc: httpx.TransportError, plain: type, safe: type) -> None:
    assert type(classify_transport(exc)) is plain
    assert type(classify_transport(exc, safe=True)) is safe
    assert type(webhook.error_for_transport(exc)) is plain


def test_rest_oauth2_is_the_shared_token_provider() -> None:
    auth = rest.make_auth(
        {"type": "oauth2", "token_url": "https://t", "client_id": "c", "client_secret": "s"}
    )
    assert isinstance(auth, rest.OAuth2ClientCredentials)
    assert isinstance(auth.provider, OAuth2TokenProvider)
    assert auth.provider.auth_method == "body"

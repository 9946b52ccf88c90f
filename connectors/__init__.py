"""Connectors: how Revflow talks to ERP and accounting systems.

A connector has one required method, ``call(action, payload, ctx) -> CallResult``,
and raises the classified errors in ``revflow.connectors.errors`` (retryable, rate limited,
fatal, endpoint gone, ambiguous).  ``find_existing`` optionally answers "did an
earlier, ambiguous attempt land?"; ``None`` means unknown.

Adding a connector takes one file.  For example ``connectors/acme.py``::

    from revflow.connectors import CallContext, CallResult, Connector, FatalError
    from revflow.connectors.registry import register_connector_type

    class AcmeConnector(Connector):
        def __init__(self, base_url: str, token: str) -> None: ...

        async def call(self, action, payload, ctx: CallContext) -> CallResult:
            # one request; send ctx.idempotency_key if the target supports it;
            # map failures onto connectors.errors (see webhook.error_for_response)
            ...

        async def find_existing(self, action, payload, ctx):
            # search the target by a reference you sent (e.g. the Salesforce id)
            ...

    @register_connector_type("acme")
    def build(name: str, settings) -> AcmeConnector:
        return AcmeConnector(settings["base_url"], settings["token"])

Configure it with ``{"type": "acme", ...}`` once the module is imported, or
without any registration as ``{"type": "revflow.connectors.acme:build", ...}``; either way
``build_connector(name, settings)`` builds it.  Test code against ``FakeConnector``.
"""

from revflow.connectors.base import CallContext, CallResult, Connector, FakeConnector
from revflow.connectors.errors import (
    AmbiguousError,
    ConnectorError,
    EndpointGoneError,
    FatalError,
    RateLimitedError,
    RetryableError,
)
from revflow.connectors.registry import build_connector, register_connector_type

__all__ = [
    "AmbiguousError",
    "CallContext",
    "CallResult",
    "Connector",
    "ConnectorError",
    "EndpointGoneError",
    "FakeConnector",
    "FatalError",
    "RateLimitedError",
    "RetryableError",
    "build_connector",
    "register_connector_type",
]

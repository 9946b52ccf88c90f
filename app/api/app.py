"""The operator API: health, readiness, plans per order, plan actions, fallout, metrics;
and the operator console (``revflow.console``) at ``/console``."""

from __future__ import annotations

import pathlib
from collections.abc import Mapping, Sequence
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Path
from fastapi.exceptions import RequestValidationError
from fastapi.responses import PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from revflow.alerts.settings import AlertSettings
from revflow.api import allow, errors
from revflow.api.alerts import alerts_router
from revflow.api.auth import auth_router
from revflow.api.body_limit import BodyLimit
from revflow.api.callbacks import callbacks_router
from revflow.api.comments import comments_router
from revflow.api.fallout import fallout_router
from revflow.api.headers import SecurityHeaders
from revflow.api.health import ReadinessCheck, database_check, health_router
from revflow.api.http_settings import HttpSettings
from revflow.api.oidc import oidc_router
from revflow.api.openapi import document, invalid_request
from revflow.api.plans import plan_out, plans_router
from revflow.api.salesforce import salesforce_router
from revflow.api.schemas import AUTH_ERRORS, ORDER_ID, OrderOut, Problem
from revflow.api.webhooks import webhooks_router
from revflow.comments.settings import CommentSettings
from revflow.config import CallbackSettings, SalesforceSettings, WritebackSettings
from revflow.console import mount as mount_console
from revflow.console.context import ConsoleContext, OrderFetcher, install_context
from revflow.db.database import Database
from revflow.orchestration import repository
from revflow.security.dependencies import install as install_security
from revflow.security.dependencies import require
from revflow.security.identity import Role
from revflow.security.keyring import Keyring
from revflow.security.oidc.provider import OidcProvider
from revflow.security.ratelimit import RateLimit
from revflow.security.settings import SecuritySettings

# a Salesforce record id, as the OpenAPI document declares it (FastAPI checks it: 400)
OrderId = Annotated[str, Path(pattern=ORDER_ID.pattern, examples=["8015e00000Q7mNpAAJ"])]


def create_app(
    db: Database,
    writeback: WritebackSettings | None = None,
    *,
    callbacks: CallbackSettings | None = None,
    salesforce: SalesforceSettings | None = None,
    webhooks: Mapping[str, str] | None = None,
    max_body_bytes: int = 1024 * 1024,
    readiness: Sequence[ReadinessCheck] = (),
    security: SecuritySettings | None = None,
    keyring: Keyring | None = None,
    oidc: OidcProvider | None = None,
    http: HttpSettings | None = None,
    comments: CommentSettings | None = None,
    alerts: AlertSettings | None = None,
    mappings_dir: pathlib.Path | None = None,
    fetch_order: OrderFetcher | None = None,
) -> FastAPI:
    """The API; ``writeback`` (the status map) is what operator actions write to Orders.

    ``callbacks`` holds the secrets inbound ERP callbacks are verified with;
    ``webhooks`` names the webhook connectors (name -> URL) for ``/api/webhooks``;
    ``readiness`` adds checks to ``/readyz`` after the database's (the service adds
    its supervised loops'). Request bodies over ``max_body_bytes`` are refused with
    413 before they are read.  Every route but the probes, callbacks and login needs
    an identity (``revflow.security``; ``security`` holds its settings, ``keyring``
    decrypts local users' TOTP seeds). ``oidc``: the identity provider people log in
    with (``/api/auth/oidc/*``), if one is configured.  ``http``: the per-identity rate
    limit, the trusted proxies and HSTS (the answers' security headers are always sent).
    ``comments``: limits of comments and their Chatter mirror.
    ``alerts``: the key of the acknowledge links in alert messages (``/api/alerts/ack``).
    ``mappings_dir``: the mappings the console's mappings page lints and previews;
    ``fetch_order`` reads an Order from the org for its preview.
    """
    net = http or HttpSettings()
    api = FastAPI(
        title="Revflow",
        summary="Order orchestration between Salesforce and ERP systems",
        version="0.1.0",
        # Swagger UI and ReDoc load scripts from a CDN and run inline ones, which the
        # security headers' CSP forbids; the document itself is at /openapi.json
        docs_url=None,
        redoc_url=None,
    )
    # the last added runs first: the proxy's headers are read, then every answer gets
    # the security headers (a 413 too), then the body is limited
    api.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    api.add_middleware(SecurityHeaders, hsts_max_age_s=net.hsts_max_age_s)
    if net.trusted_proxies:
        api.add_middleware(ProxyHeadersMiddleware, trusted_hosts=net.trusted_proxies)
    limited = net.rate_limit_per_minute > 0
    if limited:
        api.state.rate_limit = RateLimit(net.rate_limit_per_minute, net.rate_limit_burst)
    errors.install(api)
    allow.install(api)  # 405 lists every method of the path
    api.add_exception_handler(RequestValidationError, invalid_request)  # type: ignore[arg-type]
    api.openapi = lambda: document(api, rate_limited=limited)  # type: ignore[method-assign]
    install_security(api, db, security, keyring)

    api.include_router(health_router([database_check(db), *readiness]))

    @api.get(
        "/api/orders/{order_id}",
        response_model=OrderOut,
        tags=["orders"],
        responses={404: {"model": Problem}, **AUTH_ERRORS},
        dependencies=[Depends(require(Role.VIEWER))],
    )
    async def get_order(order_id: OrderId) -> OrderOut:
        """The fulfillment plans of a Salesforce Order, with their steps."""
        async with db.read() as s:
            plans = await repository.plans_of_order(s, order_id)
            if not plans:
                raise HTTPException(404, f"no plan for order {order_id}")
            steps = await repository.steps_of_plans(s, [p.id for p in plans])
        return OrderOut(order_id=order_id, plans=[plan_out(p, steps) for p in plans])

    api.include_router(plans_router(db, writeback or WritebackSettings()))
    api.include_router(fallout_router(db))
    api.include_router(comments_router(db, comments or CommentSettings()))
    api.include_router(callbacks_router(db, callbacks))
    api.include_router(webhooks_router(db, writeback or WritebackSettings(), webhooks or {}))
    api.include_router(salesforce_router(db, salesforce or SalesforceSettings()))
    api.include_router(alerts_router(db, alerts))
    if oidc is not None:
        api.include_router(oidc_router(db, oidc))

    api.include_router(auth_router())
    install_context(
        api,
        ConsoleContext(
            writeback=writeback or WritebackSettings(),
            webhooks=dict(webhooks or {}),
            salesforce=salesforce or SalesforceSettings(),
            mappings_dir=mappings_dir,
            fetch_order=fetch_order,
            comments=comments or CommentSettings(),
        ),
    )
    # the operator console at /console
    share = (salesforce or SalesforceSettings()).api_budget_share
    mount_console(api, oidc=oidc is not None, api_budget_share=share)

    @api.get(
        "/metrics",
        response_class=PlainTextResponse,
        responses=AUTH_ERRORS,
        dependencies=[Depends(require(Role.METRICS))],
        tags=["metrics"],
    )
    async def metrics() -> PlainTextResponse:
        """Prometheus metrics (an API key with the ``metrics`` role, or any stronger)."""
        return PlainTextResponse(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return api

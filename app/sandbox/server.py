"""Run the sandbox org (OAuth, REST, CometD) and the sandbox ERP on loopback ports."""

from __future__ import annotations

import ssl
from dataclasses import dataclass

from aiohttp import web

from revflow.sandbox.cometd import add_cometd_routes
from revflow.sandbox.erp import SandboxErp, create_erp_app
from revflow.sandbox.inbox import ChatInbox
from revflow.sandbox.metadata import add_metadata_routes
from revflow.sandbox.notifications import add_notification_routes
from revflow.sandbox.oauth import add_oauth_routes
from revflow.sandbox.org import SandboxOrg
from revflow.sandbox.rest import add_rest_routes
from revflow.sandbox.soap import add_soap_routes
from revflow.sandbox.tls import SandboxTls


@dataclass
class RunningServer:
    runner: web.AppRunner
    port: int
    base_url: str

    async def close(self) -> None:
        await self.runner.cleanup()


async def _serve(
    app: web.Application, host: str, port: int, ssl_context: ssl.SSLContext | None = None
) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port, ssl_context=ssl_context)
    await site.start()
    server = site._server
    assert server is not None and server.sockets  # type: ignore[attr-defined]
    return runner, server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]


def org_app(org: SandboxOrg) -> web.Application:
    app = web.Application(client_max_size=16 * 1024 * 1024)
    add_oauth_routes(app, org)
    add_rest_routes(app, org)
    add_cometd_routes(app, org)
    add_soap_routes(app, org)
    add_metadata_routes(app, org)
    add_notification_routes(app, org)
    return app


async def start_org(
    org: SandboxOrg, host: str = "127.0.0.1", port: int = 0, tls: SandboxTls | None = None
) -> RunningServer:
    """Serve the org; its instance URL uses ``localhost`` so CometD cookies are kept.

    With ``tls`` it serves HTTPS (``app/sandbox/tls.py``), as clients that build
    ``https://`` URLs themselves need (simple-salesforce: ``revflow salesforce``)."""
    context = tls.server_context() if tls else None
    runner, bound = await _serve(org_app(org), host, port, context)
    name = "localhost" if host in ("127.0.0.1", "localhost") else host
    org.instance_url = f"{'https' if tls else 'http'}://{name}:{bound}"
    return RunningServer(runner, bound, org.instance_url)


async def start_inbox(inbox: ChatInbox, host: str = "127.0.0.1") -> RunningServer:
    """Serve the demo's Slack/Teams-style webhooks (``app/sandbox/inbox.py``)."""
    runner, bound = await _serve(inbox.app(), host, 0)
    return RunningServer(runner, bound, f"http://{host}:{bound}")


async def start_erp(erp: SandboxErp, host: str = "127.0.0.1", port: int = 0) -> RunningServer:
    runner, bound = await _serve(create_erp_app(erp), host, port)
    return RunningServer(runner, bound, f"http://{host}:{bound}")

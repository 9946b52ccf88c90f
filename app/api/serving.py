"""The uvicorn server for the API: address, TLS, and no proxy trust of uvicorn's own.

uvicorn believes ``X-Forwarded-*`` from 127.0.0.1 by default; Revflow turns that off
and believes only ``REVFLOW_HTTP__TRUSTED_PROXIES`` (``create_app`` adds the
middleware).  Listening beyond loopback without TLS is allowed (a TLS proxy may be in
front, or the container's own network) but logged as a warning.
"""

from __future__ import annotations

import ipaddress
import logging

import uvicorn
from fastapi import FastAPI

from revflow.api.http_settings import HttpSettings

log = logging.getLogger(__name__)


def loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name: whatever it resolves to


def server_config(app: FastAPI, host: str, port: int, http: HttpSettings) -> uvicorn.Config:
    """The uvicorn configuration that serves ``app`` on ``host:port``."""
    if not loopback(host) and not http.tls and not http.trusted_proxies:
        log.warning(
            "the API listens on %s without TLS: put it behind a TLS proxy "
            "(REVFLOW_HTTP__TRUSTED_PROXIES) or set REVFLOW_HTTP__TLS_CERT_FILE/_KEY_FILE",
            host,
        )
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        ssl_certfile=str(http.tls_cert_file) if http.tls_cert_file else None,
        ssl_keyfile=str(http.tls_key_file) if http.tls_key_file else None,
        proxy_headers=False,  # create_app believes the configured proxies only
        server_header=False,  # do not tell the world which server and version
        log_config=None,  # uvicorn's lines go through our JSON handler
        use_colors=False,
        access_log=False,
        lifespan="off",
    )

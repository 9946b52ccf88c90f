"""The API server: loopback by default, TLS from certificate files, trusted proxies only.

Over real sockets: uvicorn configured by ``server_config``, a self-signed certificate
made by the test with ``cryptography``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import logging
import socket
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from fastapi import FastAPI

from revflow.api.app import create_app
from revflow.api.http_settings import HttpSettings
from revflow.api.serving import server_config
from revflow.config import ConfigError, load_settings
from revflow.security.identity import Role
from tests.securitykit import make_key


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "revflow test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


@asynccontextmanager
async def running(config: uvicorn.Config) -> AsyncIterator[int]:
    """Serve ``config`` on a loopback socket; yields the port."""
    server = uvicorn.Server(config)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        await task
        sock.close()


async def test_tls_from_certificate_files(db, tmp_path):
    cert_file, key_file = self_signed(tmp_path)
    http = HttpSettings(tls_cert_file=cert_file, tls_key_file=key_file)
    app = create_app(db, http=http)
    async with running(server_config(app, "127.0.0.1", 0, http)) as port:
        trust = ssl.create_default_context(cafile=str(cert_file))
        async with httpx.AsyncClient(verify=trust) as client:
            r = await client.get(f"https://127.0.0.1:{port}/healthz")
            assert r.status_code == 200 and r.json() == {"status": "ok"}
            assert r.headers["strict-transport-security"].startswith("max-age=31536000")
            assert "server" not in r.headers  # uvicorn does not name itself
            with pytest.raises(httpx.ConnectError):  # a client that does not trust it
                await httpx.AsyncClient().get(f"https://127.0.0.1:{port}/healthz")
        async with httpx.AsyncClient() as plain:  # plain HTTP to the TLS port: no answer
            with pytest.raises(httpx.HTTPError):
                await plain.get(f"http://127.0.0.1:{port}/healthz")


async def _seen(db, http: HttpSettings, headers: dict[str, str]) -> tuple[str, bool]:
    """(the address the rate limit charged, HSTS sent) for one request over a socket."""
    app = create_app(db, http=http)
    key = await make_key(db, Role.VIEWER)
    async with (
        running(server_config(app, "127.0.0.1", 0, http)) as port,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client,
    ):
        r = await client.get("/api/fallout", headers={**headers, **key.headers})
        await client.get("/api/fallout", headers=headers)  # no key: charged by address
    assert r.status_code == 200
    charged = [k for k in app.state.rate_limit._buckets if k.startswith("ip:")]
    return charged[0], "strict-transport-security" in r.headers


FORWARDED = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}


async def test_forwarded_headers_are_ignored_unless_from_a_trusted_proxy(db):
    # uvicorn alone would believe 127.0.0.1; Revflow believes no one by default
    assert await _seen(db, HttpSettings(), FORWARDED) == ("ip:127.0.0.1", False)
    other = HttpSettings(trusted_proxies=["10.0.0.0/8"])
    assert await _seen(db, other, FORWARDED) == ("ip:127.0.0.1", False)
    proxy = HttpSettings(trusted_proxies=["127.0.0.1"])
    assert await _seen(db, proxy, FORWARDED) == ("ip:203.0.113.9", True)


def test_the_api_listens_on_loopback_unless_configured(caplog):
    settings = load_settings()
    assert settings.api_host == "127.0.0.1"
    with caplog.at_level(logging.WARNING, "revflow.api.serving"):
        config = server_config(FastAPI(), settings.api_host, 8080, settings.http)
        assert config.host == "127.0.0.1" and not config.proxy_headers
        assert caplog.records == []
        server_config(FastAPI(), "0.0.0.0", 8080, settings.http)
    assert "listens on 0.0.0.0 without TLS" in caplog.records[0].getMessage()


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({"REVFLOW_HTTP__TRUSTED_PROXIES": '["10.0.0.0/8", "proxy"]'}, "'proxy' is not an IP"),
        ({"REVFLOW_HTTP__TLS_CERT_FILE": "/nonexistent.pem"}, "set both or neither"),
        (
            {"REVFLOW_HTTP__TLS_CERT_FILE": "/no/c.pem", "REVFLOW_HTTP__TLS_KEY_FILE": "/no/k.pem"},
            "tls_cert_file /no/c.pem does not exist",
        ),
        ({"REVFLOW_HTTP__RATE_LIMIT_PER_MINUTE": "-1"}, "REVFLOW_HTTP__RATE_LIMIT_PER_MINUTE"),
    ],
)
def test_bad_http_settings_name_the_setting(monkeypatch, env, words):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match="REVFLOW_HTTP") as err:
        load_settings()
    assert words in str(err.value)

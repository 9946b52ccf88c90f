"""How the API meets the network (``REVFLOW_HTTP__*``): TLS, proxies, rate limit, HSTS.

The address it listens on stays ``REVFLOW_API_HOST`` (loopback unless configured) and
``REVFLOW_API_PORT``.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class HttpSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # TLS terminated by Revflow itself: a PEM certificate (chain) and its private key
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    # addresses or networks of reverse proxies whose X-Forwarded-For/-Proto are believed;
    # empty: the headers are ignored and the connecting address is the client
    trusted_proxies: list[str] = []
    # requests per minute per identity (API key, user; else client address), with bursts
    # of up to rate_limit_burst; 0 turns the limit off (the probes are never limited)
    rate_limit_per_minute: int = Field(default=600, ge=0)
    rate_limit_burst: int = Field(default=100, ge=1)
    # Strict-Transport-Security on answers over HTTPS; 0 sends none
    hsts_max_age_s: int = Field(default=365 * 86400, ge=0)

    @field_validator("trusted_proxies")
    @classmethod
    def _check_proxies(cls, value: list[str]) -> list[str]:
        for entry in value:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"{entry!r} is not an IP address or network") from None
        return value

    @model_validator(mode="after")
    def _check_tls(self) -> HttpSettings:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("tls_cert_file and tls_key_file go together: set both or neither")
        for name in ("tls_cert_file", "tls_key_file"):
            path = getattr(self, name)
            if path is not None and not path.is_file():
                raise ValueError(f"{name} {path} does not exist")
        return self

    @property
    def tls(self) -> bool:
        return self.tls_cert_file is not None

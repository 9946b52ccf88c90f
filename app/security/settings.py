"""Security settings (``REVFLOW_SECURITY__*``): sessions, cookies, login limits."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class SecuritySettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # a browser session ends after this long without a request...
    session_idle_s: float = Field(default=1800.0, gt=0)
    # ...and this long after login, whatever happens
    session_absolute_s: float = Field(default=43200.0, gt=0)
    # cookies carry Secure (browsers then send them over HTTPS and to localhost only)
    cookie_secure: bool = True
    cookie_samesite: Literal["lax", "strict"] = "lax"
    # failed logins in a row that lock a local user, and for how long
    login_max_failures: int = Field(default=5, ge=1)
    lockout_s: float = Field(default=900.0, gt=0)
    # login attempts per client address per minute (per process)
    login_rate_per_minute: int = Field(default=10, ge=1)
    # the issuer shown in authenticator apps
    totp_issuer: str = Field(default="Revflow", min_length=1, max_length=64)

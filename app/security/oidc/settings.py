"""OpenID Connect login settings (``REVFLOW_OIDC__*``).

Unset ``issuer`` turns OIDC login off.  The client secret comes from
``client_secret`` or, better, ``client_secret_file`` (a file only Revflow reads).
Roles come from ``role_claim`` (a dotted path into the ID token and userinfo
claims, e.g. ``groups`` or ``realm_access.roles``): through ``group_roles`` when it
maps anything, else the claim's values are role names themselves.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from revflow.security.identity import Role

LOOPBACK_HOSTS = {"127.0.0.1", "::1", "localhost"}


def _check_url(value: str, *, what: str) -> str:
    """An http(s) URL without query or fragment; plain http only on loopback."""
    if not value:
        return value
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{what} must be an https:// URL, not {value!r}")
    if parts.query or parts.fragment:
        raise ValueError(f"{what} must not have a query or fragment")
    if parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS:
        raise ValueError(f"{what} must use https (plain http only on loopback)")
    return value


class OidcSettings(BaseModel):
    """The company's OpenID provider and how its users become Revflow roles."""

    model_config = ConfigDict(extra="forbid")

    # the provider's issuer exactly as its ID tokens name it (with a trailing slash if
    # they have one); discovery is read from <issuer>/.well-known/openid-configuration
    issuer: str = ""
    client_id: str = ""
    client_secret: SecretStr = SecretStr("")
    client_secret_file: Path | None = None
    # Revflow's public URL as browsers see it; the provider redirects to
    # <redirect_base_url>/api/auth/oidc/callback (register that URL with the provider)
    redirect_base_url: str = ""
    # where the provider sends the browser after logout; unset: <redirect_base_url>/
    post_logout_redirect_url: str = ""
    scopes: list[str] = ["openid", "profile", "email"]
    role_claim: str = Field(default="groups", min_length=1)
    # group (a value of role_claim) -> role; empty: the values are role names
    group_roles: dict[str, Role] = {}
    # the claim shown as the person's name (falls back to preferred_username, sub)
    name_claim: str = "email"
    # clock skew allowed when checking the ID token's exp/iat
    leeway_s: float = Field(default=60.0, ge=0, le=600)
    # a login must come back from the provider within this long
    login_timeout_s: float = Field(default=600.0, gt=0)
    timeout_s: float = Field(default=10.0, gt=0)
    # discovery document and keys are read again after this long (and at once when
    # a token names a key Revflow has not seen)
    metadata_ttl_s: float = Field(default=3600.0, gt=0)

    @field_validator("issuer", "post_logout_redirect_url")
    @classmethod
    def _url(cls, value: str, info: ValidationInfo) -> str:
        return _check_url(value, what=info.field_name or "URL")

    @field_validator("redirect_base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        return _check_url(value, what="redirect_base_url").rstrip("/")

    @field_validator("scopes")
    @classmethod
    def _openid_scope(cls, value: list[str]) -> list[str]:
        if "openid" not in value:
            raise ValueError("scopes must include openid")
        return value

    @model_validator(mode="after")
    def _complete(self) -> OidcSettings:
        if not self.issuer:
            return self
        for name in ("client_id", "redirect_base_url"):
            if not getattr(self, name):
                raise ValueError(f"REVFLOW_OIDC__{name.upper()} is required with an issuer")
        if self.client_secret_file and not self.client_secret_file.is_file():
            raise ValueError(
                f"REVFLOW_OIDC__CLIENT_SECRET_FILE {self.client_secret_file} does not exist"
            )
        if not (self.client_secret.get_secret_value() or self.client_secret_file):
            raise ValueError(
                "REVFLOW_OIDC__CLIENT_SECRET or REVFLOW_OIDC__CLIENT_SECRET_FILE is required"
            )
        return self

    @property
    def enabled(self) -> bool:
        return bool(self.issuer)

    @property
    def redirect_uri(self) -> str:
        return f"{self.redirect_base_url}/api/auth/oidc/callback"

    @property
    def after_logout_url(self) -> str:
        return self.post_logout_redirect_url or f"{self.redirect_base_url}/"

    def secret(self) -> str:
        """The client secret (read from its file each time, so rotation needs no restart)."""
        if self.client_secret_file:
            return self.client_secret_file.read_text().strip()
        return self.client_secret.get_secret_value()

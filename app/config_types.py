"""Building blocks of the settings models: sections, secrets, and revealing them.

Shared by ``revflow.config`` and ``revflow.connector_settings`` (which must not import
each other both ways).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, SecretStr

__all__ = ["ConfigError", "Section", "WebhookSecret", "reveal"]


class ConfigError(Exception):
    """A bad or missing setting; the message names it."""


class Section(BaseModel):
    """A settings section: unknown keys are errors, not ignored."""

    model_config = ConfigDict(extra="forbid")


def _check_webhook_secret(secret: SecretStr) -> SecretStr:
    from revflow.connectors.signing import SECRET_PREFIX, decode_secret

    if not secret.get_secret_value().startswith(SECRET_PREFIX):
        raise ValueError("webhook secret is not whsec_<base64>")
    decode_secret(secret.get_secret_value())  # ValueError names the problem, not the value
    return secret


# a Standard Webhooks secret, checked at start-up and hidden in repr/str/dumps
WebhookSecret = Annotated[SecretStr, AfterValidator(_check_webhook_secret)]


def reveal(value: Any) -> Any:
    """``value`` with every ``SecretStr`` in it (lists and dicts too) replaced by its text."""
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, dict):
        return {k: reveal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [reveal(v) for v in value]
    return value

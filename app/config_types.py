"""Building blocks of the settings models: sections, secrets, and revealing them.

Shared by ``revflow.config`` and ``revflow.connector_settings`` (which must not import
each other both ways).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, BaseModel, ConfigDict, SecretStr, model_validator

__all__ = [
    "ConfigError",
    "SecretFiles",
    "Section",
    "WebhookSecret",
    "reveal",
    "write_secret_file",
]


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


def _read_secret(path: Any, key: str, many: bool) -> Any:
    try:
        text = Path(str(path)).read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"{key}: cannot read {path}: {exc.strerror or exc}") from None
    if many:
        return text.split()
    value = text.strip()
    if not value:
        raise ValueError(f"{key}: {path} is empty")
    return value


def write_secret_file(path: Path, value: str) -> None:
    """Replace ``path``'s content with ``value`` atomically, readable by the owner only."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(value + "\n")
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class SecretFiles(Section):
    """A section whose ``secret_fields`` may each be given as ``<field>_file``."""

    secret_fields: ClassVar[frozenset[str]] = frozenset()
    secret_lists: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="before")
    @classmethod
    def _secret_files(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        out = dict(data)
        for name in cls.secret_fields | cls.secret_lists:
            key = f"{name}_file"
            path = out.get(key) if key in cls.model_fields else out.pop(key, None)
            if path in (None, ""):
                continue
            if out.get(name) not in (None, "", []):
                raise ValueError(f"give {name} or {key}, not both")
            out[name] = _read_secret(path, key, name in cls.secret_lists)
        return out

"""A generic REST connector driven by configuration, for ERPs with a JSON HTTP API.

    build_connector("erp", {
        "type": "rest",
        "base_url": "https://erp.example/api/v2",
        "auth": {"type": "oauth2", "token_url": "https://erp.example/oauth/token",
                 "client_id": "...", "client_secret": "...", "scope": "orders"},
        "actions": {
            "create_sales_order": {"method": "POST", "path": "/orders",
                                   "mapping": "order_to_sales_order",
                                   "external_id": "data.id"},
            "cancel_sales_order": {"method": "POST", "path": "/orders/{external_id}/cancel",
                                   "body": "none"},
        },
    })

Per action: ``method``; ``path``, a template whose ``{name}`` (or dotted
``{a.b}``) fields are filled, URL-quoted, from the payload (and ``idempotency_key``,
``correlation_id``, ``action``); ``body``: ``"passthrough"`` (the payload as JSON, the
default for POST/PUT/PATCH) or ``"none"`` (the default for GET/DELETE); ``mapping``:
the name of a mapping file in ``mappings_dir`` applied to the payload to make the
body; ``external_id``: dotted path(s) into the JSON answer (list indexes allowed,
``items.0.id``); ``idempotency_header``: the header carrying ``ctx.idempotency_key``
(default ``Idempotency-Key``; ``null`` for none); ``find``: an optional look-up
request (``method``, ``path``, ``external_id``) for ``find_existing``.

Auth (``auth.type``): ``oauth2`` (client credentials; the token is cached until shortly
before it expires and fetched anew once when the API answers 401), ``api_key``
(``header``, ``key``, optional ``prefix``), ``basic`` (``username``, ``password``),
``bearer`` (``token``) or ``none``.

Errors are classified as for every HTTP connector (``revflow.connectors.http_errors``); the
``oauth2`` token comes from ``revflow.connectors.oauth.OAuth2TokenProvider``: a token endpoint
that refuses the credentials is ``FatalError``, one that is unreachable or failing is
``RetryableError``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

import httpx

from revflow.connectors.base import CallContext, CallResult, Connector
from revflow.connectors.errors import ConnectorError, FatalError
from revflow.connectors.http_client import HttpClientOwner
from revflow.connectors.http_errors import MAX_BODY_CHARS, classify_response, classify_transport
from revflow.connectors.rest_auth import (
    ApiKeyAuth,
    Auth,
    BasicAuth,
    BearerAuth,
    NoAuth,
    OAuth2ClientCredentials,
    make_auth,
)
from revflow.connectors.webhook import DEFAULT_EXTERNAL_ID_PATHS

__all__ = [
    "ApiKeyAuth",
    "BasicAuth",
    "BearerAuth",
    "NoAuth",
    "OAuth2ClientCredentials",
    "RestAction",
    "RestConnector",
    "lookup_path",
]

DEFAULT_TIMEOUT_S = 30.0
DEFAULT_IDEMPOTENCY_HEADER = "Idempotency-Key"
METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})
_FIELD = re.compile(r"\{([A-Za-z_][A-Za-z0-9_.]*)\}")


class BodyMapping(Protocol):
    """What a body mapping needs to be: ``revflow.mapping.model.Mapping`` is one."""

    def apply(self, record: Mapping[str, Any]) -> dict[str, Any]: ...


def lookup_path(data: Any, path: str) -> Any:
    """The value at a dotted ``path`` (``a.b.0.c``), or ``None``."""
    for part in path.split("."):
        if isinstance(data, Mapping) and part in data:
            data = data[part]
        elif (
            isinstance(data, list)
            and part.lstrip("-").isdigit()
            and -len(data) <= int(part) < len(data)
        ):
            data = data[int(part)]
        else:
            return None
    return data


# -- actions --------------------------------------------------------------------------


@dataclass(frozen=True)
class RestAction:
    """How one action becomes one HTTP request."""

    method: str = "POST"
    path: str = "/"
    body: str | None = None  # "passthrough" | "none"; None: by method
    mapping: str | None = None
    external_id: tuple[str, ...] = DEFAULT_EXTERNAL_ID_PATHS
    idempotency_header: str | None = DEFAULT_IDEMPOTENCY_HEADER
    find: RestAction | None = None

    @classmethod
    def parse(
        cls,
        name: str,
        spec: Mapping[str, Any],
        default_idempotency_header: str | None = DEFAULT_IDEMPOTENCY_HEADER,
    ) -> RestAction:
        options = dict(spec)
        known = {"method", "path", "body", "mapping", "external_id", "idempotency_header", "find"}
        unknown = sorted(set(options) - known)
        if unknown:
            raise ValueError(f"action {name!r}: unknown setting(s) {', '.join(unknown)}")
        method = str(options.get("method", "POST")).upper()
        if method not in METHODS:
            raise ValueError(f"action {name!r}: method {method!r} is not one of {sorted(METHODS)}")
        body = options.get("body")
        if body is not None and body not in ("passthrough", "none"):
            raise ValueError(f"action {name!r}: body must be 'passthrough' or 'none'")
        if body == "none" and options.get("mapping"):
            raise ValueError(f"action {name!r}: body 'none' and a mapping exclude each other")
        ext = options.get("external_id", DEFAULT_EXTERNAL_ID_PATHS)
        paths = (ext,) if isinstance(ext, str) else tuple(str(p) for p in ext or ())
        find_spec = options.get("find")
        find = None
        if find_spec is not None:
            find = cls.parse(f"{name}.find", {"method": "GET", "body": "none", **find_spec}, None)
        return cls(
            method=method,
            path=str(options.get("path", "/")),
            body=body,
            mapping=options.get("mapping"),
            external_id=paths,
            idempotency_header=options.get("idempotency_header", default_idempotency_header),
            find=find,
        )

    @property
    def sends_body(self) -> bool:
        if self.mapping:
            return True
        if self.body is None:
            return self.method in ("POST", "PUT", "PATCH")
        return self.body == "passthrough"


def _mapping_loader(mappings_dir: Path) -> Callable[[str], BodyMapping]:
    def load(name: str) -> BodyMapping:
        from revflow.mapping.compiler import compile_mapping

        for suffix in (".yaml", ".yml"):
            path = mappings_dir / f"{name}{suffix}"
            if path.is_file():
                return compile_mapping(path.read_bytes(), str(path), path=path)
        raise ValueError(f"mapping {name!r} not found in {mappings_dir}")

    return load


class RestConnector(HttpClientOwner, Connector):
    """Call a JSON HTTP API as configured per action (see the module docstring)."""

    def __init__(
        self,
        base_url: str,
        actions: Mapping[str, RestAction | Mapping[str, Any]],
        *,
        auth: Auth | Mapping[str, Any] | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        headers: Mapping[str, str] | None = None,
        idempotency_header: str | None = DEFAULT_IDEMPOTENCY_HEADER,
        mappings_dir: str | Path = "mappings",
        mappings: Mapping[str, BodyMapping] | None = None,
        mapping_loader: Callable[[str], BodyMapping] | None = None,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError("RestConnector base_url must be an http(s) URL")
        if not actions:
            raise ValueError("RestConnector needs at least one action")
        self.base_url = base_url.rstrip("/")
        self.actions = {
            name: spec
            if isinstance(spec, RestAction)
            else RestAction.parse(name, spec, idempotency_header)
            for name, spec in actions.items()
        }
        self.auth = auth if isinstance(auth, Auth) else make_auth(auth)
        self.timeout_s = timeout_s
        self.extra_headers = dict(headers or {})
        load = mapping_loader or _mapping_loader(Path(mappings_dir))
        self.mappings: dict[str, BodyMapping] = dict(mappings or {})
        for action in self.actions.values():  # fail at start-up, not at the first call
            if action.mapping and action.mapping not in self.mappings:
                self.mappings[action.mapping] = load(action.mapping)
        self.init_client(http_client)

    async def aclose(self) -> None:
        await self.close_client()

    @classmethod
    def from_settings(cls, name: str, settings: Mapping[str, Any]) -> RestConnector:
        options = dict(settings)
        if not options.get("base_url") or not options.get("actions"):
            raise ValueError(f"rest connector {name!r} needs 'base_url' and 'actions'")
        try:
            return cls(**options)
        except TypeError as exc:
            raise ValueError(f"rest connector {name!r}: {exc}") from exc
        except ValueError as exc:
            raise ValueError(f"rest connector {name!r}: {exc}") from exc

    # -- requests ---------------------------------------------------------------------

    def _action(self, action: str) -> RestAction:
        spec = self.actions.get(action)
        if spec is None:
            known = ", ".join(sorted(self.actions))
            raise FatalError(f"no REST action {action!r} configured (configured: {known})")
        return spec

    def url_for(self, spec: RestAction, payload: Mapping[str, Any], ctx: CallContext) -> str:
        scope = {
            **payload,
            "idempotency_key": ctx.idempotency_key,
            "correlation_id": ctx.correlation_id,
            "action": ctx.action,
        }

        def fill(match: re.Match[str]) -> str:
            value = lookup_path(scope, match.group(1))
            if value is None or value == "" or isinstance(value, Mapping | list):
                raise FatalError(
                    f"path {spec.path!r} needs {match.group(1)!r} in the payload",
                    details={"missing": match.group(1)},
                )
            return quote(str(value), safe="")

        path = _FIELD.sub(fill, spec.path)
        if path.startswith(("http://", "https://")):
            return path
        return f"{self.base_url}/{path.lstrip('/')}"

    def body_for(self, spec: RestAction, payload: dict[str, Any]) -> bytes | None:
        if not spec.sends_body:
            return None
        document: Any = payload
        if spec.mapping:
            try:
                document = self.mappings[spec.mapping].apply(payload)
            except Exception as exc:  # MappingEvalError/MappingRuleError, or a plugged mapping
                raise FatalError(
                    f"mapping {spec.mapping!r} failed: {exc}", details={"mapping": spec.mapping}
                ) from exc
        try:
            return json.dumps(document, separators=(",", ":"), default=_json_default).encode()
        except (TypeError, ValueError) as exc:
            raise FatalError(f"cannot encode the request body: {exc}") from exc

    async def _send(
        self, spec: RestAction, payload: dict[str, Any], ctx: CallContext
    ) -> httpx.Response:
        url = self.url_for(spec, payload, ctx)
        body = self.body_for(spec, payload)
        timeout = min(self.timeout_s, ctx.timeout_s) if ctx.timeout_s > 0 else self.timeout_s
        headers = {
            "accept": "application/json",
            **self.extra_headers,
            "x-correlation-id": ctx.correlation_id,
        }
        if body is not None:
            headers["content-type"] = "application/json"
        if spec.idempotency_header:
            headers[spec.idempotency_header] = ctx.idempotency_key
        retried = False
        while True:
            auth_headers = await self.auth.headers(self.client, timeout)
            try:
                response = await self.client.request(
                    spec.method,
                    url,
                    content=body,
                    headers={**headers, **auth_headers},
                    timeout=timeout,
                )
            except httpx.TransportError as exc:
                raise classify_transport(exc) from exc
            if response.status_code == 401 and not retried and self.auth.invalidate():
                retried = True  # the cached token may have been revoked early: once more
                continue
            return response

    async def call(self, action: str, payload: dict[str, Any], ctx: CallContext) -> CallResult:
        spec = self._action(action)
        response = await self._send(spec, payload, ctx)
        error = classify_response(response)
        if error is not None:
            raise error
        return _result(response, spec.external_id)

    async def find_existing(
        self, action: str, payload: dict[str, Any], ctx: CallContext
    ) -> CallResult | None:
        """Ask the configured ``find`` request; ``None`` when there is none or it fails."""
        spec = self._action(action).find
        if spec is None:
            return None
        try:
            response = await self._send(spec, payload, ctx)
        except ConnectorError:
            return None
        if classify_response(response) is not None:
            return None
        result = _result(response, spec.external_id)
        return result if result.external_id is not None else None


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _result(response: httpx.Response, paths: Sequence[str]) -> CallResult:
    try:
        parsed = response.json() if response.content else {}
    except ValueError:
        parsed = {"text": response.text[:MAX_BODY_CHARS]}
    data: dict[str, Any] = parsed if isinstance(parsed, dict) else {"data": parsed}
    external_id = None
    for path in paths:
        found = lookup_path(data, path)
        if found not in (None, "") and not isinstance(found, Mapping | list):
            external_id = str(found)
            break
    return CallResult(external_id=external_id, response=data, status_code=response.status_code)

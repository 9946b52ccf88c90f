"""An async client for the few REST calls Revflow makes: query and sObject Collections.

Every call carries ``Sforce-Call-Options: client=<id>`` so ingestion can recognise
Revflow's own writes in change events, re-authenticates once on
``INVALID_SESSION_ID``, reads the org's API usage from ``Sforce-Limit-Info`` and
counts itself against Revflow's API budget (``budget.ApiBudget``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt

from revflow.metrics import SALESFORCE_CALLS
from revflow.salesforce.auth import Token, TokenProvider
from revflow.salesforce.budget import ApiBudget
from revflow.salesforce.errors import (
    RequestLimitExceeded,
    SalesforceError,
    SessionExpired,
    TransientError,
)

_LIMIT_RE = re.compile(r"api-usage=(\d+)/(\d+)")
COLLECTION_LIMIT = 200


@dataclass
class ApiUsage:
    """What Revflow knows of the org's daily allocation, and its own share of it."""

    used: int | None = None
    limit: int | None = None
    calls_made: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)  # "GET query", "PATCH composite"...

    def read(self, header: str | None) -> None:
        if header and (m := _LIMIT_RE.search(header)):
            self.used, self.limit = int(m.group(1)), int(m.group(2))


if TYPE_CHECKING:  # annotation only: the client does not load the settings
    from revflow.config import SalesforceSettings


@dataclass(frozen=True)
class RecordError:
    status_code: str
    message: str
    fields: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RecordResult:
    """One record's outcome in an sObject Collections call (matched by position).

    For creates ``record_id`` is the new id (None when the create failed); a published
    platform event succeeds with an ``OPERATION_ENQUEUED`` entry in ``errors``.
    """

    record_id: str | None
    success: bool
    errors: list[RecordError]


class SalesforceClient:
    def __init__(
        self,
        tokens: TokenProvider,
        api_version: str,
        call_options_client: str,
        http: httpx.AsyncClient | None = None,
        timeout_s: float = 30.0,
        budget: ApiBudget | None = None,
    ) -> None:
        self.tokens = tokens
        self.api_version = api_version
        self.call_options = f"client={call_options_client}"
        self._http = http or httpx.AsyncClient(
            timeout=timeout_s, limits=httpx.Limits(max_connections=20)
        )
        self.usage = ApiUsage()
        self.budget = budget or ApiBudget()

    @classmethod
    def from_settings(cls, settings: SalesforceSettings) -> SalesforceClient:
        """A client for the configured org, signing in with its own token provider."""
        return cls(TokenProvider(settings), settings.api_version, settings.call_options_client)

    @property
    def http(self) -> httpx.AsyncClient:
        """The HTTP client, for the few calls that are not REST (SOAP getUserInfo)."""
        return self._http

    def _url(self, token: Token, path: str) -> str:
        if path.startswith("/services/"):
            return token.instance_url.rstrip("/") + path
        return f"{token.instance_url.rstrip('/')}/services/data/v{self.api_version}/{path}"

    async def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """One REST call; returns the parsed JSON body (None on 204)."""
        token = await self.tokens.token()
        async for attempt in reauthenticating():
            with attempt:
                if attempt.retry_state.attempt_number > 1:
                    token = await self.tokens.token(refresh=True, stale=token)
                return await self._send(token, method, path, **kwargs)
        raise AssertionError("unreachable")

    async def _send(self, token: Token, method: str, path: str, **kwargs: Any) -> Any:
        headers = {
            "Authorization": f"Bearer {token.access_token}",
            "Sforce-Call-Options": self.call_options,
        }
        try:
            resp = await self._http.request(
                method, self._url(token, path), headers=headers, **kwargs
            )
        except httpx.HTTPError as exc:
            raise TransientError(0, "NETWORK_ERROR", str(exc) or type(exc).__name__) from exc
        self.usage.calls_made += 1
        kind = f"{method} {_kind(path)}"
        self.usage.by_kind[kind] = self.usage.by_kind.get(kind, 0) + 1
        SALESFORCE_CALLS.inc()
        self.usage.read(resp.headers.get("Sforce-Limit-Info"))
        if resp.status_code not in (401, 403):  # refused calls do not count
            self.budget.count(resp.headers.get("Sforce-Limit-Info"))
        _raise_for_status(resp)
        return resp.json() if resp.content else None

    async def query(self, soql: str) -> list[dict[str, Any]]:
        """All records of a SOQL query, following ``nextRecordsUrl``."""
        body = await self.request("GET", "query", params={"q": soql})
        records = list(body["records"])
        while not body.get("done", True):
            body = await self.request("GET", body["nextRecordsUrl"])
            records.extend(body["records"])
        return records

    async def update_records(self, records: list[dict[str, Any]]) -> list[RecordResult]:
        """PATCH up to 200 records with ``allOrNone: false``; one result per record, in order.

        Each record is ``{"attributes": {"type": ...}, "id": ..., <fields>}``.
        """
        return await self._collection("PATCH", records)

    async def create_records(self, records: list[dict[str, Any]]) -> list[RecordResult]:
        """POST up to 200 new records or platform events (``allOrNone: false``), in order.

        Each record is ``{"attributes": {"type": ...}, <fields>}``; types may be mixed.
        Platform events are published (asynchronously, as on ``POST sobjects/X__e``).
        """
        return await self._collection("POST", records)

    async def _collection(self, method: str, records: list[dict[str, Any]]) -> list[RecordResult]:
        if len(records) > COLLECTION_LIMIT:
            raise ValueError(f"at most {COLLECTION_LIMIT} records per call, got {len(records)}")
        body = await self.request(
            method, "composite/sobjects", json={"allOrNone": False, "records": records}
        )
        return [
            RecordResult(
                record_id=res.get("id") or rec.get("id"),
                success=bool(res.get("success")),
                errors=[
                    RecordError(
                        status_code=e.get("statusCode") or e.get("errorCode") or "UNKNOWN",
                        message=e.get("message", ""),
                        fields=list(e.get("fields") or []),
                    )
                    for e in res.get("errors") or []
                ],
            )
            for rec, res in zip(records, body, strict=True)
        ]

    async def aclose(self) -> None:
        await self._http.aclose()


def reauthenticating() -> AsyncRetrying:
    """Two attempts: after ``INVALID_SESSION_ID`` the caller renews the token and the
    call is made once more, at once; a second expiry is raised."""
    return AsyncRetrying(
        stop=stop_after_attempt(2), retry=retry_if_exception_type(SessionExpired), reraise=True
    )


def _kind(path: str) -> str:
    """``query``, ``composite/sobjects``, ``sobjects``... of a relative or full path."""
    tail = re.sub(r"^/services/data/v[\d.]+/", "", path).split("?")[0]
    parts = tail.strip("/").split("/")
    return "/".join(parts[:2]) if parts[0] == "composite" else parts[0]


def _raise_for_status(resp: httpx.Response) -> None:
    if resp.status_code < 300:
        return
    code, message = "UNKNOWN", resp.text[:500]
    try:
        body = resp.json()
        first = body[0] if isinstance(body, list) and body else body
        if isinstance(first, dict):
            code = first.get("errorCode") or first.get("error") or code
            message = first.get("message") or first.get("error_description") or message
    except ValueError:
        pass
    if resp.status_code == 401 or code == "INVALID_SESSION_ID":
        raise SessionExpired(resp.status_code, code, message)
    if code == "REQUEST_LIMIT_EXCEEDED":
        raise RequestLimitExceeded(resp.status_code, code, message)
    if resp.status_code >= 500 or code in ("UNABLE_TO_LOCK_ROW", "SERVER_UNAVAILABLE"):
        raise TransientError(resp.status_code, code, message)
    raise SalesforceError(resp.status_code, code, message)

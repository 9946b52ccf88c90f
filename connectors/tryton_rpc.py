"""Tryton's JSON-RPC: the wire format, the session and one call with its errors.

``TrytonRpc`` logs in (``common.db.login``), sends ``Authorization: Session ...``,
adds the user's context to every model call, logs in again once on HTTP 401 and
classifies Tryton's answers as connector errors (see ``revflow.connectors.tryton``
for the table).  ``TrytonConnector`` builds its sales and invoices on it.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Any

import httpx

from revflow.connectors.errors import (
    AmbiguousError,
    ConnectorError,
    FatalError,
    RateLimitedError,
    RetryableError,
)

__all__ = ["TrytonRpc", "session_header", "tryton_decode", "tryton_encode", "tryton_error"]

_TRANSIENT = ("database is locked", "could not serialize", "deadlock", "OperationalError")


def tryton_encode(value: Any) -> Any:
    """Decimals and dates as Tryton's JSON-RPC sends them (``{"__class__": ...}``)."""
    if isinstance(value, Decimal):
        return {"__class__": "Decimal", "decimal": str(value)}
    if isinstance(value, date):
        return {"__class__": "date", "year": value.year, "month": value.month, "day": value.day}
    if isinstance(value, Mapping):
        return {k: tryton_encode(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [tryton_encode(v) for v in value]
    return value


def tryton_decode(value: Any) -> Any:
    """The inverse of ``tryton_encode`` for the classes a sale or invoice read returns."""
    if isinstance(value, dict):
        cls = value.get("__class__")
        if cls == "Decimal":
            return Decimal(value["decimal"])
        if cls == "date":
            return date(value["year"], value["month"], value["day"])
        if cls in ("datetime", "time", "timedelta", "bytes"):
            return value  # not needed by the connector; keep as sent
        return {k: tryton_decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [tryton_decode(v) for v in value]
    return value


def session_header(user: str, user_id: int, session: str) -> str:
    token = base64.b64encode(f"{user}:{user_id}:{session}".encode()).decode("ascii")
    return f"Session {token}"


def tryton_error(error: Any, method: str) -> ConnectorError:
    """Classify the ``error`` member of a JSON-RPC answer."""
    if isinstance(error, list | tuple) and len(error) >= 2 and isinstance(error[1], list | tuple):
        kind, args = error[0], list(error[1])
        if kind == "UserError":
            message = str(args[0]) if args else "UserError"
            description = str(args[1]) if len(args) > 1 and args[1] else ""
            text = f"{message} {description}".strip() if description else message
            return FatalError(text, details={"tryton_error": kind, "method": method})
        if kind == "UserWarning":
            text = " ".join(str(a) for a in args[1:3] if a) or str(args[0])
            return FatalError(
                text, details={"tryton_error": kind, "warning": args[0], "method": method}
            )
        if kind == "ConcurrencyException":
            return RetryableError(
                str(args[0]) if args else kind, details={"tryton_error": kind, "method": method}
            )
        if kind == "LoginException":
            return FatalError(
                f"Tryton asks for {args[0] if args else 'more'} to log in",
                details={"tryton_error": kind},
            )
    text = str(error[0]) if isinstance(error, list | tuple) and error else str(error)
    details = {"tryton_error": "exception", "method": method}
    if any(marker in text for marker in _TRANSIENT):
        return RetryableError(f"Tryton: {text}", details=details)
    return FatalError(f"Tryton {method} failed: {text}", details=details)


class TrytonRpc:
    """One Tryton database's JSON-RPC endpoint, as one user."""

    def __init__(
        self,
        url: str,
        database: str,
        user: str,
        password: str,
        *,
        language: str = "en",
        timeout_s: float = 30.0,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.database = database
        self.user = user
        self.password = password
        self.language = language
        self.timeout_s = timeout_s
        self._own_http = http_client is None
        self.http = http_client or httpx.AsyncClient()
        self._session: str | None = None
        self._context: dict[str, Any] = {}
        self._login_lock = asyncio.Lock()
        self._ids = itertools.count(1)
        self.logins = 0

    @property
    def rpc_url(self) -> str:
        return f"{self.url}/{self.database}/rpc/"

    # -- JSON-RPC --------------------------------------------------------------------

    async def _post(
        self, method: str, params: list[Any], *, write: bool, timeout_s: float, auth: bool = True
    ) -> httpx.Response:
        headers = {"Authorization": self._session} if auth and self._session else {}
        body = {"id": next(self._ids), "method": method, "params": tryton_encode(params)}
        try:
            return await self.http.post(self.rpc_url, json=body, headers=headers, timeout=timeout_s)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise RetryableError(f"Tryton unreachable: {exc!r}") from exc
        except (httpx.TimeoutException, httpx.RemoteProtocolError, httpx.ReadError) as exc:
            if write:
                raise AmbiguousError(
                    f"Tryton {method}: no answer after sending ({type(exc).__name__})",
                    details={"method": method},
                ) from exc
            raise RetryableError(f"Tryton {method}: {type(exc).__name__}") from exc
        except httpx.TransportError as exc:
            raise RetryableError(f"Tryton {method}: {exc!r}") from exc

    def _check_status(self, response: httpx.Response, method: str) -> None:
        status = response.status_code
        if status < 300:
            return
        text = response.text[:500]
        details = {"method": method, "body": text}
        if status in (429, 503):
            retry_after = response.headers.get("retry-after")
            raise RateLimitedError(
                f"Tryton {method}: HTTP {status}",
                retry_after=float(retry_after) if retry_after and retry_after.isdigit() else None,
                status_code=status,
                details=details,
            )
        if status == 408 or status >= 500:
            raise RetryableError(f"Tryton {method}: HTTP {status}", status_code=status)
        if status == 404:
            raise FatalError(
                f"Tryton has no database {self.database!r} at {self.url} (HTTP 404)",
                status_code=status,
                details=details,
            )
        raise FatalError(
            f"Tryton {method}: HTTP {status} {text}", status_code=status, details=details
        )

    async def _login(self, timeout_s: float) -> None:
        async with self._login_lock:
            if self._session is not None:
                return
            response = await self._post(
                "common.db.login",
                [self.user, {"password": self.password}, self.language],
                write=False,
                timeout_s=timeout_s,
                auth=False,
            )
            if response.status_code in (401, 403):
                raise FatalError(
                    f"Tryton refused the login of user {self.user!r} on {self.database!r}",
                    status_code=response.status_code,
                )
            self._check_status(response, "common.db.login")
            body = response.json()
            if body.get("error") is not None:
                raise tryton_error(body["error"], "common.db.login")
            user_id, session = body["result"][0], body["result"][1]
            self._session = session_header(self.user, user_id, session)
            self.logins += 1
            try:
                preferences = await self._call_once(
                    "model.res.user.get_preferences", [True, {}], write=False, timeout_s=timeout_s
                )
            except _SessionExpired:
                self._session = None
                raise RetryableError("Tryton refused the session it had just opened") from None
            self._context = dict(preferences or {})

    async def _call_once(
        self, method: str, params: list[Any], *, write: bool, timeout_s: float
    ) -> Any:
        response = await self._post(method, params, write=write, timeout_s=timeout_s)
        if response.status_code == 401:
            raise _SessionExpired
        self._check_status(response, method)
        try:
            body = response.json()
        except ValueError:
            raise RetryableError(
                f"Tryton {method}: answer is not JSON", status_code=response.status_code
            ) from None
        if body.get("error") is not None:
            raise tryton_error(body["error"], method)
        return tryton_decode(body.get("result"))

    async def rpc(
        self, method: str, *args: Any, write: bool = False, timeout_s: float | None = None
    ) -> Any:
        """Call ``method`` with ``args`` and the user's context; log in as needed."""
        timeout = timeout_s or self.timeout_s
        for _ in range(2):
            if self._session is None:
                await self._login(timeout)
            session = self._session
            try:
                return await self._call_once(
                    method, [*args, self._context], write=write, timeout_s=timeout
                )
            except _SessionExpired:
                # the session expired: log in again (once) and repeat; a 401 is sent
                # before anything runs, so repeating a write is safe
                if self._session == session:
                    self._session = None
        raise RetryableError(f"Tryton {method}: session refused right after login")

    # -- the connector ------------------------------------------------------------------

    async def aclose(self) -> None:
        if self._own_http:
            await self.http.aclose()


class _SessionExpired(Exception):
    """HTTP 401 on a model call: log in again."""

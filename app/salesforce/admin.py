"""The org's admin APIs through simple-salesforce, for ``revflow salesforce setup|doctor``.

    admin = await OrgAdmin.connect(settings.salesforce)   # Revflow's own OAuth flow
    rows = await admin.query("SELECT Id FROM PermissionSet WHERE Name = 'X'")

simple-salesforce is synchronous (requests): every call runs in a thread
(``asyncio.to_thread``).  Revflow signs in with its own ``TokenProvider`` (JWT or client
credentials, as ``revflow run`` does) and hands simple-salesforce the access token and
instance URL.  simple-salesforce always builds ``https://`` URLs; a private CA (the
sandbox org's, ``app/sandbox/tls.py``) is trusted through ``REQUESTS_CA_BUNDLE`` or
``verify``.  Its errors, and network errors, become one ``AdminError`` with Salesforce's
code and message.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import quote

import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceError as SimpleError

from revflow.config import SalesforceSettings
from revflow.salesforce.auth import Token, TokenProvider
from revflow.salesforce.deploy_status import DeployResult, DeployStatusError, check_deploy_status
from revflow.salesforce.errors import AuthError

T = TypeVar("T")
CALL_OPTIONS = "revflow-setup"  # Sforce-Call-Options client of these calls


class AdminError(Exception):
    """A refused or failed admin call: Salesforce's error code and message."""

    def __init__(self, code: str, message: str, status: int = 0) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


def _admin_error(exc: Exception) -> AdminError:
    if isinstance(exc, SimpleError):
        content = exc.content
        first = content[0] if isinstance(content, list) and content else content
        if isinstance(first, dict):
            code = str(first.get("errorCode") or first.get("error") or "UNKNOWN")
            return AdminError(code, str(first.get("message") or ""), exc.status)
        text = content.decode(errors="replace") if isinstance(content, bytes) else str(content)
        return AdminError(f"HTTP_{exc.status}", text[:300], exc.status)
    if isinstance(exc, DeployStatusError):
        return AdminError(exc.code, exc.message)
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        status = exc.response.status_code
        return AdminError(f"HTTP_{status}", exc.response.text[:300], status)
    if isinstance(exc, requests.RequestException):
        return AdminError("NETWORK_ERROR", str(exc) or type(exc).__name__)
    return AdminError(type(exc).__name__, str(exc))


class OrgAdmin:
    """One signed-in simple-salesforce session (a fresh one per command)."""

    def __init__(self, sf: Salesforce, token: Token) -> None:
        self.sf = sf
        self.token = token

    @classmethod
    def from_token(cls, token: Token, api_version: str, verify: bool | str = True) -> OrgAdmin:
        session = requests.Session()
        if verify is not True:
            session.verify = verify
        sf = Salesforce(
            instance_url=token.instance_url,
            session_id=token.access_token,
            version=api_version,
            session=session,
        )
        sf.headers["Sforce-Call-Options"] = f"client={CALL_OPTIONS}"
        return cls(sf, token)

    @classmethod
    async def connect(
        cls,
        settings: SalesforceSettings,
        tokens: TokenProvider | None = None,
        verify: bool | str = True,
    ) -> OrgAdmin:
        """Sign in (AuthError names Salesforce's refusal) and build the session."""
        provider = tokens or TokenProvider(settings)
        try:
            token = await provider.token()
        finally:
            if tokens is None:
                await provider.aclose()
        return cls.from_token(token, settings.api_version, verify)

    @property
    def user_id(self) -> str:
        """The signed-in user's id (the last segment of the identity URL)."""
        return self.token.identity_url.rstrip("/").rsplit("/", 1)[-1]

    async def _run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        try:
            return await asyncio.to_thread(fn, *args, **kwargs)
        except (SimpleError, DeployStatusError, requests.RequestException) as exc:
            raise _admin_error(exc) from exc

    # ---- REST -------------------------------------------------------------------------
    async def versions(self) -> list[str]:
        """The API versions the org serves (``GET /services/data/``)."""
        url = f"https://{self.sf.sf_instance}/services/data/"

        def get() -> list[str]:
            resp = self.sf.session.get(url, headers=self.sf.headers, timeout=30)
            resp.raise_for_status()
            return [str(v.get("version")) for v in resp.json()]

        return await self._run(get)

    async def query(self, soql: str) -> list[dict[str, Any]]:
        result = await self._run(self.sf.query_all, soql)
        return list(result.get("records") or [])

    async def describe(self, sobject: str) -> dict[str, Any]:
        return dict(await self._run(getattr(self.sf, sobject).describe))

    async def limits(self) -> dict[str, Any]:
        return dict(await self._run(self.sf.limits))

    async def create(self, sobject: str, values: dict[str, Any]) -> dict[str, Any]:
        return dict(await self._run(getattr(self.sf, sobject).create, values))

    async def tooling_query(self, soql: str) -> list[dict[str, Any]]:
        answer = await self._run(self.sf.toolingexecute, f"query/?q={quote(soql)}")
        return list(answer.get("records") or []) if isinstance(answer, dict) else []

    async def tooling_create(self, sobject: str, body: dict[str, Any]) -> dict[str, Any]:
        answer = await self._run(
            self.sf.toolingexecute, f"sobjects/{sobject}/", method="POST", data=body
        )
        return answer if isinstance(answer, dict) else {}

    # ---- Metadata API -----------------------------------------------------------------
    async def deploy(self, zipped: bytes, check_only: bool) -> str:
        """Start a deploy (``rollbackOnError``, no Apex tests); returns its async id."""
        saved = dict(self.sf.headers)  # the Metadata API calls write SOAP headers into it
        try:
            started = await self._run(
                self.sf.deploy, io.BytesIO(zipped), False, checkOnly=check_only, client=CALL_OPTIONS
            )
        finally:
            self.sf.headers.clear()
            self.sf.headers.update(saved)
        if not started.get("asyncId"):
            raise AdminError("DEPLOY_NOT_STARTED", f"deploy answered no id (state {started})")
        return str(started["asyncId"])

    async def deploy_status(self, deploy_id: str) -> DeployResult:
        """``checkDeployStatus`` with details, parsed in full (file, line, column)."""
        url = self.sf.metadata_url + "deployRequest/" + deploy_id
        return await self._run(
            check_deploy_status, self.sf.session, url, self.sf.session_id, deploy_id
        )


__all__ = ["AdminError", "AuthError", "OrgAdmin"]

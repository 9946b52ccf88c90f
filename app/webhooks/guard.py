"""``EndpointGuard``: a webhook connector that knows its endpoint's state.

Wraps the connector that sends (``WebhookConnector``) and, around every call:

- endpoint disabled: sends nothing and raises ``EndpointDisabledError`` (the step is
  parked, see ``revflow.webhooks.endpoints``);
- 2xx: ends the endpoint's failure streak;
- 410 (``EndpointGoneError``): disables the endpoint at once, parks this message;
- any other failure: counts it; when that disables the endpoint (failing for
  ``DisablePolicy.after_s``, or ``after_failures`` in a row) this message is parked,
  else the original error goes to the worker, which retries on the step's schedule
  (``Retry-After`` honoured for 429/503).

The state lives in the database, so every worker process sees the same endpoint
state.  The guard keeps the row it read for ``max_age_s`` (1 s) instead of reading it
on every call (it was one query per callout): an enable or disable in this process,
and the guard's own failures, make it read again at once; one made by another
process (``revflow webhooks disable``) takes effect within ``max_age_s``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

from revflow.connectors.base import CallContext, CallResult, Connector
from revflow.connectors.errors import ConnectorError, EndpointGoneError
from revflow.db.database import Database
from revflow.db.errors import unavailable
from revflow.supervisor import describe
from revflow.webhooks import endpoints
from revflow.webhooks.endpoints import DISABLED, DisablePolicy
from revflow.webhooks.errors import EndpointDisabledError

__all__ = ["EndpointGuard"]

log = logging.getLogger("revflow.webhooks")


@dataclass(frozen=True)
class _Seen:
    """What the guard needs of the endpoint's row."""

    state: str
    disabled_reason: str | None
    consecutive_failures: int


@dataclass(frozen=True)
class _Read:
    """One read of the endpoint: its row (None: no row yet), when, at which generation."""

    row: _Seen | None
    at: float
    generation: int


class EndpointGuard(Connector):
    def __init__(
        self,
        inner: Connector,
        db: Database,
        *,
        name: str,
        url: str = "",
        policy: DisablePolicy | None = None,
        max_age_s: float = 1.0,
    ) -> None:
        self.inner = inner
        self.db = db
        self.name = name
        self.url = url or str(getattr(inner, "url", ""))
        self.policy = policy or DisablePolicy()
        self.max_age_s = max_age_s
        self._read: _Read | None = None
        self._reading = asyncio.Lock()
        self._epoch = 0  # bumped by _forget

    def _kept(self) -> tuple[bool, _Seen | None]:
        """(True, row) if the row last read is still good to use, else (False, None)."""
        read = self._read
        if (
            read is not None
            and read.generation == endpoints.generation()
            and time.monotonic() - read.at < self.max_age_s
        ):
            return True, read.row
        return False, None

    async def _endpoint(self) -> _Seen | None:
        """The endpoint's row as last read, read again when older than ``max_age_s`` or
        when an endpoint changed in this process since."""
        kept, seen = self._kept()
        if kept:
            return seen
        # one read for all the calls that find the row stale at once (a busy worker
        # has dozens in flight); they wait for it rather than each reading
        async with self._reading:
            kept, seen = self._kept()
            if kept:
                return seen
            now, gen, epoch = time.monotonic(), endpoints.generation(), self._epoch
            async with self.db.read() as s:
                row = await endpoints.get_endpoint(s, self.name)
            seen = None
            if row is not None:
                seen = _Seen(row.state, row.disabled_reason, row.consecutive_failures or 0)
            if epoch == self._epoch:  # not kept if a failure or success moved it meanwhile
                self._read = _Read(seen, now, gen)
            return seen

    def _forget(self) -> None:
        self._read = None
        self._epoch += 1

    async def call(self, action: str, payload: dict[str, Any], ctx: CallContext) -> CallResult:
        row = await self._endpoint()
        if row is not None and row.state == DISABLED:
            raise await self._park(ctx, row.disabled_reason or "")
        try:
            result = await self.inner.call(action, payload, ctx)
        except ConnectorError as exc:
            gone = isinstance(exc, EndpointGoneError)
            self._forget()  # the streak grows (or the endpoint is disabled): read it again
            try:
                async with self.db.write() as s:
                    reason = await endpoints.record_failure(
                        s, self.name, self.url, exc.message, self.policy, gone=gone
                    )
            except Exception as db_exc:
                if not unavailable(db_exc):
                    raise
                raise exc from None  # the database is away: retried as usual, uncounted
            if reason is None:
                raise
            raise await self._park(ctx, reason, exc.status_code) from exc
        if row is not None and row.consecutive_failures:
            self._forget()
            try:
                async with self.db.write() as s:
                    await endpoints.record_success(s, self.name)
            except Exception as db_exc:
                # the ERP has the document: a database outage must not turn the
                # delivery into a retry; the next success resets the count
                if not unavailable(db_exc):
                    raise
                log.warning(
                    "webhook success not recorded: database unavailable",
                    extra={"connector": self.name, "error": describe(db_exc)},
                )
        return result

    async def find_existing(
        self, action: str, payload: dict[str, Any], ctx: CallContext
    ) -> CallResult | None:
        return await self.inner.find_existing(action, payload, ctx)

    async def aclose(self) -> None:
        await self.inner.aclose()

    async def _park(
        self, ctx: CallContext, reason: str, status_code: int | None = None
    ) -> EndpointDisabledError:
        """The error that parks the step; ``status_code``: the answer that disabled it."""
        async with self.db.write() as s:
            await endpoints.mark_parked(s, self.name, ctx.idempotency_key, reason)
        return EndpointDisabledError(
            f"webhook endpoint {self.name!r} is disabled ({reason}); message kept",
            reason=reason,
            status_code=status_code,
        )

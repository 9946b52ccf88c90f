"""When the org check runs and what its answer does.

- At start-up: a field the org lacks stops Revflow with one message listing every
  problem (``OrgCheckError``); an unreachable org is retried a few times first.
- On a mapping reload: the new set becomes current only if the org has what it reads;
  otherwise the old set stays and a (non-blocking) incident says why, until a later
  reload passes.
- Either way intake learns the currency of a single-currency org.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping

from revflow.config import Settings
from revflow.db.database import Database
from revflow.incidents import raise_incident, resolve_incident
from revflow.mapping.errors import Problem
from revflow.mapping.model import Mapping as CompiledMapping
from revflow.salesforce.auth import AuthError
from revflow.salesforce.client import SalesforceClient
from revflow.salesforce.errors import SalesforceError
from revflow.salesforce.org_check import OrgCheck, OrgCheckError, OrgShape

log = logging.getLogger("revflow.org_check")

RELOAD_INCIDENT = "org_check:mappings_reload"
START_ATTEMPTS = 5  # 1 + 2 + 4 + 8 s of waiting for an org that does not answer


class OrgGuard:
    def __init__(
        self,
        db: Database,
        client: SalesforceClient,
        settings: Settings,
        used: Iterable[str],
        on_shape: Callable[[OrgShape], None],
        *,
        start_delay_s: float = 1.0,
    ) -> None:
        self.db = db
        self.start_delay_s = start_delay_s  # first wait before asking an org again
        self.check = OrgCheck(client, settings)
        self.settings = settings
        self.used = tuple(used)  # mappings the plan names
        self.on_shape = on_shape

    async def at_start(self, mappings: Mapping[str, CompiledMapping]) -> OrgShape:
        """Check the org or raise OrgCheckError (also when it cannot be reached)."""
        delay = self.start_delay_s
        for attempt in range(1, START_ATTEMPTS + 1):
            try:
                shape = await self.check.run(mappings, self.used)
                break
            except (AuthError, SalesforceError) as exc:
                if attempt == START_ATTEMPTS:
                    raise OrgCheckError(
                        [
                            Problem(
                                "REVFLOW_SALESFORCE__INSTANCE_URL",
                                0,
                                0,
                                "",
                                f"cannot check the org at {self.settings.salesforce.instance_url}"
                                f" (describe calls): {exc}",
                            )
                        ]
                    ) from exc
                log.warning(
                    "org check could not reach Salesforce; retrying",
                    extra={"error": str(exc), "retry_in_s": delay},
                )
                await asyncio.sleep(delay)
                delay *= 2
        self.on_shape(shape)
        return shape

    async def on_reload(self, candidate: dict[str, CompiledMapping]) -> list[Problem]:
        """The reload hook of ``MappingStore.watch``: problems keep the old set."""
        try:
            shape = await self.check.run(candidate, self.used)
        except OrgCheckError as exc:
            await raise_incident(
                self.db,
                RELOAD_INCIDENT,
                "org_check",
                f"mapping reload refused, the old mappings stay: {exc}",
                blocking=False,
                detail={"problems": [str(p) for p in exc.problems]},
            )
            return exc.problems
        await resolve_incident(self.db, RELOAD_INCIDENT, "a later reload passed the org check")
        self.on_shape(shape)
        return []

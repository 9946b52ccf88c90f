"""Copies new comments to their Order's Chatter feed (``REVFLOW_COMMENTS__MIRROR_TO_CHATTER``).

A comment is stored with ``mirror_state = 'pending'`` in the transaction that adds
it; this loop claims due ones under a lease, posts each as a Feed Item on the
Order (``chatter/feed-elements``, with a link to the plan), then marks it ``sent``
with the feed item's id.  A transient failure (network, 5xx, API limit) is tried
again with a doubling delay; a refusal, or ``mirror_max_attempts`` failures, marks
it ``failed`` with the reason.  A crash between the post and the mark can post a
comment twice (Chatter has no idempotency key): at least once, never lost.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from revflow.aio import Beat, no_beat, sleep_until
from revflow.clock import utcnow
from revflow.comments import repository
from revflow.comments.settings import CommentSettings
from revflow.db.database import Database
from revflow.db.models import Comment
from revflow.links import ConsoleSettings, plan_url
from revflow.metrics import COMMENTS_MIRRORED
from revflow.salesforce.chatter import post_to_record
from revflow.salesforce.client import SalesforceClient
from revflow.salesforce.errors import (
    RequestLimitExceeded,
    SalesforceError,
    SessionExpired,
    TransientError,
)

log = logging.getLogger("revflow.comments")
BATCH = 20


def mirror_text(comment: Comment) -> str:
    """What the Feed Item says: who commented on which plan (and step), and the body."""
    where = f"plan {comment.plan_id}" + (f", step {comment.step_key}" if comment.step_key else "")
    return f"{comment.author_name} commented in Revflow ({where}):\n{comment.body}"


class ChatterMirror:
    """The loop that posts pending comments to Chatter."""

    def __init__(
        self,
        db: Database,
        client: SalesforceClient,
        settings: CommentSettings,
        console: ConsoleSettings | None = None,
    ) -> None:
        self.db = db
        self.client = client
        self.settings = settings
        self.console = console or ConsoleSettings()

    async def run(self, stop: asyncio.Event, beat: Beat = no_beat) -> None:
        while not stop.is_set():
            busy = await self.tick()
            beat()
            if not busy:
                await sleep_until(self.settings.mirror_interval_s, stop)

    async def tick(self) -> int:
        """Post one batch of due comments; how many were tried."""
        now = utcnow()
        async with self.db.write() as s:
            rows = await repository.due_mirrors(s, now, BATCH, self.db.is_sqlite)
            until = now + timedelta(seconds=self.settings.mirror_lease_s)
            await repository.lease_mirrors(s, [c.id for c, _ in rows], until)
            jobs = [(c.id, c.mirror_attempts, order_id, mirror_text(c), c.plan_id)
                    for c, order_id in rows]  # fmt: skip
        for comment_id, attempts, order_id, text, plan_id in jobs:
            await self._post(comment_id, attempts, order_id, text, plan_id)
        return len(jobs)

    async def _post(
        self, comment_id: int, attempts: int, order_id: str, text: str, plan_id: int
    ) -> None:
        values: dict[str, object] = {"mirror_lease_until": None, "mirror_attempts": attempts + 1}
        try:
            feed_id = await post_to_record(
                self.client, order_id, text, link=plan_url(self.console, plan_id)
            )
        except SalesforceError as exc:
            reason = f"{exc.code}: {exc.message}"[:1000]
            transient = isinstance(exc, TransientError | RequestLimitExceeded | SessionExpired)
            if transient and attempts + 1 < self.settings.mirror_max_attempts:
                delay = self.settings.mirror_backoff_s * 2**attempts
                values.update(
                    mirror_error=reason, mirror_due_at=utcnow() + timedelta(seconds=delay)
                )
                COMMENTS_MIRRORED.labels(outcome="retry").inc()
            else:
                values.update(mirror_state="failed", mirror_error=reason, mirror_due_at=None)
                COMMENTS_MIRRORED.labels(outcome="failed").inc()
                log.warning(
                    "comment not mirrored to Chatter",
                    extra={"comment_id": comment_id, "error": reason},
                )
        else:
            COMMENTS_MIRRORED.labels(outcome="sent").inc()
            values.update(
                mirror_state="sent", chatter_id=feed_id, mirror_error=None, mirror_due_at=None
            )
        async with self.db.write() as s:
            await repository.update_mirror(s, comment_id, values)

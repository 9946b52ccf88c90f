"""What the plan page shows of people's notes: the plan's comments in its timeline
beside the automated events (the audit trail), and the plan's alerts.

``load`` reads them through the comments service and the alerts repository;
``merge`` (pure) interleaves comments and audit entries by time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from markupsafe import Markup
from sqlalchemy.ext.asyncio import AsyncSession

from revflow.alerts import repository as alerts_repository
from revflow.clock import aware
from revflow.comments import render as comment_render
from revflow.comments import repository as comments_repository
from revflow.db.models import Alert, Comment

PLAN_ALERTS = 20  # the plan page's alerts section; the rest are on /console/alerts?plan=


@dataclass(frozen=True)
class Entry:
    """One line of the plan's timeline: an audit entry or a comment."""

    at: datetime
    actor: str
    action: str  # the audit action, or "comment"
    detail: str = ""  # the audit entry's detail as indented JSON
    html: Markup | None = None  # a comment's body, rendered safely
    step: str | None = None  # the step a comment is about

    @property
    def is_comment(self) -> bool:
        return self.html is not None


@dataclass(frozen=True)
class PlanNotes:
    comments: list[Comment]
    alerts: list[Alert]
    alerts_total: int


async def load(s: AsyncSession, plan_id: int) -> PlanNotes:
    comments = await comments_repository.of_plan(s, plan_id)
    alerts, total = await alerts_repository.alert_history(s, plan_id=plan_id, limit=PLAN_ALERTS)
    return PlanNotes(comments, alerts, total)


def comment_entry(c: Comment) -> Entry:
    who = c.author_name if c.author_name == c.author else f"{c.author_name} ({c.author})"
    # the renderer turns raw HTML into text and refuses script links: safe to embed
    html = Markup(comment_render.render(c.body, c.format))  # noqa: S704
    return Entry(aware(c.created_at), who, "comment", html=html, step=c.step_key)


def merge(
    trail: Sequence[tuple[datetime, str, str, str]], comments: Sequence[Comment]
) -> list[Entry]:
    """Audit entries ``(at, actor, action, detail)`` and comments, oldest first."""
    entries = [Entry(aware(at), actor, action, detail) for at, actor, action, detail in trail]
    entries += [comment_entry(c) for c in comments]
    return sorted(entries, key=lambda e: e.at)  # stable: an event before its comment at a tie

"""Who an ``@name`` in a comment is, and telling them through the alert channels.

A name is a local user's username; an identity that has logged in (OpenID Connect)
under that name, or under an email whose local part it is; or a team of the alert
rules file (``teams:``).  Each one mentioned gets an alert of kind ``mention``: the
rules that name ``mention`` in ``events:`` give its severity and the channels of their
first level, and the person mentioned replaces that level's recipients (an email
goes out only when their address is known; Salesforce channels need a User id, so
they are left out).  Without such a rule nobody is told.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace

from sqlalchemy.ext.asyncio import AsyncSession

from revflow.alerts.channels.base import RecipientKind
from revflow.alerts.events import AlertEvent
from revflow.alerts.message import EventKind
from revflow.alerts.rules import Level, Rule, Target
from revflow.alerts.runtime import current
from revflow.alerts.service import raise_alerts
from revflow.comments import repository
from revflow.comments.render import excerpt
from revflow.db.models import Comment, Plan

PERSONAL_CHANNELS = ("email", "slack", "teams", "webhook")  # no Salesforce User id known


@dataclass(frozen=True)
class Person:
    username: str  # as mentioned, lower case
    subject: str  # user:ada, oidc:<issuer>#<sub>, team:finance-ops
    name: str
    email: str | None = None
    team: bool = False


def teams() -> Collection[str]:
    """The team names of the alert rules in use (none without rules)."""
    runtime = current()
    return list(runtime.rules.teams) if runtime is not None else []


async def resolve(
    s: AsyncSession, names: Sequence[str], team_names: Collection[str] = ()
) -> list[Person]:
    """The people ``names`` mention, in the order named; unknown names are left out."""
    found: dict[str, Person] = {}
    for user in await repository.local_users(s, names):
        username = user.username.lower()
        found[username] = Person(username, f"user:{user.username}", user.username)
    missing = [n for n in names if n not in found]
    for subject, name in await repository.session_identities(s, missing):
        username = name.lower().split("@")[0]
        if username in missing and username not in found:
            email = name if "@" in name else None
            found[username] = Person(username, subject, name, email)
    by_lower = {t.lower(): t for t in team_names}
    for n in names:
        if n not in found and n in by_lower:
            found[n] = Person(n, f"team:{by_lower[n]}", by_lower[n], team=True)
    return [found[n] for n in names if n in found]


async def notify(s: AsyncSession, comment: Comment, plan: Plan, people: Sequence[Person]) -> int:
    """Raise one ``mention`` alert per person and rule; how many were raised."""
    runtime = current()
    if runtime is None or not people:
        return 0
    rules = [r for r in runtime.rules.rules if EventKind.MENTION in r.events]
    raised = 0
    for person in people:
        event = AlertEvent(
            EventKind.MENTION,
            subject=f"comment:{comment.id}:{person.username}",
            title=f"{comment.author_name} mentioned {person.name} on order {{order}}",
            summary=excerpt(comment.body),
            plan_id=plan.id,
            plan_definition=plan.definition,
            order_id=plan.order_id,
            step=comment.step_key,
        )
        personal = tuple(_for(rule, person) for rule in rules)
        only = replace(runtime, rules=replace(runtime.rules, rules=personal))
        raised += len(await raise_alerts(s, [event], runtime=only))
    return raised


def _for(rule: Rule, person: Person) -> Rule:
    """``rule`` with its first level's channels sent to ``person`` alone."""
    channels = dict.fromkeys(c for t in rule.levels[0].targets for c in t.channels)
    if person.team:
        target = Target(RecipientKind.TEAM, person.name, tuple(channels))
    else:
        usable = [c for c in channels if c in PERSONAL_CHANNELS and (c != "email" or person.email)]
        target = Target(RecipientKind.USER, person.email or person.name, tuple(usable))
    return replace(rule, levels=(Level(0.0, (target,)),))


__all__ = ["Person", "notify", "resolve", "teams"]

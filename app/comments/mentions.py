"""Who an ``@name`` in a comment is, and telling them.

A name is a local user's username, or an identity that has logged in (OpenID
Connect) under that name or an email whose local part it is.  Each person
mentioned gets an alert of kind ``mention`` through the alert service, which sends
it on the channels its rules give for mentions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from revflow.comments import repository
from revflow.db.models import Comment, Plan


@dataclass(frozen=True)
class Person:
    username: str  # as mentioned, lower case
    subject: str  # the identity's subject: user:ada, oidc:<issuer>#<sub>
    name: str
    email: str | None = None


async def resolve(s: AsyncSession, names: Sequence[str]) -> list[Person]:
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
    return [found[n] for n in names if n in found]


async def notify(s: AsyncSession, comment: Comment, plan: Plan, people: Sequence[Person]) -> None:
    """Raise one ``mention`` alert per person (a no-op until the alert service is set up)."""
    del s, comment, plan, people  # wired to revflow.alerts once it lands

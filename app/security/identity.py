"""Who is calling, and what they may do.

Roles are ordered; a role allows everything a weaker one does::

    metrics  <  viewer  <  operator  <  admin
    /metrics    reads      fallout actions,   keys, users, connector and
    only                   replays, comments  webhook endpoint settings

``metrics`` is for Prometheus scrapers: an API key with it reads ``/metrics`` and
nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

SUBJECT_MAX = 100  # the audit log's actor column


class Role(StrEnum):
    METRICS = "metrics"
    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return list(Role).index(self)

    def allows(self, needed: Role) -> bool:
        """Whether this role may do what ``needed`` may (it is at least as strong)."""
        return self.rank >= Role(needed).rank


class Method(StrEnum):
    API_KEY = "api_key"
    SESSION = "session"


@dataclass(frozen=True)
class Identity:
    """An authenticated caller.

    ``subject`` is the stable audit actor: ``user:alice``, ``key:<prefix>``,
    ``oidc:<issuer>#<sub>`` (at most ``SUBJECT_MAX`` printable characters);
    ``name`` is for display; ``method`` is how it authenticated (``api_key`` or
    ``session``; OIDC and local logins both end in a session).
    """

    subject: str
    name: str
    role: Role
    method: str

    def __post_init__(self) -> None:
        if not self.subject or len(self.subject) > SUBJECT_MAX:
            raise ValueError(f"an identity's subject has 1 to {SUBJECT_MAX} characters")
        if not self.subject.isprintable():
            raise ValueError("an identity's subject must be printable")
        object.__setattr__(self, "role", Role(self.role))

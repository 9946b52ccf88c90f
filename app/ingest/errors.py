"""Errors of the ingest package.

MalformedEvent (ValueError)     a message that cannot be read: dead-lettered
LeaseLost                       another process holds the channel now: stand by
ReplayIdExpired                 the stored replay id is invalid or no longer
                                retained: replay from the earliest, reconcile
PubSubError                     the Pub/Sub API refused; .code, .status
├── PubSubFatalError            unknown topic, delivery limit, permissions
└── PubSubAuthError             still unauthenticated after new tokens
"""

from __future__ import annotations


class MalformedEvent(ValueError):
    """The message cannot be understood; it goes to the dead-letter table."""


class LeaseLost(Exception):
    """Another process holds the channel now; stop consuming."""


class ReplayIdExpired(Exception):
    """The stored replay id for a channel is invalid or outside the retention window."""

    def __init__(self, channel: str, replay_id: int | str | None, error: str) -> None:
        super().__init__(f"replay id {replay_id} for {channel} was rejected: {error}")
        self.channel = channel
        self.replay_id = replay_id
        self.error = error


class PubSubError(Exception):
    """The Pub/Sub API refused; ``code`` is the ``error-code`` trailer (or None)."""

    def __init__(self, topic: str, code: str | None, status: str, details: str) -> None:
        super().__init__(f"{topic}: {code or status}: {details}")
        self.topic = topic
        self.code = code
        self.status = status
        self.details = details


class PubSubFatalError(PubSubError):
    """A permanent error (unknown topic, delivery limit, permissions): do not retry."""


class PubSubAuthError(PubSubError):
    """Still unauthenticated after fetching new tokens."""

"""Security errors; the API answers them at the edge (``revflow.api.errors``).

OperatorError (revflow.orchestration.errors)
 ├── BadRequest   -> 400   a bad key name, role, duration or password
 ├── NotFound     -> 404   no such key or user
 └── Conflict     -> 409   a user that exists, a key already revoked
AuthError                  401 (a login that failed; the message never says why)
"""

from __future__ import annotations


class AuthError(Exception):
    """Authentication failed.  ``reason`` is for the audit log, never for the caller."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

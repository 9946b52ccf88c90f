"""Errors of actions on plans and their neighbours: what cannot be done, and why.

    OperatorError            an action was refused; ``.detail`` says why in one line
     ├── BadRequest          the request itself is wrong (actor, reason, a name)
     ├── NotFound            no such plan, step, endpoint or message
     └── Conflict            not allowed in the current state, or it changed meanwhile

The errors carry no transport detail: each edge maps them (the API to HTTP
400/404/409 in ``revflow.api.errors``, the CLI to exit codes 2/1/1 in ``revflow.cli_options``).
"""

from __future__ import annotations


class OperatorError(Exception):
    """An action that was refused; ``detail`` is the one line to show."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class BadRequest(OperatorError):
    """The request is malformed: fixing the request, not the state, helps."""


class NotFound(OperatorError):
    """The plan, step, endpoint or message named does not exist."""


class Conflict(OperatorError):
    """The state machine does not allow it now, or the state changed while it ran."""

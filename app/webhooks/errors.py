"""What the webhooks package raises, in one place.

    OperatorError                   an operator action refused; .detail
    ├── BadRequest (400)            a bad connector name, actor, reason or time range
    ├── NotFound (404)              no such endpoint or parked message
    └── Conflict (409)              already disabled; disabled while replaying; not parked
    EndpointDisabledError           (connectors.errors) the guard's refusal to send:
                                    the executor parks the step

The operator errors are the plan actions' (``app.orchestration.errors``); the API maps
them to HTTP (``app.api.errors``), the CLI to exit codes.
"""

from __future__ import annotations

from app.orchestration.errors import BadRequest, Conflict, NotFound, OperatorError
from connectors.errors import EndpointDisabledError

__all__ = ["BadRequest", "Conflict", "EndpointDisabledError", "NotFound", "OperatorError"]

"""What the webhooks package raises, in one place.

    OperatorError                   an operator action refused; .detail
    ├── BadRequest (400)            a bad connector name, actor, reason or time range
    ├── NotFound (404)              no such endpoint or parked message
    └── Conflict (409)              already disabled; disabled while replaying; not parked
    EndpointDisabledError           (connectors.errors) the guard's refusal to send:
                                    the executor parks the step

The operator errors are the plan actions' (``revflow.orchestration.errors``); the API maps
them to HTTP (``revflow.api.errors``), the CLI to exit codes.
"""

from __future__ import annotations

from revflow.connectors.errors import EndpointDisabledError
from revflow.orchestration.errors import BadRequest, Conflict, NotFound, OperatorError

__all__ = ["BadRequest", "Conflict", "EndpointDisabledError", "NotFound", "OperatorError"]

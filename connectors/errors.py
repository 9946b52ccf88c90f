"""Classified connector errors: what a caller may do after a failed call.

    ConnectorError                   base; never raised directly
     ├── RetryableError              transient, not applied: 5xx, 408, refused/reset before sending
     │    └── RateLimitedError       429, or 503; ``retry_after`` seconds (None if not given)
     ├── FatalError                  the target rejected the request (4xx validation, ...)
     │    └── EndpointGoneError      410 Gone: disable the endpoint (``endpoint_gone`` is True)
     ├── AmbiguousError             sent, then timed out or dropped: outcome unknown
     └── EndpointDisabledError      not sent: the endpoint is disabled; keep the message

``RateLimitedError`` is a ``RetryableError``, so catch it first when ``retry_after``
matters.  After an ``AmbiguousError`` the caller must not blindly retry: ask
``Connector.find_existing`` first and retry only when it answers ``None`` with a
connector whose target dedupes on the idempotency key (webhooks do, on ``webhook-id``).

Every error carries ``message``, ``status_code`` (``None`` when no response came) and
``details`` (a JSON-safe dict), and a class-level ``kind`` string for storage and logs.

``EndpointDisabledError`` is neither retryable nor fatal: the message was not sent
and must be kept (parked) until an operator enables the endpoint and replays it
(``app/webhooks``).
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "AmbiguousError",
    "ConnectorError",
    "EndpointDisabledError",
    "EndpointGoneError",
    "FatalError",
    "RateLimitedError",
    "RetryableError",
]


class ConnectorError(Exception):
    """Base of every classified connector error."""

    kind: ClassVar[str] = "error"

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.details: dict[str, Any] = dict(details or {})

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, status_code={self.status_code!r})"


class RetryableError(ConnectorError):
    """Transient failure; the request was not applied, so retrying is safe."""

    kind = "retryable"


class RateLimitedError(RetryableError):
    """The target asked us to slow down; wait ``retry_after`` seconds if given."""

    kind = "rate_limited"

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        status_code: int | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message, status_code=status_code, details=details)
        self.retry_after = retry_after


class FatalError(ConnectorError):
    """The target refused the request; retrying the same request will not help."""

    kind = "fatal"
    endpoint_gone: ClassVar[bool] = False


class EndpointGoneError(FatalError):
    """The endpoint no longer exists (410); stop sending to it."""

    kind = "endpoint_gone"
    endpoint_gone = True


class AmbiguousError(ConnectorError):
    """The request was sent but no answer came back; it may or may not have applied."""

    kind = "ambiguous"


class EndpointDisabledError(ConnectorError):
    """The endpoint is disabled (410, or failing for too long): nothing was sent.

    The step is parked, not failed; ``reason`` says why the endpoint was disabled.
    """

    kind = "endpoint_disabled"

    def __init__(
        self,
        message: str,
        *,
        reason: str = "",
        status_code: int | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message, status_code=status_code, details=details)
        self.reason = reason

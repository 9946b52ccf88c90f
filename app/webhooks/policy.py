"""The default retry policy of webhook callout steps."""

from __future__ import annotations

from revflow.config import Settings
from revflow.plans.retry import RetryPolicy, webhook_policy

__all__ = ["WORKER_RETRY_FIELDS", "default_retry_policy"]

WORKER_RETRY_FIELDS = frozenset(
    {"max_attempts", "initial_interval_s", "backoff_coefficient", "maximum_interval_s"}
)


def default_retry_policy(settings: Settings) -> RetryPolicy:
    """The plan's default retry policy.

    When every configured connector is a webhook: ``webhooks.retry_schedule`` (Svix's
    schedule over hours, with jitter), unless the worker's retry settings were set
    explicitly or the schedule is empty; then, and when any connector is of another type,
    the worker's exponential backoff.
    Steps with their own ``retry:`` in a plan file keep it.
    """
    w = settings.worker
    backoff = RetryPolicy(
        initial_interval_s=w.initial_interval_s,
        backoff_coefficient=w.backoff_coefficient,
        maximum_interval_s=w.maximum_interval_s,
        maximum_attempts=w.max_attempts,
    )
    explicit = bool(WORKER_RETRY_FIELDS & w.model_fields_set)
    is_webhook = all(c.type == "webhook" for c in settings.all_connectors().values())
    if not is_webhook or explicit or not settings.webhooks.retry_schedule:
        return backoff
    return webhook_policy(settings.webhooks.retry_schedule, settings.webhooks.retry_jitter)

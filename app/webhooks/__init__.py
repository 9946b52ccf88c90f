"""Webhook endpoints: retry schedule, disabling, parked messages and replay.

Outbound webhooks (``connectors/webhook.py``) follow Standard Webhooks; this package
adds what a sender owes its receivers beyond the signature (as Svix does):

- **Retry schedule** over hours (``revflow.plans.retry.webhook_policy``; the
  default policy of webhook callout steps, see ``policy.default_retry_policy``).
- **Endpoint state** (``webhook_endpoints``, ``endpoints.py``): a 410 disables the
  endpoint at once; so does failing continuously for ``disable_after_s`` (no success
  in between) or ``disable_after_failures`` failed attempts in a row.  Disabling
  records the alert ``webhook.endpoint_disabled`` in the audit log (as jeopardy
  records ``plan.jeopardy_changed``), an open incident (resolved on enable), a
  warning log line and the ``revflow_webhook_endpoint_disabled`` metrics.
- **Parking** (``guard.EndpointGuard``, a connector wrapper): while the endpoint is
  disabled nothing is sent; the step's callout raises ``EndpointDisabledError`` and
  the executor parks the step in ``waiting`` (see ``endpoints`` for why).
- **Replay**: an operator enables the endpoint and replays parked messages by
  ``webhook-id`` or by time range; each keeps its ``webhook-id`` (the step's
  idempotency key is unchanged), so the receiver dedupes.

Modules: ``endpoints`` (state as deliveries fail and succeed), ``guard`` (the
connector wrapper), ``actions`` (disable, enable, replay), ``status`` (what operators
read), ``repository`` (the queries), ``errors``, ``policy``, ``cli``.  Services take
the session; the guard, the route or the command owns the transaction.
"""

"""Prometheus metrics, exposed at /metrics."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

EVENTS_RECEIVED = Counter(
    "revflow_events_received_total", "Events recorded in the inbox", ["channel"]
)
EVENTS_DUPLICATE = Counter(
    "revflow_events_duplicate_total", "Events already in the inbox", ["channel"]
)
EVENTS_SKIPPED = Counter("revflow_events_skipped_total", "Events skipped", ["reason"])
PLANS_CREATED = Counter("revflow_plans_created_total", "Plans created")
STEPS_EXECUTED = Counter("revflow_steps_executed_total", "Step executions", ["outcome"])
STEP_DURATION = Histogram("revflow_step_seconds", "Step execution time")
WRITEBACK_RECORDS = Counter("revflow_writeback_records_total", "Records written back", ["outcome"])
WRITEBACK_REFUSALS = Counter(
    "revflow_writeback_refusals_total",
    "Order updates Salesforce refused: refused (notice queued), shown (notice written), "
    "unshown (the notice was refused too: an incident)",
    ["outcome"],
)
SALESFORCE_CALLS = Counter("revflow_salesforce_calls_total", "REST calls made to Salesforce")
SALESFORCE_API_USED = Gauge(
    "revflow_salesforce_api_used", "Org-wide API use, all clients (Sforce-Limit-Info N)"
)
SALESFORCE_API_LIMIT = Gauge(
    "revflow_salesforce_api_limit", "Org's daily API allocation (Sforce-Limit-Info M)"
)
SALESFORCE_API_REVFLOW = Gauge(
    "revflow_salesforce_api_revflow_calls", "Revflow's own REST calls in the last 24 hours"
)
SALESFORCE_API_BUDGET = Gauge(
    "revflow_salesforce_api_budget", "Revflow's API budget: api_budget_share x daily allocation"
)
CALLBACKS_REJECTED = Counter(
    "revflow_callbacks_rejected_total",
    "Inbound ERP callbacks refused (signature, stale, oversized, unreadable, invalid, ...)",
    ["source", "reason"],
)
API_BODIES_REFUSED = Counter(
    "revflow_api_bodies_refused_total", "Operator API requests refused as too large (413)"
)
LOOP_RESTARTS = Counter(
    "revflow_loop_restarts_total", "Restarts of a supervised loop after it failed", ["loop"]
)
WORKER_PROCESS_RESTARTS = Counter(
    "revflow_worker_process_restarts_total",
    "Child revflow worker processes (revflow run --workers N) started again after they exited",
)
LOOP_UP = Gauge(
    "revflow_loop_up", "1 while a supervised loop runs, 0 while it is restarting", ["loop"]
)
LOOP_PROGRESS = Gauge(
    "revflow_loop_last_progress_seconds",
    "Unix time of a supervised loop's last progress (heartbeat)",
    ["loop"],
)
INCIDENTS_OPENED = Counter(
    "revflow_incidents_opened_total", "Standing incidents opened (revflow.incidents)", ["kind"]
)
INCIDENTS_RESOLVED = Counter(
    "revflow_incidents_resolved_total", "Standing incidents resolved", ["kind"]
)
API_REFUSED = Counter(
    "revflow_api_refused_total", "API calls refused: 401 no identity, 403 role or CSRF", ["status"]
)
API_RATE_LIMITED = Counter(
    "revflow_api_rate_limited_total",
    "API calls answered 429 by the per-identity rate limit",
    ["kind"],  # identity (authenticated) or anonymous (by client address)
)
LOGINS = Counter("revflow_logins_total", "Login attempts", ["outcome"])
RETENTION_PURGED = Counter(
    "revflow_retention_purged_total",
    "Payloads purged by retention (rows blanked or, for sent write-backs, deleted)",
    ["table"],
)

COMMENTS_ADDED = Counter("revflow_comments_added_total", "Comments added to plans and steps")
COMMENTS_MIRRORED = Counter(
    "revflow_comments_mirrored_total",
    "Comments copied to their Order's Chatter feed, by outcome (sent, retry, failed)",
    ["outcome"],
)
ALERTS_RAISED = Counter(
    "revflow_alerts_raised_total",
    "Alerts opened (a repeat of an open alert is not counted)",
    ["rule", "kind"],
)
ALERT_DELIVERIES = Counter(
    "revflow_alert_deliveries_total",
    "Alert messages by channel and outcome (sent, retry, failed)",
    ["channel", "outcome"],
)
ALERT_DELIVERIES_PENDING = Gauge(
    "revflow_alert_deliveries_due",
    "Alert messages the delivery loop found due in its last round (at most its batch size)",
)

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
SALESFORCE_CALLS = Counter("revflow_salesforce_calls_total", "REST calls made to Salesforce")
SALESFORCE_API_USED = Gauge("revflow_salesforce_api_used", "Org API usage (Sforce-Limit-Info)")

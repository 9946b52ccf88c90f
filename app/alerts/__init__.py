"""Alerts: rules that pick who is told about a problem, an outbox, and delivery channels."""

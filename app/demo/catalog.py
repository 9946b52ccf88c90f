"""What the demo org holds: the connected apps and the products orders are made of."""

from __future__ import annotations

REVFLOW_APP = "revflow"  # Revflow's own connected app: its API calls are counted apart
DEMO_APP = "revflow-demo-setup"  # the demo's "Salesforce user"
PRODUCTS = [
    ("WIDGET-1", "Widget", "Hardware", 25.0),
    ("GADGET-2", "Gadget", "Hardware", 99.5),
    ("SUPPORT-Y", "Support, yearly", "Services", 480.0),
    ("CABLE-3", "Cable", "Hardware", 4.2),
]
COUNTRIES = ["DE", "FR", "US", "GB", "NL"]

"""``revflow demo``: a sandbox org, a sandbox ERP and Revflow, in one process.

``DemoEnvironment`` is also what the end-to-end tests and the benchmark use: it
starts everything on free loopback ports, creates orders as a Salesforce user
would (over REST, with the demo's own connected app so Revflow's API calls are
counted apart), activates them, and watches the Order records.

Modules: ``environment`` (start and stop), ``user`` (acting as a Salesforce user),
``outcomes`` (watching the Orders), ``chaos`` (faults, kills, outages), ``report``
(the summary and the verdict), ``run`` (``run_demo``), ``catalog`` (apps, products).
"""

from revflow.demo.catalog import REVFLOW_APP
from revflow.demo.environment import DemoEnvironment
from revflow.demo.report import DemoSummary
from revflow.demo.run import demo_database, run_demo

__all__ = ["REVFLOW_APP", "DemoEnvironment", "DemoSummary", "demo_database", "run_demo"]

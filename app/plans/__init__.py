"""The pure plans core: what a fulfillment plan is and how it behaves, without I/O.

- ``definitions``: plan and step definitions; ``order_fulfillment``, the built-in plan.
- ``files`` reads plan files, ``compiler`` (with ``reader``, ``kinds``, ``graph``)
  compiles them; ``rules`` holds conditions and values, ``expand`` instantiates
  groups per order, line or bundle, ``decompose`` drafts an order's steps,
  ``explain`` says why each rule fired.
- ``state``: the plan and step state machine and its enums (``db.models`` uses them);
  ``ponr`` the point of no return and compensation order; ``diff`` compares a plan
  with an amended order; ``retry`` the one retry policy; ``jeopardy`` on time or late.

Layering: modules here import only the standard library, ``revflow.plans``, the pure
parts of ``revflow.mapping`` (PyYAML, JMESPath) and ``revflow.connectors.external_id`` (a JMESPath
expression); never SQLAlchemy, asyncio, httpx or gRPC (``tests/plans/test_purity.py``).
``revflow.orchestration`` does the I/O around them; ``revflow.db.models`` uses the state enums.
"""

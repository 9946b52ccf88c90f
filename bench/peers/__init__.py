"""Side-by-side comparisons with other engines on the benches' 5-step workflow.

``python -m bench.peers``: Revflow, DBOS Transact and pgbench on one PostgreSQL server
(see ``bench/peers/__main__.py``).  DBOS is the optional ``peers`` extra.
"""

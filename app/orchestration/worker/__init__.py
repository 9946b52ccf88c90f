"""The durable step worker.

A worker claims due steps with a lease (``claim``), runs them (``loops``), and
commits each outcome in one transaction with what it causes: next steps ready, plan
state, write-backs, audit (``commit``).  Outcomes that finish together are committed
together, set-based: one transaction and a fixed number of statements per batch,
not per step.  Any number of workers may share a PostgreSQL database: claims use
``FOR UPDATE SKIP LOCKED``, and an outcome is only committed while the worker still
holds the step's lease, so a step whose lease expired and was taken over is never
completed twice.

Wait steps park in ``waiting``; the worker matches them with Signals (on claim, and
by polling the signals table every ``signal_poll_s``, ``waits``), consuming the
signal in the step's transaction, and fails them as fallout at ``wait_until``.  A
fatal outcome puts the plan on hold (see ``state``); operators resolve it.
"""

from revflow.orchestration.worker.loops import Worker

__all__ = ["Worker"]

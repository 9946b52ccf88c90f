"""The demo's report: latency from a sandbox org's field history, and the verdict."""

from __future__ import annotations

import pytest

from revflow.demo import DemoSummary
from revflow.demo.report import order_latencies, percentile, verdict
from revflow.sandbox.events import EventLog
from revflow.sandbox.org import SandboxOrg
from revflow.sandbox.records import RecordStore


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def test_percentile_is_nearest_rank():
    values = [float(v) for v in range(1, 101)]  # 1..100
    assert (percentile(values, 50), percentile(values, 95), percentile(values, 99)) == (
        50.0,
        95.0,
        99.0,
    )
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0 and percentile([7.0], 99) == 7.0
    assert percentile([], 50) is None


def test_latency_is_activation_to_final_status_by_the_orgs_commit_times():
    clock = Clock()
    org = SandboxOrg(events=EventLog(clock=clock))
    store = RecordStore(org)
    account = store.create("Account", {"Name": "Acme"})

    def order() -> str:
        return store.create(
            "Order", {"AccountId": account, "Status": "Draft", "EffectiveDate": "2026-12-01"}
        )

    done, pending, never = order(), order(), order()
    clock.now += 10  # created long before: creation time does not count
    store.update("Order", done, {"Status": "Activated"})
    store.update("Order", pending, {"Status": "Activated"})
    clock.now += 1.5
    store.update("Order", done, {"Fulfillment_Status__c": "In Progress"})
    clock.now += 2.25
    store.update("Order", done, {"Fulfillment_Status__c": "Completed"})
    store.update("Order", pending, {"Fulfillment_Status__c": "In Progress"})
    clock.now += 30  # later edits of other fields change nothing
    store.update("Order", done, {"Fulfillment_Error__c": "note"})

    def status(oid: str) -> str | None:
        return org.records["Order"][oid].get("Fulfillment_Status__c")

    orders = [done, pending, never]
    latencies = order_latencies(org.history, orders, "Fulfillment_Status__c", status)
    assert latencies == {done: pytest.approx(3.75)}


def summary(**kw) -> DemoSummary:
    base = dict(
        orders=10,
        completed=10,
        failed=0,
        erp_deliveries=20,
        duplicate_deliveries=0,
        salesforce_api_calls=5,
        elapsed_s=1.0,
    )
    return DemoSummary(**{**base, **kw})


def test_verdict_passes_a_clean_run_and_names_what_went_wrong():
    assert verdict(summary(), cancel=0, amend=0) is None
    assert verdict(summary(duplicate_deliveries=2), 0, 0) == (
        "2 order(s) got duplicate ERP documents"
    )
    assert verdict(summary(completed=7, failed=1), 0, 0) == (
        "3 of 10 order(s) lost: not Completed, Cancelled or showing a refused write-back on "
        "the record (1 Failed)"
    )
    # orders whose Completed the org's rule refused end showing the refusal: not lost
    assert verdict(summary(completed=8, writeback_refused=2), 0, 0) is None
    assert verdict(summary(completed=7, writeback_refused=1, cancelled=2), 2, 0) is None
    assert verdict(summary(completed=8, cancelled=2), cancel=2, amend=0) is None
    # a served demo leaves one order in fallout on purpose (the ERP refused it)
    assert verdict(summary(completed=9, fallout=1), 0, 0) is None
    assert verdict(summary(completed=6, writeback_refused=1, cancelled=2, fallout=1), 2, 0) is None
    assert verdict(summary(amended=1), cancel=0, amend=3) == (
        "2 of 3 amendment(s) neither applied nor refused"
    )

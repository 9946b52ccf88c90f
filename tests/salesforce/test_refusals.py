"""The text of a refusal notice (pure)."""

from __future__ import annotations


def test_notice_text_names_the_status_first_and_keeps_revflows_error():
    from revflow.salesforce.refusals import notice_text

    text = notice_text(
        {"Z__c": 1, "Fulfillment_Error__c": "step create_invoice failed: 422", "S": "Failed"},
        "FIELD_CUSTOM_VALIDATION_EXCEPTION",
        "Not while on credit hold",
        ["S"],
        status_field="S",
        error_field="Fulfillment_Error__c",
    )
    assert text == (
        "Salesforce refused the update S = 'Failed', Z__c = 1: "
        "FIELD_CUSTOM_VALIDATION_EXCEPTION: Not while on credit hold (fields: S). "
        "Revflow's error: step create_invoice failed: 422"
    )
    assert len(notice_text({"S": "x" * 9000}, "C", "m", [], status_field="S", error_field="E")) == (
        4000
    )

"""The code's list of fields: relationship paths, settings, plans."""

from __future__ import annotations

from revflow.config import Settings
from revflow.salesforce.fields import Access, path_field, used_fields


def test_paths_walk_relationships_to_the_field() -> None:
    assert path_field("Order", ["Account", "Name"]) == ("Account", "Name")
    assert path_field("Order", ["OrderItems", "Product2", "Family"]) == ("Product2", "Family")
    assert path_field("Quote", ["QuoteLineItems", "Discount"]) == ("QuoteLineItem", "Discount")
    assert path_field("Order", ["OrderItems"]) is None  # a list, not a field
    assert path_field("Order", ["Payer__r", "Name"]) is None  # unknown without the org


def test_write_back_settings_decide_what_is_written() -> None:
    settings = Settings.model_validate(
        {
            "writeback": {"jeopardy_field": "", "erp_number_field": "SAP_Number__c"},
            "ingest": {"channels": ["/event/Order_Status__e"]},
        }
    )
    uses = used_fields(settings)
    written = {u.full_name for u in uses if u.access is Access.WRITE}
    assert "Order.SAP_Number__c" in written and "Order.ERP_Order_Number__c" not in written
    assert not any(u.name == "Fulfillment_Jeopardy__c" for u in uses)
    reads = {u.full_name: u.why for u in uses if u.access is Access.READ}
    assert reads["Order_Status__e.Order_Id__c"] == "REVFLOW_INGEST__CORRELATION_FIELDS"


def test_quotes_add_the_quote_query_and_name_the_quote_settings() -> None:
    off = used_fields(Settings())
    assert not any(u.sobject == "QuoteLineItem" for u in off)
    settings = Settings.model_validate(
        {"quotes": {"enabled": True}, "writeback": {"quote": {"erp_number_field": "ERP_Q__c"}}}
    )
    uses = used_fields(settings)
    reads = {u.full_name for u in uses if u.access is Access.READ}
    assert {"Quote.QuoteNumber", "QuoteLineItem.Discount", "Product2.ProductCode"} <= reads
    written = {u.full_name: u.why for u in uses if u.access is Access.WRITE}
    assert written["Quote.ERP_Q__c"] == "REVFLOW_WRITEBACK__QUOTE__ERP_NUMBER_FIELD"
    assert "Quote.ERP_Quote_Number__c" not in written

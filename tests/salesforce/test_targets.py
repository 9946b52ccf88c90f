"""Which record a plan writes to (Order or Quote, by the id's key prefix) and its fields;
the Quote's fields exist in the salesforce/ package, its permission set and the
sandbox org."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from revflow.config import WritebackSettings
from revflow.config_quotes import QuoteWriteback
from revflow.salesforce.targets import fields_for, own_fields, sobject_of
from revflow.sandbox.schema import REVFLOW_FIELDS, SOBJECTS

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "salesforce" / "force-app" / "main" / "default"
NS = {"m": "http://soap.sforce.com/2006/04/metadata"}
ORDER_ID, QUOTE_ID = "8015e00000Q7mNpAAJ", "0Q05e000000XyZaCAK"


def test_the_id_prefix_tells_order_from_quote() -> None:
    assert sobject_of(ORDER_ID) == "Order"
    assert sobject_of(QUOTE_ID) == "Quote"
    assert sobject_of("") == "Order"


def test_quote_fields_come_from_the_quote_section() -> None:
    w = WritebackSettings(
        status_map={"completed": "Done"},
        quote=QuoteWriteback(erp_number_field="ERP_Q__c", status_map={"completed": "Synced"}),
    )
    order, quote = fields_for(w, ORDER_ID), fields_for(w, QUOTE_ID)
    assert (order.sobject, order.erp_number_field, order.jeopardy_field) == (
        "Order",
        "ERP_Order_Number__c",
        "Fulfillment_Jeopardy__c",
    )
    assert (quote.sobject, quote.erp_number_field, quote.jeopardy_field) == (
        "Quote",
        "ERP_Q__c",
        "",
    )
    assert (order.status_map, quote.status_map) == ({"completed": "Done"}, {"completed": "Synced"})
    # without its own map a Quote shows the Order's values
    assert fields_for(WritebackSettings(), QUOTE_ID).status_map == WritebackSettings().status_map
    assert own_fields(w) == {
        "Fulfillment_Status__c",
        "ERP_Order_Number__c",
        "Fulfillment_Error__c",
        "Fulfillment_Jeopardy__c",
        "Revflow_Plan_URL__c",
        "ERP_Q__c",
    }


def test_the_quote_writeback_fields_are_in_the_package_its_permission_set_and_the_sandbox() -> None:
    defaults = fields_for(WritebackSettings(), QUOTE_ID)
    wanted = {defaults.status_field, defaults.erp_number_field, defaults.error_field}
    declared = {
        p.name.removesuffix(".field-meta.xml")
        for p in (PACKAGE / "objects" / "Quote" / "fields").iterdir()
    }
    assert wanted <= declared
    perms = ET.parse(PACKAGE / "permissionsets" / "Revflow_Integration.permissionset-meta.xml")
    editable = {
        fp.findtext("m:field", namespaces=NS)
        for fp in perms.getroot().findall("m:fieldPermissions", NS)
        if fp.findtext("m:editable", namespaces=NS) == "true"
        and fp.findtext("m:readable", namespaces=NS) == "true"
    }
    assert {f"Quote.{name}" for name in wanted} <= editable
    objects = {
        op.findtext("m:object", namespaces=NS): op.findtext("m:allowEdit", namespaces=NS)
        for op in perms.getroot().findall("m:objectPermissions", NS)
    }
    assert objects["Quote"] == "true"
    assert wanted <= set(SOBJECTS["Quote"].fields)
    assert set(REVFLOW_FIELDS["Quote"].values()) == wanted

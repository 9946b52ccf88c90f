"""An order's facets for the console's filters, from the record Revflow fetched."""

from __future__ import annotations

from revflow.plans.facets import facets_of, value_at

ORDER = {
    "AccountId": "001000000000001AAA",
    "Type": "New",
    "Account": {"BillingCountry": "FR", "Region__c": "EMEA"},
    "OrderItems": {
        "records": [
            {"Product2": {"Family": "Hardware"}},
            {"Product2": {"Family": "Software"}},
            {"Product2": {"Family": "Hardware"}},
            {"Product2": None},
        ]
    },
}


def test_defaults_read_billing_country_type_account_and_families() -> None:
    f = facets_of(ORDER)
    assert (f.region, f.channel, f.account_id) == ("FR", "New", "001000000000001AAA")
    assert f.families == ("Hardware", "Software")


def test_configured_fields_and_missing_values() -> None:
    f = facets_of(ORDER, region_field="Account.Region__c", channel_field="Channel__c")
    assert (f.region, f.channel) == ("EMEA", None)
    bare = facets_of({"Id": "801"})
    assert (bare.region, bare.channel, bare.account_id, bare.families) == (None, None, None, ())


def test_value_at_stops_at_anything_not_a_mapping() -> None:
    assert value_at({"a": "x"}, "a.b") is None
    assert value_at({"a": {"b": 2}}, "a.b") == 2
    assert facets_of({"Type": {"nested": 1}}).channel is None  # not a text value
    assert facets_of({"Type": "x" * 200}).channel == "x" * 80

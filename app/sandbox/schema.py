"""The sObject and platform-event definitions the sandbox org knows.

Their types (``Field``, ``SObjectType`` ...) are in ``schema_types`` and re-exported
here, where the rest of the sandbox imports them from.
"""

from __future__ import annotations

import functools

from revflow.sandbox.schema_types import (
    ADDRESS_COMPONENTS,
    REVFLOW_FIELDS,
    SYSTEM_FIELDS,
    Field,
    PlatformEventType,
    SfError,
    SObjectType,
    _address,
    _f,
    _object,
    _ref,
    _ro,
)

CURRENCY = _f(
    "CurrencyIsoCode", "picklist", picklist=("USD", "EUR", "GBP"), restricted=True, default="USD"
)
OWNER = _ref("OwnerId", "User", "Owner")

SOBJECTS: dict[str, SObjectType] = {
    t.name: t
    for t in (
        _object(
            "Account",
            [
                _f("Name", "string", required=True),
                _f("AccountNumber", "string", length=40),
                _f("Type", "picklist", picklist=("Customer", "Partner", "Prospect")),
                _f("Industry", "picklist", picklist=("Manufacturing", "Technology", "Retail")),
                _f("Phone", "string", length=40),
                _f("Website", "url"),
                _f("VAT_Number__c", "string", length=20),  # the example org's custom field
                _ref("ParentId", "Account", "Parent"),
                *_address("Billing"),
                *_address("Shipping"),
                CURRENCY,
                OWNER,
            ],
            children={"Orders": ("Order", "AccountId"), "Quotes": ("Quote", "AccountId")},
        ),
        _object(
            "Product2",
            [
                _f("Name", "string", required=True),
                _f("ProductCode", "string"),
                _f("Family", "picklist", picklist=("Hardware", "Software", "Services")),
                _f("IsActive", "boolean", default=False),
                _f("Description", "textarea", length=4000),
                CURRENCY,
            ],
        ),
        _object(
            "Order",
            [
                _ref("AccountId", "Account", "Account", required=True),
                _ref("Pricebook2Id", "Pricebook2", "Pricebook2"),
                OWNER,
                _f(
                    "Status",
                    "picklist",
                    required=True,
                    restricted=True,
                    default="Draft",
                    picklist=("Draft", "Activated", "Cancelled", "Completed"),
                ),
                _f("EffectiveDate", "date", required=True),
                _f("EndDate", "date"),
                _ro("OrderNumber", "string", length=30),
                _ro("TotalAmount", "currency"),
                CURRENCY,
                _f("Description", "textarea", length=32000),
                _f("PoNumber", "string", length=80),
                _f("Type", "picklist", picklist=("New", "Renewal", "Upgrade", "Amendment")),
                _f("Name", "string", length=80),
                *_address("Billing"),
                *_address("Shipping"),
                _f("Fulfillment_Status__c", "string"),
                _f("ERP_Order_Number__c", "string", length=80),
                _f("Fulfillment_Error__c", "textarea", length=32768),
                _f("Fulfillment_Jeopardy__c", "string"),
                _f("Revflow_Plan_URL__c", "url"),
            ],
            children={"OrderItems": ("OrderItem", "OrderId")},
            cdc=True,
            auto_number=("OrderNumber", 8),
        ),
        _object(
            "OrderItem",
            [
                _ref("OrderId", "Order", "Order", required=True, updateable=False),
                _ref("Product2Id", "Product2", "Product2", required=True, updateable=False),
                _f("Quantity", "double", required=True),
                _f("UnitPrice", "currency", required=True),
                _f("ListPrice", "currency"),
                _ro("TotalPrice", "currency"),
                _f("Description", "string"),
                _f("ServiceDate", "date"),
                _f("EndDate", "date"),
                _f("Tax_Rate__c", "percent"),  # the example org's custom VAT rate per line
                _ro("OrderItemNumber", "string", length=30),
                CURRENCY,
            ],
            cdc=True,
            auto_number=("OrderItemNumber", 10),
        ),
        _object(
            "Quote",
            [
                _f("Name", "string", required=True),
                _ref("OpportunityId", "Opportunity", "Opportunity"),
                _ref("AccountId", "Account", "Account"),
                _ref("Pricebook2Id", "Pricebook2", "Pricebook2"),
                OWNER,
                _f(
                    "Status",
                    "picklist",
                    default="Draft",
                    picklist=(
                        "Draft",
                        "Needs Review",
                        "In Review",
                        "Approved",
                        "Rejected",
                        "Presented",
                        "Accepted",
                        "Denied",
                    ),
                ),
                _f("ExpirationDate", "date"),
                _f("Description", "textarea", length=32000),
                _ro("QuoteNumber", "string", length=30),
                _ro("Subtotal", "currency"),
                _ro("TotalPrice", "currency"),
                _ro("GrandTotal", "currency"),
                CURRENCY,
                *_address("Billing"),
                *_address("Shipping"),
                _f("Fulfillment_Status__c", "string"),
                _f("ERP_Quote_Number__c", "string", length=80),
                _f("Fulfillment_Error__c", "textarea", length=32768),
            ],
            children={"QuoteLineItems": ("QuoteLineItem", "QuoteId")},
            cdc=True,
            auto_number=("QuoteNumber", 8),
        ),
        _object(
            "QuoteLineItem",
            [
                _ref("QuoteId", "Quote", "Quote", required=True, updateable=False),
                _ref("Product2Id", "Product2", "Product2", required=True, updateable=False),
                _f("Quantity", "double", required=True),
                _f("UnitPrice", "currency", required=True),
                _f("ListPrice", "currency"),
                _f("Discount", "percent"),
                _ro("TotalPrice", "currency"),
                _f("Description", "string"),
                _f("ServiceDate", "date"),
                _ro("LineNumber", "string", length=30),
                CURRENCY,
            ],
            cdc=True,
            auto_number=("LineNumber", 10),
        ),
        _object(
            # Order Management's exception record; Revflow creates one per fallout when
            # writeback.process_exceptions is on.  AttachedToId is polymorphic in
            # Salesforce; the sandbox attaches to Orders only.
            "ProcessException",
            [
                _ref("AttachedToId", "Order", "AttachedTo", required=True, updateable=False),
                _ro("ProcessExceptionNumber", "string", length=30),
                _f(
                    "Category",
                    "picklist",
                    picklist=("Fulfillment", "Payment", "Order Item", "Other"),
                    restricted=True,
                ),
                _f(
                    "Severity",
                    "picklist",
                    picklist=("Low", "Medium", "High", "Critical"),
                    restricted=True,
                ),
                _f("Priority", "picklist", picklist=("Low", "Medium", "High"), restricted=True),
                _f(
                    "Status",
                    "picklist",
                    required=True,
                    default="New",
                    picklist=("New", "Triaged", "Paused", "Resolved", "Voided"),
                    restricted=True,
                ),
                _f("Message", "string", length=255, required=True),
                _f("Description", "textarea", length=32000),
                _f("ExternalReference", "string", length=255),
                OWNER,
            ],
            auto_number=("ProcessExceptionNumber", 8),
        ),
        # setup objects (SOQL over REST; written by Metadata API deploys and by admins)
        _object("PermissionSet", [_f("Name", "string", required=True), _f("Label", "string")]),
        # the people records are owned by; alerts read an Order owner's name and email
        _object(
            "User",
            [
                _f("Name", "string", length=121),
                _f("Email", "string", length=128),  # type email in a real org
                _f("Username", "string", length=80),
                _f("IsActive", "boolean", default=True),
            ],
        ),
        _object(
            "PermissionSetAssignment",
            [
                _ref("AssigneeId", "User", "Assignee", required=True, updateable=False),
                _ref(
                    "PermissionSetId",
                    "PermissionSet",
                    "PermissionSet",
                    required=True,
                    updateable=False,
                ),
            ],
        ),
        _object(
            "FieldPermissions",
            [
                _ref("ParentId", "PermissionSet", "Parent", required=True, updateable=False),
                _f("SobjectType", "string", required=True),
                _f("Field", "string", required=True),
                _f("PermissionsRead", "boolean", default=False),
                _f("PermissionsEdit", "boolean", default=False),
            ],
        ),
        _object(
            "ObjectPermissions",
            [
                _ref("ParentId", "PermissionSet", "Parent", required=True, updateable=False),
                _f("SobjectType", "string", required=True),
                *(
                    _f(f"Permissions{p}", "boolean", default=False)
                    for p in ("Read", "Create", "Edit", "Delete", "ViewAllRecords")
                ),
            ],
        ),
        # the bell notifications' types (Setup > Custom Notifications; the package's
        # Revflow_Alert), read by the alert channel to address customNotificationAction
        _object(
            "CustomNotificationType",
            [
                _f("DeveloperName", "string", required=True, length=40),
                _f("MasterLabel", "string", required=True, length=80),
                _f("CustomNotifTypeName", "string", length=80),
                _f("Description", "string"),
                _f("Desktop", "boolean", default=True),
                _f("Mobile", "boolean", default=True),
            ],
        ),
        # CDC's selected entities (Tooling API; DeveloperName = ChannelName_EventName)
        _object(
            "PlatformEventChannelMember",
            [
                _f("DeveloperName", "string"),
                _f("EventChannel", "string", required=True),
                _f("SelectedEntity", "string", required=True),
            ],
            tooling=True,
        ),
    )
}

# Roll-ups: child type -> (parent fk, parent type, parent total fields)
ROLLUPS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "OrderItem": ("OrderId", "Order", ("TotalAmount",)),
    "QuoteLineItem": ("QuoteId", "Quote", ("Subtotal", "TotalPrice", "GrandTotal")),
}

PLATFORM_EVENTS: dict[str, PlatformEventType] = {
    e.name: e
    for e in (
        PlatformEventType(
            "Order_Status__e",
            "e00",
            {
                f.name: f
                for f in (
                    _f("Order_Id__c", "string", length=18),
                    _f("Status__c", "string"),
                    _f("Error_Message__c", "string", length=255),  # Text(255) in salesforce/
                )
            },
        ),
        PlatformEventType(
            "Fulfillment_Callback__e",
            "e01",
            {
                f.name: f
                for f in (
                    _f("Correlation_Key__c", "string"),
                    _f("Status__c", "string"),
                    _f("Payload__c", "textarea", length=131072),
                )
            },
        ),
    )
}


def sobject(name: str) -> SObjectType | None:
    """Case-insensitive sObject lookup."""
    if name in SOBJECTS:
        return SOBJECTS[name]
    for key, value in SOBJECTS.items():
        if key.lower() == name.lower():
            return value
    return None


def platform_event(name: str) -> PlatformEventType | None:
    if name in PLATFORM_EVENTS:
        return PLATFORM_EVENTS[name]
    for key, value in PLATFORM_EVENTS.items():
        if key.lower() == name.lower():
            return value
    return None


def change_event_channel(entity: str) -> str:
    return f"/data/{entity}ChangeEvent"


@functools.cache  # the schema is fixed; every commit and Avro rendering asks
def cdc_field_names(entity: str) -> tuple[str, ...]:
    """Body fields of ``{entity}ChangeEvent``: no Id/IsDeleted/SystemModstamp, compounds
    instead of their flat components."""
    return tuple(
        f.name
        for f in SOBJECTS[entity].fields.values()
        if f.name not in ("Id", "IsDeleted", "SystemModstamp") and not f.compound
    )


CDC_CHANNELS: tuple[str, ...] = tuple(
    change_event_channel(t.name) for t in SOBJECTS.values() if t.cdc
)
PLATFORM_EVENT_CHANNELS: tuple[str, ...] = tuple(f"/event/{n}" for n in PLATFORM_EVENTS)


def schema_id(event_name: str) -> str:
    """The schema id of ``OrderChangeEvent`` or ``Order_Status__e``: the fingerprint of
    its Avro schema, the same in CometD's ``data.schema`` and over Pub/Sub."""
    from revflow.sandbox.avro_schemas import event_schema_id  # it imports this module

    return event_schema_id(event_name)


__all__ = [
    "ADDRESS_COMPONENTS",
    "REVFLOW_FIELDS",
    "SYSTEM_FIELDS",
    "Field",
    "PlatformEventType",
    "SObjectType",
    "SfError",
]

"""The shapes of the sandbox org's schema: fields, sObject and platform-event types.

The definitions themselves are in ``schema``.  Field types: id, string, textarea,
url, picklist, date, datetime, currency, double, boolean, reference, address
(compound; its components are flat fields such as ``BillingCity`` whose
``compound`` names the address).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from revflow.sandbox.ids import KEY_PREFIXES

#: Custom fields of Revflow's metadata package, per object, by role.
REVFLOW_FIELDS: dict[str, dict[str, str]] = {
    "Order": {
        "status": "Fulfillment_Status__c",
        "erp_number": "ERP_Order_Number__c",
        "error": "Fulfillment_Error__c",
        "jeopardy": "Fulfillment_Jeopardy__c",
        "plan_url": "Revflow_Plan_URL__c",
    },
    "Quote": {
        "status": "Fulfillment_Status__c",
        "erp_number": "ERP_Quote_Number__c",
        "error": "Fulfillment_Error__c",
    },
}

ADDRESS_COMPONENTS = (
    "Street",
    "City",
    "State",
    "PostalCode",
    "Country",
    "Latitude",
    "Longitude",
    "GeocodeAccuracy",
)

SYSTEM_FIELDS = (
    "CreatedDate",
    "CreatedById",
    "LastModifiedDate",
    "LastModifiedById",
    "SystemModstamp",
    "IsDeleted",
)


class SfError(Exception):
    """A Salesforce API error: ``errorCode``/``statusCode``, message, fields, HTTP status."""

    def __init__(
        self, code: str, message: str, fields: list[str] | None = None, status: int = 400
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.fields = fields or []
        self.status = status

    def rest_body(self) -> dict[str, object]:
        return {"message": self.message, "errorCode": self.code, "fields": self.fields}

    def save_result_error(self) -> dict[str, object]:
        return {"statusCode": self.code, "message": self.message, "fields": self.fields}


@dataclass(frozen=True)
class Field:
    """One field of an sObject."""

    name: str
    type: str
    required: bool = False  # required on create (and may not be nulled)
    createable: bool = True
    updateable: bool = True
    reference_to: str | None = None
    relationship_name: str | None = None
    picklist: tuple[str, ...] = ()
    restricted: bool = False
    length: int = 255
    default: object = None
    compound: str | None = None  # address field this component belongs to
    component: str | None = None  # e.g. "City"

    @property
    def writable(self) -> bool:
        return self.createable or self.updateable


@dataclass(frozen=True)
class SObjectType:
    """An sObject: fields in describe order, children by relationship name."""

    name: str
    fields: dict[str, Field]
    children: dict[str, tuple[str, str]] = field(default_factory=dict)  # rel -> (type, fk)
    cdc: bool = False
    auto_number: tuple[str, int] | None = None  # (field, digits)
    tooling: bool = False  # served by the Tooling API only (/tooling/query, /tooling/sobjects)

    @property
    def key_prefix(self) -> str:
        return KEY_PREFIXES[self.name]

    def field(self, name: str) -> Field | None:
        """Case-insensitive field lookup."""
        return self.fields.get(name) or _ci(self.fields, name)

    def relationship(self, name: str) -> Field | None:
        """The reference field whose relationship name is ``name`` (case-insensitive)."""
        for f in self.fields.values():
            if f.relationship_name and f.relationship_name.lower() == name.lower():
                return f
        return None

    def child(self, name: str) -> tuple[str, tuple[str, str]] | None:
        for rel, target in self.children.items():
            if rel.lower() == name.lower():
                return rel, target
        return None


@dataclass(frozen=True)
class PlatformEventType:
    """A platform event (``X__e``) and its custom fields."""

    name: str
    key_prefix: str
    fields: dict[str, Field]

    def field(self, name: str) -> Field | None:
        return self.fields.get(name) or _ci(self.fields, name)


def _ci(fields: dict[str, Field], name: str) -> Field | None:
    low = name.lower()
    for key, value in fields.items():
        if key.lower() == low:
            return value
    return None


def _f(name: str, type_: str, **kw: object) -> Field:
    return Field(name, type_, **kw)  # type: ignore[arg-type]


def _ro(name: str, type_: str, **kw: object) -> Field:
    return Field(name, type_, createable=False, updateable=False, **kw)  # type: ignore[arg-type]


def _ref(name: str, target: str, rel: str, **kw: object) -> Field:
    return Field(name, "reference", reference_to=target, relationship_name=rel, **kw)  # type: ignore[arg-type]


def _address(prefix: str) -> list[Field]:
    compound = f"{prefix}Address"
    types = {"Latitude": "double", "Longitude": "double", "GeocodeAccuracy": "picklist"}
    out = [_ro(compound, "address")]
    for comp in ADDRESS_COMPONENTS:
        out.append(
            _f(f"{prefix}{comp}", types.get(comp, "string"), compound=compound, component=comp)
        )
    return out


def _system() -> list[Field]:
    return [
        _ro("CreatedDate", "datetime"),
        _ro("CreatedById", "reference", reference_to="User", relationship_name="CreatedBy"),
        _ro("LastModifiedDate", "datetime"),
        _ro(
            "LastModifiedById", "reference", reference_to="User", relationship_name="LastModifiedBy"
        ),
        _ro("SystemModstamp", "datetime"),
        _ro("IsDeleted", "boolean", default=False),
    ]


def _object(name: str, fields: list[Field], **kw: object) -> SObjectType:
    all_fields = [_ro("Id", "id"), *fields, *_system()]
    return SObjectType(name, {f.name: f for f in all_fields}, **kw)  # type: ignore[arg-type]

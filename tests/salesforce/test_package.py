"""The metadata package in salesforce/ and the code agree (issue 12 item 5).

"The code" is Revflow's own list of fields (``fields.used_fields``) for the shipped
mappings and plans, with plan links on and the platform-event channels of
docs/salesforce-setup.md subscribed.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from xml.etree import ElementTree

import pytest

from revflow.config import Settings
from revflow.mapping import load_directory
from revflow.plans.files import load_plan_directory
from revflow.resources import shipped
from revflow.salesforce.fields import Access, FieldUse, used_fields
from revflow.salesforce.package import PackageError, load_package, package_dir

CHANNELS = [
    "/data/OrderChangeEvent",
    "/data/OrderItemChangeEvent",
    "/event/Order_Status__e",
    "/event/Fulfillment_Callback__e",
]
CHILD_OBJECTS = {"OrderItem", "QuoteLineItem"}  # access follows their parent's


@pytest.fixture(scope="module")
def uses() -> list[FieldUse]:
    settings = Settings.model_validate(
        {"console": {"public_url": "https://revflow.example.com"}, "ingest": {"channels": CHANNELS}}
    )
    mappings = load_directory(shipped("mappings")).values()
    plans = load_plan_directory(shipped("plans")).values()
    return used_fields(settings, mappings, plans)


def _is_event(sobject: str) -> bool:
    return sobject.endswith("__e")


def test_every_field_the_package_declares_is_read_or_written(uses: list[FieldUse]) -> None:
    package = load_package(package_dir())
    named = {(u.sobject, u.name) for u in uses}
    payload = {u.sobject for u in uses if u.access is Access.PAYLOAD}
    unused = [
        f"{f.sobject}.{f.name} ({f.file.name})"
        for f in package.fields
        if (f.sobject, f.name) not in named and f.sobject not in payload
    ]
    assert unused == []
    assert package.fields  # the walk found the fields at all


def test_every_custom_field_the_code_uses_is_in_the_package(uses: list[FieldUse]) -> None:
    declared = {(f.sobject, f.name) for f in load_package(package_dir()).fields}
    missing = sorted(
        f"{u.sobject}.{u.name} ({u.why})"
        for u in uses
        if u.name.endswith("__c") and (u.sobject, u.name) not in declared
    )
    assert missing == []


def test_the_permission_set_grants_exactly_the_fields_revflow_uses(uses: list[FieldUse]) -> None:
    package = load_package(package_dir())
    custom = {
        u.full_name: u.access for u in uses if u.name.endswith("__c") and not _is_event(u.sobject)
    }
    written = {u.full_name for u in uses if u.access is Access.WRITE}
    grants = {g.field: g for g in package.field_grants}
    assert set(grants) == set(custom)
    assert all(g.readable for g in grants.values())
    assert {name for name, g in grants.items() if g.editable} == written & set(custom)


def test_the_permission_set_grants_exactly_the_objects_revflow_uses(
    uses: list[FieldUse],
) -> None:
    package = load_package(package_dir())
    objects = {g.sobject: g for g in package.object_grants}
    read = {u.sobject for u in uses} - CHILD_OBJECTS
    assert set(objects) == read
    edited = {u.sobject for u in uses if u.access is Access.WRITE and not _is_event(u.sobject)}
    published = {u.sobject for u in uses if u.access is Access.WRITE and _is_event(u.sobject)}
    assert {o for o, g in objects.items() if g.edit} == edited
    assert {o for o, g in objects.items() if g.create} == published
    assert all(g.read and not g.delete for g in objects.values())
    # subscribing to a single object's change channel needs View All on it
    assert all(objects[o].view_all for o in read if not _is_event(o))


def test_the_plan_link_field_is_written_only_with_a_console_url() -> None:
    without = used_fields(Settings())
    assert ("Order", "Revflow_Plan_URL__c") not in {(u.sobject, u.name) for u in without}


def test_the_deploy_zip_is_in_metadata_api_format() -> None:
    package = load_package(package_dir())
    with zipfile.ZipFile(io.BytesIO(package.deploy_zip())) as archive:
        names = set(archive.namelist())
        members = ElementTree.fromstring(archive.read("package.xml"))
        ns = {"md": "http://soap.sforce.com/2006/04/metadata"}
        listed = {
            t.findtext("md:name", namespaces=ns): {m.text for m in t.findall("md:members", ns)}
            for t in members.findall("md:types", ns)
        }
        order = ElementTree.fromstring(archive.read("objects/Order.object"))
    assert "objects/Order.object" in names
    assert "permissionsets/Revflow_Integration.permissionset" in names
    assert not any(n.endswith("-meta.xml") for n in names)
    assert "Order.Revflow_Plan_URL__c" in listed["CustomField"]
    assert listed["CustomObject"] == {"Order_Status__e", "Fulfillment_Callback__e"}
    assert listed["PermissionSet"] == {"Revflow_Integration"}
    fields = [f.findtext("md:fullName", namespaces=ns) for f in order.findall("md:fields", ns)]
    assert "Revflow_Plan_URL__c" in fields
    assert members.findtext("md:version", namespaces=ns) == "62.0"


def test_a_broken_file_is_named(tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "salesforce"
    shutil.copytree(package_dir(), copy)
    broken = copy / "force-app/main/default/objects/Order/fields/Revflow_Plan_URL__c.field-meta.xml"
    broken.write_text("<CustomField><fullName>oops")
    with pytest.raises(PackageError, match="Revflow_Plan_URL__c.field-meta.xml"):
        load_package(copy)
    (copy / "sfdx-project.json").write_text("{}")
    with pytest.raises(PackageError, match="not an SFDX project"):
        load_package(copy)

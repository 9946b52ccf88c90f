"""Revflow's metadata package (``salesforce/``, SFDX source format) and its deploy zip.

    package = load_package(package_dir())
    package.fields            # [PackageField("Order", "Revflow_Plan_URL__c", "Url", ...)]
    zipped = package.deploy_zip()   # Metadata API format, package.xml at the root

The conversion follows the source-to-metadata rules of Salesforce's CLI: a
decomposed ``objects/X/fields/F.field-meta.xml`` becomes a ``<fields>`` element of
``objects/X.object``; other files drop ``-meta.xml``; ``package.xml`` lists every
component with the project's ``sourceApiVersion``.  A file that does not parse is a
``PackageError`` naming it.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree import ElementTree

from revflow.resources import CHECKOUT

MD = "http://soap.sforce.com/2006/04/metadata"
_NS = {"md": MD}
PERMISSION_SET = "Revflow_Integration"
# source folder -> (metadata type, source suffix, metadata suffix)
_TYPES = {
    "permissionsets": ("PermissionSet", ".permissionset-meta.xml", ".permissionset"),
    "notificationtypes": ("CustomNotificationType", ".notiftype-meta.xml", ".notiftype"),
    "platformEventChannelMembers": (
        "PlatformEventChannelMember",
        ".platformEventChannelMember-meta.xml",
        ".platformEventChannelMember",
    ),
}


class PackageError(Exception):
    """The package folder is missing or a file in it is broken (the message names it)."""


@dataclass(frozen=True)
class PackageField:
    sobject: str
    name: str
    type: str  # Metadata API type: Text, Picklist, Url ...
    file: Path


@dataclass(frozen=True)
class FieldGrant:
    field: str  # "Order.Fulfillment_Status__c"
    readable: bool
    editable: bool


@dataclass(frozen=True)
class ObjectGrant:
    sobject: str
    read: bool
    create: bool
    edit: bool
    delete: bool
    view_all: bool


@dataclass
class Package:
    root: Path  # the SFDX project folder (holds sfdx-project.json)
    api_version: str
    objects: dict[str, str] = field(default_factory=dict)  # name -> merged .object XML
    custom_objects: list[str] = field(default_factory=list)  # objects defined, not only extended
    others: dict[str, tuple[str, str]] = field(default_factory=dict)  # zip path -> (type, xml)
    fields: list[PackageField] = field(default_factory=list)
    field_grants: list[FieldGrant] = field(default_factory=list)
    object_grants: list[ObjectGrant] = field(default_factory=list)

    def members(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {"CustomObject": sorted(self.custom_objects)}
        out["CustomField"] = sorted(f"{f.sobject}.{f.name}" for f in self.fields)
        for path, (kind, _) in sorted(self.others.items()):
            out.setdefault(kind, []).append(path.split("/", 1)[1].rsplit(".", 1)[0])
        return out

    def package_xml(self) -> str:
        types = "".join(
            "<types>"
            + "".join(f"<members>{m}</members>" for m in members)
            + f"<name>{kind}</name></types>"
            for kind, members in sorted(self.members().items())
            if members
        )
        return (
            f'<?xml version="1.0" encoding="UTF-8"?><Package xmlns="{MD}">{types}'
            f"<version>{self.api_version}</version></Package>"
        )

    def deploy_zip(self) -> bytes:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("package.xml", self.package_xml())
            for name, xml in sorted(self.objects.items()):
                archive.writestr(f"objects/{name}.object", xml)
            for path, (_, xml) in sorted(self.others.items()):
                archive.writestr(path, xml)
        return buffer.getvalue()


def package_dir() -> Path:
    """The checkout's ``salesforce/`` folder (PackageError when there is none)."""
    folder = CHECKOUT / "salesforce"
    if not (folder / "sfdx-project.json").is_file():
        raise PackageError(f"no SFDX project at {folder}; pass --package <folder>")
    return folder


def _parse(path: Path) -> ElementTree.Element:
    try:
        return ElementTree.parse(path).getroot()
    except (ElementTree.ParseError, OSError) as exc:
        raise PackageError(f"{path}: {exc}") from exc


def _text(element: ElementTree.Element, name: str) -> str:
    return (element.findtext(f"md:{name}", "", _NS) or "").strip()


def load_package(root: Path) -> Package:
    """Read the SFDX project at ``root`` (its default package folder)."""
    try:
        project = json.loads((root / "sfdx-project.json").read_text())
        folder = next(d["path"] for d in project["packageDirectories"] if d.get("default", True))
        version = str(project.get("sourceApiVersion") or "62.0")
    except (OSError, ValueError, KeyError, StopIteration, TypeError) as exc:
        raise PackageError(f"{root / 'sfdx-project.json'}: not an SFDX project: {exc}") from exc
    source = root / folder / "main" / "default"
    package = Package(root, version)
    for object_dir in sorted(p for p in (source / "objects").glob("*") if p.is_dir()):
        _load_object(package, object_dir)
    for folder_name, (kind, suffix, md_suffix) in _TYPES.items():
        for path in sorted((source / folder_name).glob(f"*{suffix}")):
            root_element = _parse(path)
            name = path.name.removesuffix(suffix)
            package.others[f"{folder_name}/{name}{md_suffix}"] = (kind, path.read_text())
            if kind == "PermissionSet" and name == PERMISSION_SET:
                _load_grants(package, root_element)
    return package


def _inner(path: Path, tag: str) -> str:
    """The XML between the root element's tags, as written (checked to parse)."""
    _parse(path)
    text = path.read_text()
    start = text.index(">", text.index(f"<{tag}")) + 1
    return text[start : text.rindex(f"</{tag}>")]


def _load_object(package: Package, object_dir: Path) -> None:
    name = object_dir.name
    own = object_dir / f"{name}.object-meta.xml"
    parts = [_inner(own, "CustomObject")] if own.is_file() else []
    if own.is_file():
        package.custom_objects.append(name)
    for path in sorted((object_dir / "fields").glob("*.field-meta.xml")):
        element = _parse(path)
        field_name = _text(element, "fullName") or path.name.removesuffix(".field-meta.xml")
        package.fields.append(PackageField(name, field_name, _text(element, "type"), path))
        parts.append(f"<fields>{_inner(path, 'CustomField')}</fields>")
    package.objects[name] = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<CustomObject xmlns="{MD}">'
        + "".join(parts)
        + "</CustomObject>\n"
    )


def _load_grants(package: Package, root: ElementTree.Element) -> None:
    for element in root.findall("md:fieldPermissions", _NS):
        package.field_grants.append(
            FieldGrant(
                _text(element, "field"),
                _text(element, "readable") == "true",
                _text(element, "editable") == "true",
            )
        )
    for element in root.findall("md:objectPermissions", _NS):
        package.object_grants.append(
            ObjectGrant(
                _text(element, "object"),
                _text(element, "allowRead") == "true",
                _text(element, "allowCreate") == "true",
                _text(element, "allowEdit") == "true",
                _text(element, "allowDelete") == "true",
                _text(element, "viewAllRecords") == "true",
            )
        )

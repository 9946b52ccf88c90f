"""The sandbox org's Metadata API deploy: check a zip, then apply it unless ``checkOnly``.

A deploy zip in Metadata API format (``singlePackage``: ``package.xml`` at the root)
may hold ``objects/X.object`` (custom fields of an object the sandbox knows),
``permissionsets/X.permissionset``, ``notificationtypes/X.notiftype`` (a custom
notification type) and
``platformEventChannelMembers/X.platformEventChannelMember``.  Each component is
checked as Salesforce would (the object exists, a field's type has what it needs, a
permission names a field that exists); failures become ``DeployMessage``s with file,
line and problem.  Applying makes the fields exist (``SandboxOrg.missing_fields``),
upserts the permission set and its field and object permissions and the notification
types, and selects CDC
entities.  The sandbox cannot invent new fields: a field its schema does not have is
a component failure.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass, field
from typing import Any
from xml.etree import ElementTree

from revflow.sandbox.ids import KEY_PREFIXES
from revflow.sandbox.org import SandboxOrg
from revflow.sandbox.records import RecordStore
from revflow.sandbox.schema import SfError, platform_event, sobject

MD = "http://soap.sforce.com/2006/04/metadata"
_NS = {"md": MD}
FIELD_TYPES: dict[str, tuple[str, ...]] = {  # Metadata API type -> elements it needs
    "Text": ("length",),
    "TextArea": (),
    "LongTextArea": ("length", "visibleLines"),
    "Html": ("length", "visibleLines"),
    "Url": (),
    "Email": (),
    "Phone": (),
    "Checkbox": ("defaultValue",),
    "Date": (),
    "DateTime": (),
    "Number": ("precision", "scale"),
    "Percent": ("precision", "scale"),
    "Currency": ("precision", "scale"),
    "Picklist": ("valueSet",),
}
FOLDERS = {
    "objects": ("CustomObject", ".object"),
    "permissionsets": ("PermissionSet", ".permissionset"),
    "notificationtypes": ("CustomNotificationType", ".notiftype"),
    "platformEventChannelMembers": ("PlatformEventChannelMember", ".platformEventChannelMember"),
}


@dataclass
class Message:
    """One ``DeployMessage``: a component's success or failure."""

    full_name: str
    file_name: str
    component_type: str
    problem: str | None = None
    line: int | None = None
    column: int | None = None
    created: bool = False
    changed: bool = False

    @property
    def success(self) -> bool:
        return self.problem is None


@dataclass
class Deployment:
    """A deploy request and, once run, its result (``DeployResult``)."""

    id: str
    check_only: bool
    rollback_on_error: bool
    created: str
    done: bool = False
    polls_left: int = 1  # checkDeployStatus calls answered InProgress before the result
    status: str = "Pending"
    error_message: str | None = None
    messages: list[Message] = field(default_factory=list)

    @property
    def failures(self) -> list[Message]:
        return [m for m in self.messages if not m.success]

    @property
    def successes(self) -> list[Message]:
        return [m for m in self.messages if m.success]


@dataclass
class _Change:
    """What applying one component does (run only when the deploy goes through)."""

    message: Message
    apply: Any  # () -> None


def _line(text: str, needle: str) -> tuple[int | None, int | None]:
    """1-based line and column of ``needle`` in ``text`` (None when absent)."""
    at = text.find(needle)
    if at < 0:
        return None, None
    line = text.count("\n", 0, at) + 1
    return line, at - (text.rfind("\n", 0, at) + 1) + 1


def _text(element: ElementTree.Element, name: str) -> str | None:
    found = element.find(f"md:{name}", _NS)
    return found.text.strip() if found is not None and found.text else None


def run_deploy(org: SandboxOrg, store: RecordStore, deployment: Deployment, zipped: bytes) -> None:
    """Check every component of ``zipped``; apply them unless check-only or failed."""
    try:
        files = _unzip(zipped)
        members = _package_members(files)
    except SfError as exc:
        deployment.status, deployment.error_message, deployment.done = "Failed", exc.message, True
        return
    changes: list[_Change] = []
    for path, text in sorted(files.items()):
        if path == "package.xml":
            continue
        folder, _, name = path.partition("/")
        kind = FOLDERS.get(folder)
        if kind is None or not name.endswith(kind[1]):
            changes.append(_failed(path, path, "Unknown", f"Unknown type name for file {path}"))
            continue
        component_type, suffix = kind
        full_name = name.removesuffix(suffix)
        named = full_name in members.get(component_type, set())
        if component_type == "CustomObject":  # or extended by the fields it names
            named = named or any(
                m.startswith(f"{full_name}.") for m in members.get("CustomField", set())
            )
        if not named:
            continue  # not named in package.xml: not deployed
        try:
            root = ElementTree.fromstring(text)
        except ElementTree.ParseError as exc:
            changes.append(_failed(full_name, path, component_type, f"Error parsing file: {exc}"))
            continue
        if component_type == "CustomObject":
            whole = full_name in members.get("CustomObject", set())
            wanted = None if whole else members.get("CustomField", set())
            changes += _object_changes(org, full_name, path, text, root, wanted)
        elif component_type == "PermissionSet":  # may name fields this deploy creates
            created = {c.message.full_name.lower() for c in changes if c.message.success}
            changes += _permission_set_changes(org, store, full_name, path, text, root, created)
        elif component_type == "CustomNotificationType":
            changes.append(_notification_type_change(store, full_name, path, root))
        else:
            changes.append(_channel_member_change(store, full_name, path, root))
    for component_type, names in members.items():
        seen = {c.message.full_name for c in changes if c.message.component_type == component_type}
        for missing in sorted(names - seen):
            changes.append(
                _failed(
                    missing,
                    "package.xml",
                    component_type,
                    f"An object '{missing}' of type {component_type} was named in package.xml, "
                    "but was not found in zipped directory",
                )
            )
    deployment.messages = [c.message for c in changes]
    failed = bool(deployment.failures)
    if not deployment.check_only and not (failed and deployment.rollback_on_error):
        for change in changes:
            if change.message.success and change.apply is not None:
                change.apply()
    if failed:
        partial = not deployment.check_only and not deployment.rollback_on_error
        deployment.status = "SucceededPartial" if partial and deployment.successes else "Failed"
    else:
        deployment.status = "Succeeded"
    deployment.done = True


def _failed(full_name: str, path: str, component_type: str, problem: str) -> _Change:
    return _Change(Message(full_name, path, component_type, problem), None)


def _unzip(zipped: bytes) -> dict[str, str]:
    try:
        with zipfile.ZipFile(io.BytesIO(zipped)) as archive:
            return {
                info.filename: archive.read(info).decode("utf-8")
                for info in archive.infolist()
                if not info.is_dir()
            }
    except (zipfile.BadZipFile, UnicodeDecodeError) as exc:
        raise SfError("INVALID_ZIP", f"Unable to read the zip file: {exc}") from exc


def _package_members(files: dict[str, str]) -> dict[str, set[str]]:
    if "package.xml" not in files:
        raise SfError("INVALID_PACKAGE", "No package.xml found")
    try:
        root = ElementTree.fromstring(files["package.xml"])
    except ElementTree.ParseError as exc:
        raise SfError("INVALID_PACKAGE", f"Error parsing package.xml: {exc}") from exc
    members: dict[str, set[str]] = {}
    for types in root.findall("md:types", _NS):
        name = _text(types, "name") or ""
        members.setdefault(name, set()).update(
            (m.text or "").strip() for m in types.findall("md:members", _NS)
        )
    return members


def _object_changes(
    org: SandboxOrg,
    name: str,
    path: str,
    text: str,
    root: ElementTree.Element,
    wanted: set[str] | None,
) -> list[_Change]:
    """The object and its fields (those named in ``wanted``; None: all)."""
    known = sobject(name) or platform_event(name)
    if known is None:
        line, col = _line(text, "<CustomObject")
        change = _failed(name, path, "CustomObject", f"Cannot find the object {name}")
        change.message.line, change.message.column = line, col
        return [change]
    out: list[_Change] = []
    if wanted is None:
        out.append(_Change(Message(name, path, "CustomObject", changed=True), None))
    for element in root.findall("md:fields", _NS):
        field_name = _text(element, "fullName") or ""
        full = f"{known.name}.{field_name}"
        if wanted is not None and f"{name}.{field_name}" not in wanted:
            continue
        line, col = _line(text, f"<fullName>{field_name}</fullName>")
        problem = _field_problem(known.field(field_name) is not None, field_name, element)
        created = org.lacks(known.name, field_name)
        message = Message(full, path, "CustomField", problem, line, col, created, not created)
        out.append(_Change(message, _add_field(org, full)))
    return out


def _field_problem(known: bool, name: str, element: ElementTree.Element) -> str | None:
    if not name.endswith("__c"):
        return f"Custom field names must end with __c: {name}"
    kind = _text(element, "type")
    if kind not in FIELD_TYPES:
        return f"Invalid field type: {kind}" if kind else "Must specify a field type"
    for needed in FIELD_TYPES[kind]:
        if element.find(f"md:{needed}", _NS) is None:
            return f"Must specify '{needed}' for a CustomField of type {kind}"
    if _text(element, "label") is None:
        return "Must specify a label"
    if not known:
        return f"the sandbox org cannot add new fields ({name} is not in app/sandbox/schema.py)"
    return None


def _add_field(org: SandboxOrg, full: str) -> Any:
    def apply() -> None:
        org.missing_fields = {m for m in org.missing_fields if m.lower() != full.lower()}

    return apply


def _permission_set_changes(
    org: SandboxOrg,
    store: RecordStore,
    name: str,
    path: str,
    text: str,
    root: ElementTree.Element,
    created: set[str],
) -> list[_Change]:
    problems: list[tuple[str, str]] = []  # (problem, needle for the line)
    fields: list[tuple[str, bool, bool]] = []
    for element in root.findall("md:fieldPermissions", _NS):
        full = _text(element, "field") or ""
        obj, _, field_name = full.partition(".")
        t = sobject(obj) or platform_event(obj)
        absent = org.lacks(t.name, field_name) and full.lower() not in created if t else True
        if t is None or t.field(field_name) is None or absent:
            problems.append((f"In field: field - no CustomField named {full} found", full))
            continue
        readable = _text(element, "readable") == "true"
        editable = _text(element, "editable") == "true"
        if editable and not readable:
            problems.append((f"Permission Edit {full} depends on permission Read", full))
        fields.append((full, readable, editable))
    objects: list[tuple[str, dict[str, bool]]] = []
    flags = {
        "allowRead": "Read",
        "allowCreate": "Create",
        "allowEdit": "Edit",
        "allowDelete": "Delete",
        "viewAllRecords": "ViewAllRecords",
    }
    for element in root.findall("md:objectPermissions", _NS):
        obj = _text(element, "object") or ""
        if sobject(obj) is None and platform_event(obj) is None and obj not in KEY_PREFIXES:
            problems.append((f"In field: object - no CustomObject named {obj} found", obj))
            continue
        objects.append((obj, {f: _text(element, k) == "true" for k, f in flags.items()}))
    label = _text(root, "label")
    if label is None:
        problems.append(("Must specify a label", "<PermissionSet"))
    if problems:
        problem, needle = problems[0]
        line, col = _line(text, needle)
        return [_Change(Message(name, path, "PermissionSet", problem, line, col), None)]

    def apply() -> None:
        with store.transaction() as txn:
            set_id = _upsert(store, txn, "PermissionSet", {"Name": name}, {"Label": label})
            for full, readable, editable in fields:
                obj = full.partition(".")[0]
                key = {"ParentId": set_id, "Field": full}
                values = {"SobjectType": obj, "PermissionsRead": readable}
                _upsert(
                    store, txn, "FieldPermissions", key, {**values, "PermissionsEdit": editable}
                )
            for obj, perms in objects:
                key = {"ParentId": set_id, "SobjectType": obj}
                values = {f"Permissions{p}": v for p, v in perms.items()}
                _upsert(store, txn, "ObjectPermissions", key, values)

    exists = any(r.get("Name") == name for r in store.live("PermissionSet"))
    return [
        _Change(Message(name, path, "PermissionSet", created=not exists, changed=exists), apply)
    ]


def _channel_member_change(
    store: RecordStore, name: str, path: str, root: ElementTree.Element
) -> _Change:
    channel, entity = _text(root, "eventChannel"), _text(root, "selectedEntity")
    if not channel or not entity:
        problem = "Must specify eventChannel and selectedEntity"
        return _failed(name, path, "PlatformEventChannelMember", problem)
    if channel == "ChangeEvents" and sobject(entity.removesuffix("ChangeEvent")) is None:
        problem = f"Entity {entity} is not supported by Change Data Capture"
        return _failed(name, path, "PlatformEventChannelMember", problem)

    def apply() -> None:
        with store.transaction() as txn:
            key = {"DeveloperName": name}
            values = {"EventChannel": channel, "SelectedEntity": entity}
            _upsert(store, txn, "PlatformEventChannelMember", key, values)

    return _Change(Message(name, path, "PlatformEventChannelMember", created=True), apply)


def _notification_type_change(
    store: RecordStore, name: str, path: str, root: ElementTree.Element
) -> _Change:
    label, type_name = _text(root, "masterLabel"), _text(root, "customNotifTypeName")
    if not label or not type_name:
        problem = "Must specify masterLabel and customNotifTypeName"
        return _failed(name, path, "CustomNotificationType", problem)
    values = {
        "MasterLabel": label,
        "CustomNotifTypeName": type_name,
        "Description": _text(root, "description"),
        "Desktop": _text(root, "desktop") == "true",
        "Mobile": _text(root, "mobile") == "true",
    }
    exists = any(r.get("DeveloperName") == name for r in store.live("CustomNotificationType"))

    def apply() -> None:
        with store.transaction() as txn:
            _upsert(store, txn, "CustomNotificationType", {"DeveloperName": name}, values)

    message = Message(name, path, "CustomNotificationType", created=not exists, changed=exists)
    return _Change(message, apply)


def _upsert(
    store: RecordStore, txn: Any, sobj: str, key: dict[str, Any], values: dict[str, Any]
) -> str:
    for record in store.live(sobj):
        if all(record.get(k) == v for k, v in key.items()):
            store.update(sobj, record["Id"], values, txn=txn)
            return str(record["Id"])
    return store.create(sobj, {**key, **values}, txn=txn)

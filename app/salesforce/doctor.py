"""``revflow salesforce doctor``: is the org ready for Revflow?  One line per check,
each failing one with the fix.

Checks, in order: sign-in; the configured API version; CDC selected for each
``/data/...ChangeEvent`` channel (and each ``/event/X__e`` channel's event exists);
every field Revflow reads or writes (``fields.used_fields``) exists for the integration
user, with a type that fits and, for what Revflow writes, edit access (describe
answers as the signed-in user: a field without read access is absent, one without
edit access is not updateable); the permission set assigned; the daily API
allocation left; and whether plan links are written.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from revflow.config import Settings
from revflow.salesforce.admin import AdminError, OrgAdmin
from revflow.salesforce.fields import Access, FieldUse
from revflow.salesforce.org_setup import CHANNEL_MEMBER, cdc_entities, integration_user
from revflow.salesforce.package import PERMISSION_SET

SETUP = "run `revflow salesforce setup`"


class Verdict(StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "FAIL"


@dataclass(frozen=True)
class Check:
    verdict: Verdict
    what: str
    detail: str
    fix: str = ""

    def line(self) -> str:
        text = f"{self.verdict.value:<5} {self.what}: {self.detail}"
        return text + (f" -> fix: {self.fix}" if self.fix else "")


def ok(what: str, detail: str) -> Check:
    return Check(Verdict.OK, what, detail)


def failed(what: str, detail: str, fix: str) -> Check:
    return Check(Verdict.FAIL, what, detail, fix)


def login_fix(message: str) -> str:
    """The fix for a refused sign-in, by Salesforce's error (docs/salesforce-setup.md)."""
    text = message.lower()
    if "approved" in text or "invalid_grant" in text and "user" in text:
        return (
            f"assign the {PERMISSION_SET} permission set to the integration user and set the "
            "app's Permitted Users to 'Admin approved users are pre-authorized'"
        )
    if "invalid_client" in text or "client credentials" in text:
        return (
            "check REVFLOW_SALESFORCE__CLIENT_ID and __CLIENT_SECRET "
            "(a new app takes minutes to become usable)"
        )
    if "audience" in text:
        return "REVFLOW_SALESFORCE__LOGIN_URL: https://test.salesforce.com for a sandbox org"
    if "unreachable" in text:
        return "check REVFLOW_SALESFORCE__INSTANCE_URL / LOGIN_URL and the network"
    return "check the REVFLOW_SALESFORCE__* sign-in settings (docs/salesforce-setup.md step 3)"


async def check_api_version(admin: OrgAdmin, version: str) -> Check:
    versions = await admin.versions()
    if version in versions:
        return ok("API version", f"{version} (the org serves up to {max(versions, key=float)})")
    newest = max(versions, key=float) if versions else "?"
    return failed(
        "API version",
        f"{version} is not served by the org",
        f"set REVFLOW_SALESFORCE__API_VERSION to one it serves (newest {newest})",
    )


async def check_channels(admin: OrgAdmin, settings: Settings) -> list[Check]:
    checks: list[Check] = []
    if settings.ingest.transport == "polling":
        checks.append(ok("change data capture", "not used (REVFLOW_INGEST__TRANSPORT=polling)"))
    else:
        rows = await admin.tooling_query(
            f"SELECT SelectedEntity FROM {CHANNEL_MEMBER} WHERE EventChannel = 'ChangeEvents'"
        )
        selected = {str(r.get("SelectedEntity")) for r in rows}
        for entity in cdc_entities(settings):
            channel = f"/data/{entity}ChangeEvent"
            if f"{entity}ChangeEvent" in selected:
                checks.append(ok(f"channel {channel}", "change data capture selected"))
            else:
                fix = f"{SETUP}, or Setup > Change Data Capture: select {entity}"
                checks.append(failed(f"channel {channel}", f"{entity} is not selected", fix))
    for channel in settings.ingest.channels:
        if channel.startswith("/event/"):
            event = channel.removeprefix("/event/")
            try:
                await admin.describe(event)
                checks.append(ok(f"channel {channel}", "platform event exists"))
            except AdminError as exc:
                fix = f"{SETUP} (deploys the package), or remove it from REVFLOW_INGEST__CHANNELS"
                checks.append(failed(f"channel {channel}", f"{event}: {exc.code}", fix))
    return checks


def _field_problem(use: FieldUse, described: dict[str, Any] | None) -> tuple[str, str] | None:
    """(problem, fix) for one use against the field's describe entry (None: absent)."""
    where = f"permission set {PERMISSION_SET}"
    if described is None:
        return (
            f"missing or not readable by the integration user (needed by {use.why})",
            f"{SETUP} (deploys the field), or grant Read on {use.full_name} in {where}",
        )
    kind = str(described.get("type"))
    if use.types is not None and kind not in use.types:
        return (
            f"is of type {kind}, Revflow writes {'/'.join(sorted(use.types))} values here",
            f"point {use.why.split(' ')[0]} at a field of a fitting type",
        )
    if use.access is Access.WRITE and not described.get("updateable"):
        return (
            f"not editable by the integration user (written by {use.why})",
            f"grant Edit on {use.full_name} in {where} ({SETUP} assigns it)",
        )
    return None


async def check_fields(admin: OrgAdmin, uses: Iterable[FieldUse]) -> list[Check]:
    """One line per object whose fields are fine, one per field that is not."""
    by_object: dict[str, list[FieldUse]] = {}
    for use in uses:
        if use.access is not Access.PAYLOAD:
            by_object.setdefault(use.sobject, []).append(use)
    checks: list[Check] = []
    for sobject, object_uses in by_object.items():
        try:
            body = await admin.describe(sobject)
        except AdminError as exc:
            fix = f"{SETUP}, or grant Read on {sobject} in permission set {PERMISSION_SET}"
            checks.append(failed(f"fields of {sobject}", f"cannot describe: {exc}", fix))
            continue
        fields = {f["name"]: f for f in body.get("fields") or []}
        problems = []
        for use in object_uses:
            found = _field_problem(use, fields.get(use.name))
            if found:
                problems.append(failed(f"field {use.full_name}", *found))
        checks += problems
        if not problems:
            names = {u.name for u in object_uses}
            written = sum(1 for u in object_uses if u.access is Access.WRITE)
            detail = f"{len(names)} fields readable" + (f", {written} editable" if written else "")
            checks.append(ok(f"fields of {sobject}", detail))
    return checks


async def check_permission_set(admin: OrgAdmin, user_id: str) -> Check:
    what = f"permission set {PERMISSION_SET}"
    found = await admin.query(f"SELECT Id FROM PermissionSet WHERE Name = '{PERMISSION_SET}'")
    if not found:
        return failed(what, "not in the org", f"{SETUP} (deploys and assigns it)")
    assigned = await admin.query(
        "SELECT Id FROM PermissionSetAssignment "
        f"WHERE AssigneeId = '{user_id}' AND PermissionSetId = '{found[0]['Id']}'"
    )
    if not assigned:
        fix = f"{SETUP}, or Setup > Users > {user_id} > Permission Set Assignments"
        return failed(what, f"not assigned to the integration user {user_id}", fix)
    return ok(what, f"assigned to {user_id}")


async def check_api_allocation(admin: OrgAdmin, settings: Settings) -> Check:
    daily = (await admin.limits()).get("DailyApiRequests") or {}
    most, left = daily.get("Max"), daily.get("Remaining")
    if not isinstance(most, int) or not isinstance(left, int):
        return failed(
            "daily API requests",
            "the org reports no DailyApiRequests limit",
            "grant View Setup and Configuration to the integration user",
        )
    share = settings.salesforce.api_budget_share
    detail = f"{left:,} of {most:,} left in the last 24 h; Revflow may use {share:.0%}"
    if left <= 0:
        fix = "wait for the 24-hour window to roll over, or buy more API calls"
        return failed("daily API requests", detail, fix)
    if left < most * 0.1:
        return Check(Verdict.WARN, "daily API requests", detail, "under 10% left")
    return ok("daily API requests", detail)


def check_plan_links(settings: Settings) -> Check:
    field = settings.writeback.plan_url_field
    if settings.console.public_url and field:
        return ok("plan links", f"written to Order.{field} ({settings.console.public_url})")
    return Check(
        Verdict.WARN,
        "plan links",
        f"not written (Order.{field or '-'} stays empty)",
        "set REVFLOW_CONSOLE__PUBLIC_URL to the console's address",
    )


async def run_doctor(admin: OrgAdmin, settings: Settings, uses: list[FieldUse]) -> list[Check]:
    """Every check after sign-in; an admin call that fails is its check's FAIL line."""
    checks: list[Check] = []
    try:
        user_id = integration_user(settings, admin)
    except AdminError as exc:
        return [failed("integration user", exc.message, "set it to the 18-character User Id")]
    steps: list[tuple[str, Any]] = [
        ("API version", lambda: check_api_version(admin, settings.salesforce.api_version)),
        ("channels", lambda: check_channels(admin, settings)),
        ("fields", lambda: check_fields(admin, uses)),
        (f"permission set {PERMISSION_SET}", lambda: check_permission_set(admin, user_id)),
        ("daily API requests", lambda: check_api_allocation(admin, settings)),
    ]
    for what, step in steps:
        try:
            found = await step()
        except AdminError as exc:
            found = failed(what, str(exc), "see Salesforce's message; rerun when it is fixed")
        checks += found if isinstance(found, list) else [found]
    checks.append(check_plan_links(settings))
    return checks

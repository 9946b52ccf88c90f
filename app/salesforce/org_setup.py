"""``revflow salesforce setup``: deploy the package, select CDC entities, assign the
permission set.  Each step reports lines through ``say`` and is safe to repeat.

1. Deploy ``salesforce/`` through the Metadata API: a check-only validation first;
   only if it passes, the deploy itself (``rollbackOnError``, no Apex tests).  Each
   failed component is one line: file:line:col, type, name and Salesforce's problem.
2. Select the CDC entity of every ``/data/<Entity>ChangeEvent`` channel configured
   (Tooling API ``PlatformEventChannelMember`` on the standard ``ChangeEvents``
   channel), unless it is already selected.
3. Assign the permission set to the integration user (``PermissionSetAssignment``),
   unless it is already assigned.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from revflow.config import Settings
from revflow.salesforce.admin import AdminError, OrgAdmin
from revflow.salesforce.deploy_status import DeployResult
from revflow.salesforce.package import PERMISSION_SET, Package

Say = Callable[[str], None]
CHANNEL_MEMBER = "PlatformEventChannelMember"


class SetupFailed(Exception):
    """A step failed; the lines already said why."""


def integration_user(settings: Settings, admin: OrgAdmin) -> str:
    """The integration user's id: the setting, else the signed-in user."""
    user_id = settings.salesforce.integration_user_id or admin.user_id
    if not (user_id.isalnum() and len(user_id) in (15, 18)):
        raise AdminError(
            "INVALID_ID", f"REVFLOW_SALESFORCE__INTEGRATION_USER_ID {user_id!r} is not a user id"
        )
    return user_id


def cdc_entities(settings: Settings) -> list[str]:
    """The entities of the configured ``/data/<Entity>ChangeEvent`` channels."""
    return [
        c.removeprefix("/data/").removesuffix("ChangeEvent")
        for c in settings.ingest.channels
        if c.startswith("/data/") and c.endswith("ChangeEvent")
    ]


async def wait_for_deploy(
    admin: OrgAdmin, deploy_id: str, poll_s: float, timeout_s: float
) -> DeployResult:
    """Poll ``checkDeployStatus`` until done (1 s, growing to ``poll_s``)."""
    deadline = time.monotonic() + timeout_s
    delay = min(1.0, poll_s)
    while True:
        result = await admin.deploy_status(deploy_id)
        if result.done:
            return result
        if time.monotonic() > deadline:
            raise AdminError("DEPLOY_TIMEOUT", f"deploy {deploy_id} not done after {timeout_s}s")
        await asyncio.sleep(delay)
        delay = min(delay * 2, poll_s)


def _report(result: DeployResult, what: str, say: Say) -> bool:
    if result.success:
        say(f"ok    {what}: {result.components_deployed} components ({result.status})")
        return True
    say(
        f"FAIL  {what}: {result.status}"
        + (f": {result.error_message}" if result.error_message else "")
    )
    for problem in result.problems:
        say(f"      {problem}")
    return False


async def deploy_package(
    admin: OrgAdmin, package: Package, say: Say, *, poll_s: float = 5.0, timeout_s: float = 900
) -> None:
    """Validate (check-only), then deploy; SetupFailed when either fails."""
    zipped = package.deploy_zip()
    for check_only, what in ((True, "validate package (check-only)"), (False, "deploy package")):
        deploy_id = await admin.deploy(zipped, check_only=check_only)
        result = await wait_for_deploy(admin, deploy_id, poll_s, timeout_s)
        if not _report(result, f"{what} {deploy_id}", say):
            raise SetupFailed(what)


async def enable_cdc(admin: OrgAdmin, entities: list[str], say: Say) -> None:
    rows = await admin.tooling_query(
        f"SELECT Id, DeveloperName, SelectedEntity FROM {CHANNEL_MEMBER} "
        "WHERE EventChannel = 'ChangeEvents'"
    )
    selected = {str(r.get("SelectedEntity")) for r in rows}
    failed = False
    for entity in entities:
        event = f"{entity}ChangeEvent"
        if event in selected:
            say(f"ok    change data capture: {entity} already selected")
            continue
        body = {
            "FullName": f"ChangeEvents_{event}",
            "Metadata": {"eventChannel": "ChangeEvents", "selectedEntity": event},
        }
        try:
            await admin.tooling_create(CHANNEL_MEMBER, body)
        except AdminError as exc:
            failed = True
            say(f"FAIL  change data capture: selecting {entity} refused: {exc}")
            continue
        say(f"ok    change data capture: {entity} selected")
    if failed:
        raise SetupFailed("change data capture")


async def assign_permission_set(admin: OrgAdmin, user_id: str, say: Say) -> None:
    found = await admin.query(f"SELECT Id FROM PermissionSet WHERE Name = '{PERMISSION_SET}'")
    if not found:
        say(f"FAIL  permission set {PERMISSION_SET} is not in the org (deploy the package)")
        raise SetupFailed("permission set")
    set_id = found[0]["Id"]
    assigned = await admin.query(
        "SELECT Id FROM PermissionSetAssignment "
        f"WHERE AssigneeId = '{user_id}' AND PermissionSetId = '{set_id}'"
    )
    if assigned:
        say(f"ok    permission set {PERMISSION_SET} already assigned to {user_id}")
        return
    await admin.create(
        "PermissionSetAssignment", {"AssigneeId": user_id, "PermissionSetId": set_id}
    )
    say(f"ok    permission set {PERMISSION_SET} assigned to {user_id}")


async def run_setup(
    admin: OrgAdmin,
    settings: Settings,
    package: Package,
    say: Say,
    *,
    poll_s: float = 5.0,
    deploy: bool = True,
) -> bool:
    """All three steps; False (after saying why) when one failed."""
    try:
        user_id = integration_user(settings, admin)
        if deploy:
            await deploy_package(admin, package, say, poll_s=poll_s)
        if settings.ingest.transport == "polling":
            say("ok    change data capture: not used (REVFLOW_INGEST__TRANSPORT=polling)")
        else:
            await enable_cdc(admin, cdc_entities(settings), say)
        await assign_permission_set(admin, user_id, say)
    except SetupFailed:
        return False
    except AdminError as exc:
        say(f"FAIL  {exc}")
        return False
    return True

"""The state of one sandbox org: settings, records, tokens, API usage, faults, events.

``SandboxOrg`` is plain in-memory state shared by the sandbox's HTTP parts
(OAuth, REST, CometD).  Nothing here does I/O.
"""

from __future__ import annotations

import random
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from revflow.sandbox.events import EventLog, StoredEvent
from revflow.sandbox.history import FieldHistory
from revflow.sandbox.ids import new_id
from revflow.sandbox.indexes import Indexes
from revflow.sandbox.schema import (
    CDC_CHANNELS,
    PLATFORM_EVENT_CHANNELS,
    PLATFORM_EVENTS,
    SOBJECTS,
    SYSTEM_FIELDS,
)
from revflow.sandbox.validation import ValidationRule

ORG_ID = "00D5e000000RvFlEAK"
INTEGRATION_USER_ID = "0055e000001RvFlAAK"
INTEGRATION_USER_EMAIL = "integration@revflow.test"
DEMO_USER_ID = "0055e000002DeMoAAK"
DEMO_USER_EMAIL = "dana.demo@revflow.test"
PERMISSION_SET = "Revflow_Integration"  # the package's permission set (salesforce/)
NOTIFICATION_TYPE = "Revflow_Alert"  # the package's custom notification type
_SEEDED_AT = "2026-01-01T00:00:00.000+0000"


@dataclass
class ConnectedApp:
    """A connected app: its consumer key, optional secret and JWT certificate."""

    name: str
    consumer_key: str
    consumer_secret: str | None = None
    certificate_pem: str | None = None  # X.509 PEM; enables the JWT bearer flow
    run_as_user_id: str = INTEGRATION_USER_ID  # client-credentials 'Run As' user
    username: str = "integration@revflow.sandbox"


@dataclass
class Session:
    """An issued access token and who it belongs to."""

    token: str
    app: str
    user_id: str
    issued_at: float


@dataclass
class Faults:
    """Fault-injection switches.  Shares are probabilities in [0, 1]."""

    unable_to_lock_row: float = 0.0  # per record in writes
    request_limit_exceeded: bool = False  # every REST call answers 403 REQUEST_LIMIT_EXCEEDED
    expire_sessions: bool = False  # every issued token becomes invalid once (INVALID_SESSION_ID)
    unknown_client: float = 0.0  # share of /meta/connect answered 403::Unknown client
    cometd_timeout_s: float = 110.0  # long-poll hold time
    drop_connection: float = 0.0  # share of long polls / fetch responses cut off mid-stream
    duplicate_events: float = 0.0  # share of events the bus delivers twice (new replay id)
    duplicate_next: int = 0  # the next N events are delivered twice, whatever the share
    gap_events: float = 0.0  # share of change events replaced by their GAP_* form
    overflow_events: float = 0.0  # share of transactions followed by a GAP_OVERFLOW event
    seed: int | None = None  # makes every fault decision reproducible
    # per-record write errors: key -> errorCode (FIELD_CUSTOM_VALIDATION_EXCEPTION,
    # INVALID_FIELD, STRING_TOO_LONG, UNABLE_TO_LOCK_ROW, ENTITY_IS_DELETED ...).  A key
    # is a record id (the record written, or any id value in a create), an sObject or
    # platform-event name, or "*" for every record write.
    record_errors: dict[str, str] = field(default_factory=dict)
    # the org's own validation rules (app/sandbox/validation.py): refuse some values
    validation_rules: list[ValidationRule] = field(default_factory=list)


@dataclass
class ApiUsage:
    """Counts REST calls per connected app, as Sforce-Limit-Info reports them."""

    daily_limit: int = 100_000
    used: int = 0
    by_app: dict[str, int] = field(default_factory=dict)

    def count(self, app: str) -> None:
        self.used += 1
        self.by_app[app] = self.by_app.get(app, 0) + 1

    def header(self, app: str | None = None) -> str:
        value = f"api-usage={self.used}/{self.daily_limit}"
        if app is not None:
            used = self.by_app.get(app, 0)
            value += f"; per-app-api-usage={used}/{self.daily_limit}(appName={app})"
        return value


@dataclass
class SandboxOrg:
    """Everything one sandbox org knows."""

    api_versions: tuple[str, ...] = ("58.0", "59.0", "60.0", "61.0", "62.0", "63.0", "64.0")
    org_id: str = ORG_ID
    instance_url: str = ""  # set once the server knows its port
    apps: dict[str, ConnectedApp] = field(default_factory=dict)  # by consumer key
    sessions: dict[str, Session] = field(default_factory=dict)  # by token
    # type -> id -> fields
    records: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    history: FieldHistory = field(default_factory=FieldHistory)  # committed field changes
    usage: ApiUsage = field(default_factory=ApiUsage)
    faults: Faults = field(default_factory=Faults)
    events: EventLog = field(default_factory=EventLog)
    faults_injected: dict[str, int] = field(default_factory=dict)
    # Most real orgs have one currency: no CurrencyIsoCode field on any object, no
    # CurrencyType object, and getUserInfo names the currency.  None: multicurrency.
    single_currency: str | None = None
    # "Order.PoNumber": fields this org lacks (never created, or hidden from the
    # integration user by field-level security); describe and SOQL do not know them
    missing_fields: set[str] = field(default_factory=set)
    # "Order.Revflow_Plan_URL__c": fields the integration user may read but not edit
    # (read-only field-level security): describe says not updateable, writes are refused
    readonly_fields: set[str] = field(default_factory=set)
    # False: an org Revflow's package was never deployed to (no custom fields, no
    # permission set, no CDC entity selected), for `revflow salesforce setup`
    set_up: bool = True
    # what the org was sent, newest last: customNotificationAction inputs and Chatter
    # feed items (app/sandbox/notifications.py), for tests and `revflow demo`
    notifications: list[dict[str, Any]] = field(default_factory=list)
    feed_elements: list[dict[str, Any]] = field(default_factory=list)
    indexes: Indexes = field(init=False, repr=False, compare=False)  # see indexes.py
    _rngs: dict[str, tuple[int | None, random.Random]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        self.indexes = Indexes(self.records)
        self.events.duplicate = self._duplicate
        # the CDC-enabled entities and the platform events exist from the start
        for channel in (*CDC_CHANNELS, *PLATFORM_EVENT_CHANNELS):
            self.events.declare(channel)
        # a user owns what it creates (Order.OwnerId); alerts read the owner's email
        for user_id, name, email in (
            (INTEGRATION_USER_ID, "Revflow Integration", INTEGRATION_USER_EMAIL),
            (DEMO_USER_ID, "Dana Demo", DEMO_USER_EMAIL),
        ):
            self.seed("User", Id=user_id, Name=name, Email=email, Username=email, IsActive=True)
        if not self.set_up:  # every custom field of the package is missing
            fields = [(t.name, t.fields) for t in SOBJECTS.values()]
            fields += [(e.name, e.fields) for e in PLATFORM_EVENTS.values()]
            self.missing_fields |= {
                f"{sobject}.{name}"
                for sobject, names in fields
                for name in names
                if name.endswith("__c")
            }
            return
        for t in SOBJECTS.values():
            if t.cdc:
                self.seed(
                    "PlatformEventChannelMember",
                    DeveloperName=f"ChangeEvents_{t.name}ChangeEvent",
                    EventChannel="ChangeEvents",
                    SelectedEntity=f"{t.name}ChangeEvent",
                )
        self.seed(
            "CustomNotificationType",
            DeveloperName=NOTIFICATION_TYPE,
            MasterLabel="Revflow Alert",
            CustomNotifTypeName="Revflow Alert",
            Desktop=True,
            Mobile=True,
        )
        permission_set = self.seed(
            "PermissionSet", Name=PERMISSION_SET, Label="Revflow Integration"
        )
        self.seed(
            "PermissionSetAssignment",
            AssigneeId=INTEGRATION_USER_ID,
            PermissionSetId=permission_set,
        )

    def seed(self, sobject: str, **values: Any) -> str:
        """Store a record as it was before the sandbox started (no event, no history)."""
        rid = str(values.pop("Id", None) or new_id(sobject))
        record: dict[str, Any] = {f: None for f in SOBJECTS[sobject].fields}
        record.update(dict.fromkeys(SYSTEM_FIELDS, _SEEDED_AT), IsDeleted=False, Id=rid)
        record.update(CreatedById=INTEGRATION_USER_ID, LastModifiedById=INTEGRATION_USER_ID)
        record.update(values)
        self.records.setdefault(sobject, {})[rid] = record
        return rid

    def cdc_enabled(self, sobject: str) -> bool:
        """Whether ``sobject`` is a selected entity of the standard ``ChangeEvents`` channel."""
        wanted = f"{sobject}ChangeEvent".lower()
        return any(
            not r.get("IsDeleted")
            and r.get("EventChannel") == "ChangeEvents"
            and str(r.get("SelectedEntity", "")).lower() == wanted
            for r in self.records.get("PlatformEventChannelMember", {}).values()
        )

    def read_only(self, sobject: str, field_name: str) -> bool:
        """Whether the integration user may read but not edit ``sobject.field_name``."""
        wanted = f"{sobject}.{field_name}".lower()
        return any(m.lower() == wanted for m in self.readonly_fields)

    def lacks(self, sobject: str, field_name: str) -> bool:
        """Whether this org has no ``sobject.field_name`` (case-insensitive)."""
        if self.single_currency and field_name.lower() == "currencyisocode":
            return True
        wanted = f"{sobject}.{field_name}".lower()
        return any(m.lower() == wanted for m in self.missing_fields)

    def add_app(self, app: ConnectedApp) -> None:
        self.apps[app.consumer_key] = app

    def issue_token(self, app: ConnectedApp, user_id: str) -> Session:
        session = Session(
            token=f"{self.org_id}!{secrets.token_urlsafe(32)}",
            app=app.name,
            user_id=user_id,
            issued_at=time.time(),
        )
        self.sessions[session.token] = session
        return session

    def session_for(self, authorization: str | None) -> Session | None:
        """Resolve an ``Authorization: Bearer <token>`` header (or a raw token)."""
        if not authorization:
            return None
        token = authorization.removeprefix("Bearer ").removeprefix("OAuth ").strip()
        return self.sessions.get(token)

    def revoke_all(self) -> None:
        self.sessions.clear()

    def note_fault(self, kind: str) -> None:
        self.faults_injected[kind] = self.faults_injected.get(kind, 0) + 1

    def rng(self, stream: str) -> random.Random:
        """The random stream for one kind of fault; seeded from ``faults.seed`` when set."""
        seed = self.faults.seed
        current = self._rngs.get(stream)
        if current is None or current[0] != seed:
            rng = random.Random(f"{seed}:{stream}") if seed is not None else random.Random()
            current = self._rngs[stream] = (seed, rng)
        return current[1]

    def roll(self, stream: str, share: float) -> bool:
        """True with probability ``share`` (draws nothing when the share is 0)."""
        return share > 0 and self.rng(stream).random() < share

    def _duplicate(self, _event: StoredEvent) -> bool:
        if self.faults.duplicate_next > 0:
            self.faults.duplicate_next -= 1
        elif not self.roll("duplicate", self.faults.duplicate_events):
            return False
        self.note_fault("duplicate_event")
        return True

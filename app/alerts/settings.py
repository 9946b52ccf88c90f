"""Alert settings (``REVFLOW_ALERTS__*``): the rules file, delivery, and each channel.

Channel secrets may come from files, like connector secrets:
``REVFLOW_ALERTS__SLACK__WEBHOOK_URL_FILE=/run/secrets/slack``.  Named webhooks
(``slack.webhooks``, ``teams.webhooks``) let a rule's recipient pick one by name
(``address: finance``); the unnamed ``webhook_url`` is the default.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr

from revflow.config_types import SecretFiles, WebhookSecret
from revflow.config_types import Section as _Section


class EmailChannelSettings(SecretFiles):
    """Email over SMTP (port 587 + STARTTLS, 465 implicit TLS, or 25 on a relay)."""

    secret_fields = frozenset({"password"})

    host: str = ""  # "" disables the channel
    port: int = Field(default=587, ge=1, le=65535)
    username: str = ""
    password: SecretStr | None = None
    # None: STARTTLS when the server offers it; True: required; False: never
    starttls: bool | None = None
    implicit_tls: bool = False  # port 465
    sender: str = "revflow@localhost"
    timeout_s: float = Field(default=30.0, gt=0)

    @property
    def configured(self) -> bool:
        return bool(self.host)


class SlackChannelSettings(SecretFiles):
    """Slack incoming webhooks (the URL is a secret)."""

    secret_fields = frozenset({"webhook_url"})

    webhook_url: SecretStr | None = None
    webhooks: dict[str, SecretStr] = {}  # name -> URL, for recipients with an address
    timeout_s: float = Field(default=10.0, gt=0)

    @property
    def configured(self) -> bool:
        return self.webhook_url is not None or bool(self.webhooks)


class TeamsChannelSettings(SecretFiles):
    """Microsoft Teams Workflows webhooks (Adaptive Cards; the URL is a secret)."""

    secret_fields = frozenset({"webhook_url"})

    webhook_url: SecretStr | None = None
    webhooks: dict[str, SecretStr] = {}
    timeout_s: float = Field(default=10.0, gt=0)

    @property
    def configured(self) -> bool:
        return self.webhook_url is not None or bool(self.webhooks)


class SalesforceChannelSettings(_Section):
    """Alerts inside the org: custom notifications to users, Chatter posts on the Order."""

    enabled: bool = False
    # DeveloperName of the CustomNotificationType the notifications use
    notification_type: str = "Revflow_Alert"
    timeout_s: float = Field(default=30.0, gt=0)


class WebhookChannelSettings(SecretFiles):
    """A generic webhook signed per Standard Webhooks (like the ERP webhooks)."""

    secret_fields = frozenset({"secret"})

    url: str = ""  # "" disables the channel
    secret: WebhookSecret | None = None
    timeout_s: float = Field(default=10.0, gt=0)

    @property
    def configured(self) -> bool:
        return bool(self.url) and self.secret is not None


class AlertSettings(SecretFiles):
    """Alert rules and their delivery."""

    secret_fields = frozenset({"link_secret"})

    enabled: bool = True
    # the rules file (alerts/rules.yaml format); unset: no rules, no alerts
    rules_file: Path | None = None
    # the key that signs acknowledge links in messages; unset: messages carry no link
    link_secret: SecretStr | None = None
    link_ttl_s: float = Field(default=7 * 86400.0, gt=0)
    # the delivery loop
    poll_interval_s: float = Field(default=1.0, gt=0)
    lease_s: float = Field(default=60.0, gt=0)
    batch_size: int = Field(default=20, ge=1, le=500)
    max_attempts: int = Field(default=8, ge=1)
    initial_interval_s: float = Field(default=5.0, gt=0)
    backoff_coefficient: float = Field(default=2.0, ge=1)
    maximum_interval_s: float = Field(default=1800.0, gt=0)
    # a supervised loop failing this long raises a loop_down alert (resolved when it is back)
    loop_down_after_s: float = Field(default=60.0, ge=0)
    # how long an Order owner's email and id stay cached
    owner_cache_s: float = Field(default=3600.0, ge=0)
    email: EmailChannelSettings = EmailChannelSettings()
    slack: SlackChannelSettings = SlackChannelSettings()
    teams: TeamsChannelSettings = TeamsChannelSettings()
    salesforce: SalesforceChannelSettings = SalesforceChannelSettings()
    webhook: WebhookChannelSettings = WebhookChannelSettings()

    def link_key(self) -> bytes | None:
        """The key of acknowledge links, or None when none is configured."""
        if self.link_secret is None or not self.link_secret.get_secret_value():
            return None
        return self.link_secret.get_secret_value().encode()

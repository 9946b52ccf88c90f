"""Build connectors by name from plain settings dicts.

    build_connector("erp", {"type": "webhook", "url": "https://erp.example/hooks",
                            "secrets": ["whsec_..."], "timeout_s": 10,
                            "event_types": {"create_sales_order": "sales_order.create"}})

``type`` is either a registered name (``"webhook"``, ``"amqp"`` and ``"rest"`` are
built in) or an import path ``"package.module:factory"``, so a team's connector needs
no change here.
A factory is called as ``factory(name, settings)`` and returns a ``Connector``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeAlias

from revflow.connectors.base import Connector

if TYPE_CHECKING:  # annotation only: `import connectors` stays free of httpx
    import httpx

__all__ = ["ConnectorFactory", "build_connector", "register_connector_type"]

ConnectorFactory: TypeAlias = Callable[[str, Mapping[str, Any]], Connector]

_FACTORIES: dict[str, ConnectorFactory] = {}


def register_connector_type(
    type_name: str, factory: ConnectorFactory | None = None
) -> Callable[[ConnectorFactory], ConnectorFactory]:
    """Register ``factory`` under ``type_name``; usable as a decorator."""

    def add(f: ConnectorFactory) -> ConnectorFactory:
        _FACTORIES[type_name] = f
        return f

    if factory is not None:
        add(factory)
    return add


def _resolve(type_name: str) -> ConnectorFactory:
    if type_name in _FACTORIES:
        return _FACTORIES[type_name]
    if ":" in type_name:
        module_name, _, attr = type_name.partition(":")
        factory = getattr(importlib.import_module(module_name), attr, None)
        if not callable(factory):
            raise ValueError(f"connector type {type_name!r}: {attr} is not callable")
        if isinstance(factory, type) and hasattr(factory, "from_settings"):
            return factory.from_settings  # type: ignore[no-any-return]
        return factory  # type: ignore[no-any-return]
    known = ", ".join(sorted(_FACTORIES)) or "none"
    raise ValueError(f"unknown connector type {type_name!r} (registered: {known})")


def build_connector(
    name: str, settings: Mapping[str, Any], *, http_client: httpx.AsyncClient | None = None
) -> Connector:
    """Build the connector called ``name`` from ``settings`` (``{"type": ..., ...}``).

    ``http_client`` is passed on to connectors that accept one (shared pool).
    """
    if "type" not in settings:
        raise ValueError(f"connector {name!r}: settings need a 'type'")
    options = dict(settings)
    if http_client is not None:
        options.setdefault("http_client", http_client)
    connector = _resolve(str(options.pop("type")))(name, options)
    connector.name = name
    return connector


@register_connector_type("webhook")
def _webhook(name: str, settings: Mapping[str, Any]) -> Connector:
    from revflow.connectors.webhook import WebhookConnector

    options = dict(settings)
    secrets = options.pop("secrets", None)
    if isinstance(secrets, str):
        secrets = secrets.split()  # "whsec_new whsec_old" during rotation
    if not options.get("url") or not secrets:
        raise ValueError(f"webhook connector {name!r} needs 'url' and 'secrets'")
    try:
        return WebhookConnector(secrets=list(secrets), **options)
    except (TypeError, ValueError) as exc:  # a bad option or value: name the connector
        raise ValueError(f"webhook connector {name!r}: {exc}") from exc


@register_connector_type("amqp")
def _amqp(name: str, settings: Mapping[str, Any]) -> Connector:
    from revflow.connectors.amqp import AmqpConnector

    return AmqpConnector.from_settings(name, settings)


@register_connector_type("rest")
def _rest(name: str, settings: Mapping[str, Any]) -> Connector:
    from revflow.connectors.rest import RestConnector

    return RestConnector.from_settings(name, settings)


def _lazy(module: str) -> ConnectorFactory:
    """A factory that imports ``connectors.<module>`` only when first used."""

    def factory(name: str, settings: Mapping[str, Any]) -> Connector:
        built: Connector = importlib.import_module(f"revflow.connectors.{module}").build(
            name, settings
        )
        return built

    return factory


register_connector_type("netsuite", _lazy("netsuite"))
register_connector_type("sap_s4", _lazy("sap_s4"))
register_connector_type("quickbooks", _lazy("quickbooks"))
register_connector_type("xero", _lazy("xero"))
register_connector_type("tryton", _lazy("tryton"))

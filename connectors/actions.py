"""The actions each shipped connector type performs, for ``plans lint`` and ``call``.

A connector that does one thing (NetSuite and SAP create sales orders, QuickBooks and
Xero invoices) accepts either spelling of its action; webhook and AMQP connectors pass
any action on to the receiver (``None``: any); a REST connector performs the actions
configured for it.  Pure: no I/O, importable by the plan linter.
"""

from __future__ import annotations

__all__ = ["INVOICE_ACTIONS", "QUOTE_ACTIONS", "SALES_ORDER_ACTIONS", "TYPE_ACTIONS", "unsupported"]

SALES_ORDER_ACTIONS = frozenset({"sales_order.create", "create_sales_order"})
INVOICE_ACTIONS = frozenset({"invoice.create", "create_invoice"})
QUOTE_ACTIONS = frozenset({"quote.create", "create_quote"})  # a Salesforce Quote

# connector type -> the actions it performs (None: any action; rest: its own config)
TYPE_ACTIONS: dict[str, frozenset[str] | None] = {
    "webhook": None,
    "amqp": None,
    "netsuite": SALES_ORDER_ACTIONS,
    "sap_s4": SALES_ORDER_ACTIONS,
    "quickbooks": INVOICE_ACTIONS,
    "xero": INVOICE_ACTIONS,
    "tryton": SALES_ORDER_ACTIONS | INVOICE_ACTIONS | QUOTE_ACTIONS,
}


def unsupported(kind: str, action: str, actions: frozenset[str]) -> str:
    """The message for an action a connector of type ``kind`` does not perform."""
    known = ", ".join(sorted(actions))
    return f"the {kind} connector has no action {action!r} (it performs: {known})"

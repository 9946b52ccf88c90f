"""Salesforce record ids: key prefixes, the 18-character case-safe form, validation.

An id is ``<3-char key prefix><2-char pod><1 reserved><9 base-62 chars>`` (15 chars,
case-sensitive) plus a 3-character checksum that encodes which of the first 15
characters are upper case, giving the case-insensitive 18-character form.
"""

from __future__ import annotations

import itertools
import random
import re

KEY_PREFIXES: dict[str, str] = {
    "Account": "001",
    "Contact": "003",
    "User": "005",
    "Opportunity": "006",
    "Organization": "00D",
    "Product2": "01t",
    "Pricebook2": "01s",
    "PricebookEntry": "01u",
    "QueryLocator": "01g",
    "Order": "801",
    "OrderItem": "802",
    "Quote": "0Q0",
    "QuoteLineItem": "0QL",
    "ProcessException": "1PE",
    "PermissionSet": "0PS",
    "PermissionSetAssignment": "0Pa",
    "FieldPermissions": "01k",
    "ObjectPermissions": "110",
    "PlatformEventChannelMember": "0v8",
    "CustomNotificationType": "0ML",
    "FeedItem": "0D5",
}

_CHECKSUM_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_ID_RE = re.compile(r"^[0-9A-Za-z]{15}(?:[A-Z0-5]{3})?$")
_POD = "5e"
_counter = itertools.count(random.Random().randrange(62**4, 62**5))


class MalformedIdError(ValueError):
    """The value is not a well-formed 15/18-character Salesforce id."""


def checksum(id15: str) -> str:
    """The 3-character case-safety suffix for a 15-character id."""
    out = ""
    for chunk in range(3):
        bits = 0
        for pos, char in enumerate(id15[chunk * 5 : chunk * 5 + 5]):
            if "A" <= char <= "Z":
                bits |= 1 << pos
        out += _CHECKSUM_ALPHABET[bits]
    return out


def is_valid_id(value: object) -> bool:
    """True for a 15-char id or an 18-char id whose suffix matches."""
    if not isinstance(value, str) or not _ID_RE.match(value):
        return False
    return len(value) == 15 or checksum(value[:15]) == value[15:]


def to18(value: str) -> str:
    """Normalise a 15- or 18-character id to its 18-character form."""
    if not is_valid_id(value):
        raise MalformedIdError(value)
    return value if len(value) == 18 else value + checksum(value)


def key_prefix_of(value: str) -> str:
    return value[:3]


def sobject_for_prefix(prefix: str) -> str | None:
    for name, known in KEY_PREFIXES.items():
        if known == prefix:
            return name
    return None


def id_of_type(value: object, sobject: str, prefix: str | None = None) -> str:
    """Validate ``value`` as an id of ``sobject`` and return the 18-char form."""
    if not isinstance(value, str) or not is_valid_id(value):
        raise MalformedIdError(value)
    expected = prefix or KEY_PREFIXES.get(sobject)
    if expected is not None and value[:3] != expected:
        raise MalformedIdError(value)
    return to18(value)


def _base62(number: int, width: int) -> str:
    chars = []
    for _ in range(width):
        number, rem = divmod(number, 62)
        chars.append(_BASE62[rem])
    return "".join(reversed(chars))


def new_id(sobject: str, prefix: str | None = None) -> str:
    """A fresh 18-character id for ``sobject`` (ids increase, like real ones do)."""
    key = prefix or KEY_PREFIXES.get(sobject)
    if key is None:
        raise KeyError(f"no key prefix known for {sobject}")
    id15 = key + _POD + "0" + _base62(next(_counter), 9)
    return id15 + checksum(id15)

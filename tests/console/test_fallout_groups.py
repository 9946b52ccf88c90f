from dataclasses import dataclass

from revflow.console.fallout_groups import error_class, group_by_error


@dataclass
class Failed:
    kind: str
    error: str | None


def test_ids_numbers_and_quoted_values_do_not_split_a_class() -> None:
    a = error_class("HTTP 422: item 8015e00000Q7mNpAAJ 'Widget' needs 3 more")
    b = error_class("HTTP 422: item 8015e00000Q7mNqAAJ 'Gadget' needs 12 more")
    assert a == b == "HTTP 422: item <id> '…' needs <n> more"
    assert error_class("HTTP 500: boom") != a
    assert error_class("") == "(no error text)"


def test_groups_are_largest_first_and_keep_the_order_of_their_items() -> None:
    items = [
        Failed("callout", "timeout after 5 s"),
        Failed("validate", "missing BillingCountry"),
        Failed("callout", "timeout after 9 s"),
    ]
    groups = group_by_error(items)
    assert [(g.error_class, len(g.items)) for g in groups] == [
        ("callout: timeout after <n> s", 2),
        ("validate: missing BillingCountry", 1),
    ]
    assert groups[0].items == [items[0], items[2]]


def test_urls_are_one_part_and_json_answers_are_kept() -> None:
    a = error_class('HTTP 503 from http://127.0.0.1:4001/erp: {"error": "unavailable"}')
    b = error_class('HTTP 503 from http://10.0.0.2:80/erp: {"error": "unavailable"}')
    assert a == b == 'HTTP 503 from <url>: {"error": "unavailable"}'

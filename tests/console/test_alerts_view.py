"""The alert history's filters and pages, from plain values."""

from __future__ import annotations

import pytest

from revflow.console.alerts_view import PAGE_SIZE, FilterError, Filters, pages, parse_filters


def test_filters_are_checked_and_name_the_wrong_one() -> None:
    f = parse_filters("open", "step_fallout", "error", "12", "3")
    assert f == Filters("open", "step_fallout", "error", 12, 3)
    assert f.offset == 2 * PAGE_SIZE
    assert parse_filters("", "", "", "", "") == Filters()
    with pytest.raises(FilterError, match="kind must be one of"):
        parse_filters("", "nope", "", "", "")
    with pytest.raises(FilterError, match="severity must be one of"):
        parse_filters("", "", "loud", "", "")
    with pytest.raises(FilterError, match="page must be a whole number from 1"):
        parse_filters("", "", "", "", "0")
    with pytest.raises(FilterError, match="plan must be a whole number"):
        parse_filters("", "", "", "99999999999", "")


def test_page_links_keep_the_filters() -> None:
    f = Filters(state="open", plan=7)
    assert f.query() == "state=open&plan=7"
    assert f.query(page=2) == "state=open&plan=7&page=2"
    assert Filters(page=3).query(page=1) == ""


def test_pages_round_up() -> None:
    assert pages(0) == 1 and pages(PAGE_SIZE) == 1 and pages(PAGE_SIZE + 1) == 2

"""Comment bodies rendered safely, and the mentions found in them."""

from __future__ import annotations

import pytest

from revflow.comments.render import excerpt, mentions, render


def test_markdown_is_rendered() -> None:
    html = render("**Waiting** on the VAT number:\n\n- ask [Ada](https://crm.test/ada)", "markdown")
    assert "<strong>Waiting</strong>" in html
    assert (
        '<li>ask <a href="https://crm.test/ada" rel="nofollow noopener noreferrer">Ada</a></li>'
        in html
    )


@pytest.mark.parametrize(
    "body",
    [
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(1)>",
        '<a href="javascript:alert(1)">click</a>',
        "<div onclick='alert(1)'>x</div>",
    ],
)
def test_raw_html_comes_out_as_text(body: str) -> None:
    html = render(body, "markdown")
    assert "<script" not in html and "<img" not in html and "<a " not in html
    assert "<div" not in html
    assert "&lt;" in html


@pytest.mark.parametrize(
    "body",
    [
        "[click](javascript:alert(1))",
        "[click](JaVaScRiPt:alert(1))",
        "[click](vbscript:msgbox(1))",
        "[click](data:text/html;base64,PHNjcmlwdD4=)",
        "<javascript:alert(1)>",
        "[click](&#106;avascript:alert(1))",
        "[click][r]\n\n[r]: javascript:alert(1)",
    ],
)
def test_script_links_do_not_survive(body: str) -> None:
    html = render(body, "markdown")
    assert "href" not in html
    assert 'href="javascript' not in html.lower()


def test_images_are_off_so_reading_a_comment_loads_nothing() -> None:
    assert "<img" not in render("![pixel](https://tracker.test/p.gif)", "markdown")


def test_plain_text_is_escaped_with_its_line_breaks() -> None:
    html = render("<b>hold</b> the order\nuntil Monday\n\nthanks", "plain")
    assert html == "<p>&lt;b&gt;hold&lt;/b&gt; the order<br>\nuntil Monday</p>\n<p>thanks</p>\n"


def test_an_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown comment format 'html'"):
        render("x", "html")


def test_mentions_are_found_once_each_but_not_in_email_addresses() -> None:
    body = "@Ada please check, cc @bob.smith. Mail bob@example.com or @ada again; @finance-ops"
    assert mentions(body) == ["ada", "bob.smith", "finance-ops"]
    assert mentions("no one here") == []


def test_an_excerpt_is_one_clipped_line() -> None:
    assert excerpt("a\n\nb   c") == "a b c"
    assert len(excerpt("x" * 500)) == 200

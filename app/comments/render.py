"""Comment bodies to safe HTML, and the ``@username`` mentions in them (no I/O).

Markdown is rendered by markdown-it-py's CommonMark preset with raw HTML off: a
``<script>`` typed in a comment comes out as text.  Its link check refuses
``javascript:``, ``vbscript:``, ``file:`` and ``data:`` URLs (the link stays text);
images are off (a remote image would tell its server who read the comment), and
links get ``rel="nofollow noopener noreferrer"``.  Plain text is escaped, with its
line breaks kept.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.renderer import RendererHTML
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict

FORMATS = ("markdown", "plain")
# "@ada" or "@ada.lovelace"; not inside a word or an email address (bob@example.com)
MENTION = re.compile(r"(?<![\w@.])@([A-Za-z0-9](?:[A-Za-z0-9_.\-]{0,62}[A-Za-z0-9_])?)")
LINK_REL = "nofollow noopener noreferrer"


def _markdown() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.disable("image")

    def link_open(
        renderer: RendererHTML,
        tokens: Sequence[Token],
        idx: int,
        options: OptionsDict,
        env: EnvType,
    ) -> str:
        tokens[idx].attrSet("rel", LINK_REL)
        return renderer.renderToken(tokens, idx, options, env)

    md.add_render_rule("link_open", link_open)
    return md


_MD = _markdown()


def render(body: str, fmt: str) -> str:
    """The HTML for a comment ``body`` written in ``fmt`` (``markdown`` or ``plain``)."""
    if fmt == "plain":
        paragraphs = [p for p in re.split(r"\n\s*\n", body.strip()) if p.strip()]
        return "".join(
            "<p>" + html.escape(p.strip()).replace("\n", "<br>\n") + "</p>\n" for p in paragraphs
        )
    if fmt != "markdown":
        raise ValueError(f"unknown comment format {fmt!r}: use one of {', '.join(FORMATS)}")
    return str(_MD.render(body))


def mentions(body: str) -> list[str]:
    """The usernames mentioned in ``body``, each once, in order of first mention."""
    seen: dict[str, None] = {}
    for m in MENTION.finditer(body):
        seen.setdefault(m.group(1).lower(), None)
    return list(seen)


def excerpt(body: str, limit: int = 200) -> str:
    """The start of a comment as one line of plain text (for notifications)."""
    text = " ".join(body.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


__all__: list[Any] = ["FORMATS", "excerpt", "mentions", "render"]

"""A plan's steps as a Gantt-like SVG timeline with dependency lines: pure, server-side.

One row per step in plan order; a bar from its start to its end (or to ``now`` while it
runs); a step not started yet is a dashed outline placed after what it depends on,
as long as its expected duration.  A line joins each dependency's bar end to the
dependant's start.  The page shows a table of the same facts next to it (the text
alternative), so the SVG is marked ``aria-hidden`` apart from its title.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape

ROW_H = 26
BAR_H = 16
LABEL_W = 220
CHART_W = 640
TOP = 24
MIN_PLACEHOLDER_S = 1.0  # a step with no start nor expected duration: a quarter of
PLACEHOLDER_SHARE = 0.25  # the time run so far, at least a second


@dataclass(frozen=True)
class TimelineStep:
    key: str
    state: str
    depends_on: tuple[str, ...]
    started_at: datetime | None
    finished_at: datetime | None
    expected_duration_s: float | None = None


@dataclass(frozen=True)
class Bar:
    key: str
    state: str
    start: float  # seconds from the plan's first start
    end: float
    planned: bool  # not started: placed after its dependencies


def layout(steps: Sequence[TimelineStep], now: datetime) -> list[Bar]:
    """Where each step's bar goes, in seconds from the earliest start."""
    starts = [s.started_at for s in steps if s.started_at]
    origin = min(starts) if starts else now
    ran = (
        max(((s.finished_at or now) - origin).total_seconds() for s in steps if s.started_at)
        if starts
        else 0.0
    )
    placeholder = max(ran * PLACEHOLDER_SHARE, MIN_PLACEHOLDER_S)
    bars: dict[str, Bar] = {}
    for st in steps:
        if st.started_at is not None:
            start = (st.started_at - origin).total_seconds()
            end_at = st.finished_at or now
            end = max(start, (end_at - origin).total_seconds())
            bars[st.key] = Bar(st.key, st.state, start, end, planned=False)
            continue
        after = [bars[d].end for d in st.depends_on if d in bars]
        start = max(after) if after else max((now - origin).total_seconds(), 0.0)
        length = st.expected_duration_s or placeholder
        bars[st.key] = Bar(st.key, st.state, start, start + length, planned=True)
    return [bars[s.key] for s in steps]


def _fmt(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def render_svg(steps: Sequence[TimelineStep], now: datetime, title: str = "Plan timeline") -> str:
    """The SVG document (a string to embed in the page)."""
    bars = layout(steps, now)
    span = max((b.end for b in bars), default=0.0) or 1.0
    scale = CHART_W / span
    height = TOP + ROW_H * len(bars) + 10
    width = LABEL_W + CHART_W + 20
    row = {b.key: i for i, b in enumerate(bars)}
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="timeline" role="img" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}">',
        f"<title>{escape(title)}</title>",
        f'<text x="{LABEL_W}" y="14" class="axis">0</text>',
        f'<text x="{LABEL_W + CHART_W}" y="14" class="axis" text-anchor="end">{_fmt(span)}</text>',
    ]
    for i, b in enumerate(bars):
        y = TOP + i * ROW_H
        x = LABEL_W + b.start * scale
        w = max((b.end - b.start) * scale, 3.0)
        dash = ' stroke-dasharray="4 3"' if b.planned else ""
        out.append(
            f'<text x="{LABEL_W - 8}" y="{y + BAR_H - 3}" text-anchor="end" class="label">'
            f"{escape(b.key)}</text>"
        )
        out.append(
            f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{BAR_H}" rx="3" '
            f'class="bar state-{escape(b.state)}"{dash} data-step="{escape(b.key)}">'
            f"<title>{escape(b.key)}: {escape(b.state)}</title></rect>"
        )
    by_key = {b.key: b for b in bars}
    for st in steps:
        for dep in st.depends_on:
            if dep not in by_key:
                continue
            src, dst = by_key[dep], by_key[st.key]
            x1, y1 = LABEL_W + src.end * scale, TOP + row[dep] * ROW_H + BAR_H / 2
            x2, y2 = LABEL_W + dst.start * scale, TOP + row[st.key] * ROW_H + BAR_H / 2
            out.append(
                f'<path d="M{x1:.1f},{y1:.1f} C{x1 + 12:.1f},{y1:.1f} {x2 - 12:.1f},{y2:.1f} '
                f'{x2:.1f},{y2:.1f}" class="dep" fill="none"/>'
            )
    out.append("</svg>")
    return "\n".join(out)

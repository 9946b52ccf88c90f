"""Server-side SVG charts: stacked bars per day, donuts, trend lines.

Pure functions from plain numbers to SVG text (no inline style or script: the
console's Content Security Policy forbids them; colours are presentation
attributes).  Each chart is ``role="img"`` with a ``<title>`` and ``<desc>``; pages put
the same numbers in a table beside it for screen readers and copying.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape

# distinguishable and at least 3:1 against white (WCAG non-text contrast)
PALETTE = ("#0b5cad", "#c2410c", "#1d6b35", "#7e22ce", "#a4161a", "#0e7490", "#854d0e", "#475569")
WIDTH, HEIGHT = 480, 240
PAD_L, PAD_R, PAD_T, PAD_B = 44, 12, 12, 56


def colour(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def _open(title: str, desc: str, width: int = WIDTH, height: int = HEIGHT) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title><desc>{escape(desc)}</desc>'
    )


def _nice_max(value: float) -> float:
    """A round axis top at or above ``value`` (1, 2 or 5 times a power of ten)."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= value)


def _axis(top: float, unit: str = "") -> list[str]:
    """Y gridlines and labels at 0, half and the top."""
    inner_h = HEIGHT - PAD_T - PAD_B
    out = []
    for frac in (0.0, 0.5, 1.0):
        y = PAD_T + inner_h * (1 - frac)
        label = _short(top * frac) + unit
        out.append(
            f'<line x1="{PAD_L}" y1="{y:.1f}" x2="{WIDTH - PAD_R}" y2="{y:.1f}" '
            f'stroke="#c9ced6" stroke-width="1"/>'
            f'<text x="{PAD_L - 4}" y="{y + 4:.1f}" text-anchor="end" font-size="11" '
            f'fill="#4a5260">{escape(label)}</text>'
        )
    return out


def _short(value: float) -> str:
    if value >= 1000:
        return f"{value / 1000:.1f}k".replace(".0k", "k")
    return f"{value:.0f}" if value == int(value) else f"{value:.1f}"


def _x_labels(days: Sequence[str]) -> list[str]:
    """Day labels (MM-DD) under the plot, at most about eight of them."""
    if not days:
        return []
    inner_w = WIDTH - PAD_L - PAD_R
    step = max(1, math.ceil(len(days) / 8))
    slot = inner_w / len(days)
    out = []
    for i in range(0, len(days), step):
        x = PAD_L + slot * (i + 0.5)
        out.append(
            f'<text x="{x:.1f}" y="{HEIGHT - PAD_B + 14}" text-anchor="middle" font-size="11" '
            f'fill="#4a5260">{escape(days[i][5:])}</text>'
        )
    return out


def _legend(names: Sequence[str], y: float) -> list[str]:
    out, x = [], float(PAD_L)
    for i, name in enumerate(names):
        out.append(
            f'<rect x="{x:.1f}" y="{y - 9:.1f}" width="10" height="10" fill="{colour(i)}"/>'
            f'<text x="{x + 14:.1f}" y="{y:.1f}" font-size="11" fill="#1b1f24">'
            f"{escape(name)}</text>"
        )
        x += 24 + 7 * len(name)
    return out


def stacked_bars(title: str, days: Sequence[str], series: Mapping[str, Sequence[int]]) -> str:
    """One bar per day, stacked by series (e.g. plan state), with a legend."""
    totals = [sum(values[i] for values in series.values()) for i in range(len(days))]
    top = _nice_max(max(totals, default=0))
    inner_w, inner_h = WIDTH - PAD_L - PAD_R, HEIGHT - PAD_T - PAD_B
    slot = inner_w / max(1, len(days))
    bar_w = max(1.0, slot * 0.7)
    parts = [_open(title, f"{sum(totals)} in all over {len(days)} days"), *_axis(top)]
    for i in range(len(days)):
        y: float = PAD_T + inner_h
        for k, (name, values) in enumerate(series.items()):
            if not values[i]:
                continue
            h = inner_h * values[i] / top
            y -= h
            x = PAD_L + slot * i + (slot - bar_w) / 2
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
                f'fill="{colour(k)}"><title>{escape(days[i])} {escape(name)}: {values[i]}'
                f"</title></rect>"
            )
    parts += _x_labels(days)
    parts += _legend(list(series), HEIGHT - 12)
    return "".join(parts) + "</svg>"


def donut(title: str, items: Sequence[tuple[str, int]]) -> str:
    """Shares of a whole as a ring, with a legend; an empty whole draws a grey ring."""
    size, r, inner = 240, 80.0, 48.0
    cx = cy = 100.0
    total = sum(n for _, n in items)
    parts = [_open(title, f"{total} in all", width=size * 2, height=size - 20)]
    if total == 0:
        parts.append(
            f'<circle cx="{cx}" cy="{cy}" r="{(r + inner) / 2}" fill="none" stroke="#c9ced6" '
            f'stroke-width="{r - inner}"/><text x="{cx}" y="{cy + 4}" text-anchor="middle" '
            f'font-size="13" fill="#4a5260">none</text>'
        )
    angle = -math.pi / 2
    for i, (name, n) in enumerate(items):
        if not n:
            continue
        label = f"{escape(name)}: {n}"
        if n == total:  # a full ring: an arc cannot start and end at the same point
            parts.append(
                f'<circle cx="{cx}" cy="{cy}" r="{(r + inner) / 2}" fill="none" '
                f'stroke="{colour(i)}" stroke-width="{r - inner}"><title>{label}</title></circle>'
            )
            break
        sweep = 2 * math.pi * n / total
        parts.append(_slice(cx, cy, r, inner, angle, angle + sweep, colour(i), label))
        angle += sweep
    parts.append(
        f'<text x="{cx}" y="{cy + 5}" text-anchor="middle" font-size="16" font-weight="700" '
        f'fill="#1b1f24">{total}</text>'
    )
    for i, (name, n) in enumerate(items[:8]):
        y = 30 + i * 20
        parts.append(
            f'<rect x="210" y="{y - 10}" width="11" height="11" fill="{colour(i)}"/>'
            f'<text x="227" y="{y}" font-size="12" fill="#1b1f24">{escape(name[:36])} ({n})</text>'
        )
    return "".join(parts) + "</svg>"


def _slice(
    cx: float, cy: float, r: float, inner: float, a0: float, a1: float, fill: str, label: str
) -> str:
    large = 1 if a1 - a0 > math.pi else 0

    def at(radius: float, a: float) -> str:
        return f"{cx + radius * math.cos(a):.2f} {cy + radius * math.sin(a):.2f}"

    d = (
        f"M {at(r, a0)} A {r} {r} 0 {large} 1 {at(r, a1)} "
        f"L {at(inner, a1)} A {inner} {inner} 0 {large} 0 {at(inner, a0)} Z"
    )
    return f'<path d="{d}" fill="{fill}"><title>{label}</title></path>'


def line(title: str, days: Sequence[str], values: Sequence[float], unit: str = "") -> str:
    """A trend line over days, a dot per day."""
    top = _nice_max(max(values, default=0))
    inner_w, inner_h = WIDTH - PAD_L - PAD_R, HEIGHT - PAD_T - PAD_B
    slot = inner_w / max(1, len(days))
    points = [
        (PAD_L + slot * (i + 0.5), PAD_T + inner_h * (1 - v / top)) for i, v in enumerate(values)
    ]
    parts = [_open(title, f"{len(days)} days"), *_axis(top, unit)]
    if len(points) > 1:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        parts.append(
            f'<polyline points="{path}" fill="none" stroke="{colour(0)}" stroke-width="2"/>'
        )
    for (x, y), day, v in zip(points, days, values, strict=True):
        parts.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour(0)}">'
            f"<title>{escape(day)}: {_short(v)}{escape(unit)}</title></circle>"
        )
    parts += _x_labels(days)
    return "".join(parts) + "</svg>"

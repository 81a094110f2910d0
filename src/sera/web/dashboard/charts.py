"""Charts for the dashboard, drawn on the server as SVG: nothing to run in the browser.

Each chart is an ``<svg role="img">`` named by its ``<title>`` and described in words by its
``<desc>`` (the total, the highest value and when), with text labels on its axes and a
``<title>`` on each bar for pointer users; the page shows the same figures in a table
(``data_table``) for everyone else. The page's CSP forbids inline styles, so there is no
``style`` attribute: classes the dashboard's stylesheet colours (``.chart .bar``, ``.grid``,
``.label``), with presentation attributes that draw a plain chart without it. Every
label is escaped, and the size is a ``viewBox``: the chart scales to its container.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from datetime import date
from decimal import Decimal

from markupsafe import Markup

Number = int | float | Decimal

WIDTH = 720
DAY_HEIGHT = 240
ROW_HEIGHT = 28  # one category of a horizontal bar chart
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 14, 30  # margins of a vertical bar chart
LABEL_WIDTH = 180  # the category labels' column
MAX_LABEL = 28  # characters of a category label drawn (the whole label is in its bar's title)
MAX_DAY_LABELS = 8
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_NOT_ID = re.compile(r"[^a-z0-9-]+")


def day_bars(key: str, title: str, points: Sequence[tuple[date, Number]], *, unit: str = "") -> Markup:
    """One bar per day, in order; ``unit`` follows each value in words ("calls", "USD")."""
    values = [value for _, value in points]
    if points and any(values):
        peak_at, peak = max(points, key=lambda p: p[1])
        desc = (
            f"{_day(points[0][0], year=True)} to {_day(points[-1][0], year=True)}: "
            f"{_fmt(sum(values), unit)} in all; the most, {_fmt(peak, unit)}, on {_day(peak_at, year=True)}."
        )
    else:
        desc = "Nothing in this period."
    every = max(1, math.ceil(len(points) / MAX_DAY_LABELS))
    bars = [
        (value, f"{_day(day, year=True)}: {_fmt(value, unit)}", _day(day) if i % every == 0 else None)
        for i, (day, value) in enumerate(points)
    ]
    return _columns(key, title, desc, bars)


def hour_bars(key: str, title: str, by_hour: Sequence[int], *, unit: str = "") -> Markup:
    """Twenty-four bars, one per local hour of the day (0-23)."""
    if len(by_hour) != 24:
        raise ValueError(f"a day has 24 hours, not {len(by_hour)}")
    if any(by_hour):
        busiest = max(range(24), key=lambda h: (by_hour[h], -h))
        most = _fmt(by_hour[busiest], unit)
        desc = f"{_fmt(sum(by_hour), unit)} in all; the busiest hour, {_hour(busiest)}, had {most}."
    else:
        desc = "Nothing in this period."
    bars = [(n, f"{_hour(h)}: {_fmt(n, unit)}", f"{h:02d}" if h % 3 == 0 else None) for h, n in enumerate(by_hour)]
    return _columns(key, title, desc, bars)


def category_bars(key: str, title: str, items: Sequence[tuple[str, Number]], *, unit: str = "") -> Markup:
    """One horizontal bar per category, in the order given, its value written after it."""
    ident = _ident(key)
    if not items or not any(value for _, value in items):
        desc = "Nothing in this period."
    else:
        desc = "; ".join(f"{label}: {_fmt(value, unit)}" for label, value in items) + "."
    height = TOP + BOTTOM + ROW_HEIGHT * max(1, len(items))
    top = max((float(value) for _, value in items), default=0.0)
    span = WIDTH - LABEL_WIDTH - RIGHT - 72  # room for the value after the longest bar
    parts = [_open(ident, title, desc, height)]
    if not items:
        parts.append(_nothing(WIDTH / 2, height / 2))
    for i, (label, value) in enumerate(items):
        y = TOP + i * ROW_HEIGHT
        middle = _n(y + ROW_HEIGHT / 2)
        shown = label if len(label) <= MAX_LABEL else label[: MAX_LABEL - 1] + "…"
        length = span * float(value) / top if top > 0 else 0.0
        parts.append(
            Markup(
                '<text class="label" x="{}" y="{}" text-anchor="end" dominant-baseline="middle">{}</text>'
                '<rect class="bar" x="{}" y="{}" width="{}" height="{}" fill="currentColor">'
                "<title>{}: {}</title></rect>"
                '<text class="label value" x="{}" y="{}" dominant-baseline="middle">{}</text>'
            ).format(
                LABEL_WIDTH - 8,
                middle,
                shown,
                LABEL_WIDTH,
                _n(y + 4),
                _n(length),
                ROW_HEIGHT - 8,
                label,
                _fmt(value, unit),
                _n(LABEL_WIDTH + length + 6),
                middle,
                _fmt(value),
            )
        )
    return _close(parts)


def data_table(caption: str, header: Sequence[str], rows: Sequence[Sequence[object]]) -> Markup:
    """The figures of a chart as a table: the first cell of each row heads it."""
    head = Markup("").join(Markup('<th scope="col">{}</th>').format(h) for h in header)
    body = []
    for row in rows:
        cells = [_cell(value) for value in row]
        first = Markup('<th scope="row">{}</th>').format(cells[0]) if cells else Markup("")
        rest = Markup("").join(Markup("<td>{}</td>").format(c) for c in cells[1:])
        body.append(Markup("<tr>{}{}</tr>").format(first, rest))
    return Markup(
        '<table class="chart-table"><caption>{}</caption><thead><tr>{}</tr></thead><tbody>{}</tbody></table>'
    ).format(caption, head, Markup("").join(body))


# -- drawing ---------------------------------------------------------------------------------


def _columns(key: str, title: str, desc: str, bars: Sequence[tuple[Number, str, str | None]]) -> Markup:
    """Vertical bars (value, its title, the label under it or None) on a scale with gridlines."""
    ident = _ident(key)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, DAY_HEIGHT - TOP - BOTTOM
    base = TOP + plot_h
    step, top = _scale(max((float(value) for value, _, _ in bars), default=0.0))
    parts = [_open(ident, title, desc, DAY_HEIGHT)]
    for k in range(round(top / step) + 1):
        tick = step * k
        y = _n(base - plot_h * tick / top)
        parts.append(
            Markup(
                '<line class="grid" x1="{}" x2="{}" y1="{}" y2="{}" stroke="currentColor" stroke-opacity="0.2"/>'
                '<text class="label" x="{}" y="{}" text-anchor="end" dominant-baseline="middle">{}</text>'
            ).format(LEFT, WIDTH - RIGHT, y, y, LEFT - 6, y, _fmt(tick))
        )
    slot = plot_w / max(1, len(bars))
    width = max(slot * 0.8, 0.5)
    for i, (value, bar_title, label) in enumerate(bars):
        x = LEFT + i * slot
        if value:
            height = plot_h * float(value) / top
            parts.append(
                Markup(
                    '<rect class="bar" x="{}" y="{}" width="{}" height="{}" fill="currentColor">'
                    "<title>{}</title></rect>"
                ).format(_n(x + (slot - width) / 2), _n(base - height), _n(width), _n(height), bar_title)
            )
        if label is not None:
            parts.append(
                Markup('<text class="label" x="{}" y="{}" text-anchor="middle">{}</text>').format(
                    _n(x + slot / 2), _n(base + 18), label
                )
            )
    if not any(value for value, _, _ in bars):
        parts.append(_nothing(LEFT + plot_w / 2, TOP + plot_h / 2))
    return _close(parts)


def _open(ident: str, title: str, desc: str, height: float) -> Markup:
    return Markup(
        '<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {} {}" role="img" '
        'aria-labelledby="{}-title" aria-describedby="{}-desc" font-family="system-ui, sans-serif" font-size="12">'
        '<title id="{}-title">{}</title><desc id="{}-desc">{}</desc>'
    ).format(WIDTH, _n(height), ident, ident, ident, title, ident, desc)


def _close(parts: list[Markup]) -> Markup:
    return Markup("").join(parts) + Markup("</svg>")


def _nothing(x: float, y: float) -> Markup:
    return Markup(
        '<text class="label empty" x="{}" y="{}" text-anchor="middle" dominant-baseline="middle">'
        "No data for this period</text>"
    ).format(_n(x), _n(y))


def _scale(peak: float) -> tuple[float, float]:
    """A round step (1, 2 or 5 times a power of ten, at least 1) and the top of the scale, at
    most five steps: counts get whole-number gridlines."""
    if peak <= 0:
        return 1.0, 1.0
    rough = peak / 4
    power = 10 ** math.floor(math.log10(rough))
    step = max(1.0, next(m * power for m in (1, 2, 5, 10) if m * power >= rough))
    return step, step * math.ceil(peak / step)


def _ident(key: str) -> str:
    """An id made only of safe characters, to refer to the title and the description."""
    return "chart-" + (_NOT_ID.sub("-", key.lower()).strip("-") or "x")


def _n(value: float) -> str:
    """A coordinate, short: two decimals at most."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _fmt(value: Number, unit: str = "") -> str:
    if isinstance(value, Decimal) or (isinstance(value, float) and not value.is_integer()):
        text = f"{value:,.2f}"
    else:
        text = f"{int(value):,}"
    return f"{text} {unit}" if unit else text


def _cell(value: object) -> str:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return _fmt(value)
    return str(value)


def _day(day: date, *, year: bool = False) -> str:
    text = f"{day.day} {MONTHS[day.month - 1]}"
    return f"{text} {day.year}" if year else text


def _hour(hour: int) -> str:
    return f"{hour:02d}:00 to {(hour + 1) % 24:02d}:00"

"""Small line charts as inline SVG, for files that must open offline (the run report): no script,
no library, no network. Lines are drawn in data order; missing values break nothing, they are left out."""
import math
from html import escape

# Tableau 10, as Vega-Lite's charts in the app: ten runs (a lesson's grid of eight) each their own colour.
PALETTE = ("#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#eeca3b", "#b279a2", "#ff9da6", "#9d755d",
           "#bab0ac")
LEGEND_ROW = 16   # px: one row of the legend


def line_chart(series, *, title, y_label, percent=False, width=520, height=280):
    """An SVG document of `series` ({label: [(x, y), ...]}) with axes, ticks and a legend."""
    points = [(x, y) for line in series.values() for x, y in line if y is not None]
    left, right, top, bottom = 58, 16, 34, 46
    plot_w, plot_h = width - left - right, height - top - bottom
    # The legend flows under the title and wraps: a lesson's eight runs each keep a readable name.
    legend = _legend_places(series, left, width - right)
    rows = 1 + max((row for _, row in legend), default=-1)
    top, height = top + LEGEND_ROW * rows, height + LEGEND_ROW * rows
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
             f'height="{height}" role="img" aria-label="{escape(title)}" font-family="sans-serif" font-size="12">',
             f'<text x="{left}" y="18" font-size="14" font-weight="bold">{escape(title)}</text>']
    if not points:
        parts.append(f'<text x="{left}" y="{top + plot_h / 2}">no points recorded</text></svg>')
        return "".join(parts)
    x_low, x_high = min(x for x, _ in points), max(x for x, _ in points)
    y_low, y_high = min(y for _, y in points), max(y for _, y in points)
    if percent:
        y_low = 0.0  # accuracy from zero: how far a run got reads at a glance
    y_ticks = nice_ticks(y_low, y_high)
    y_low, y_high = y_ticks[0], y_ticks[-1]
    x_high = x_high if x_high > x_low else x_low + 1

    def sx(x):
        return left + (x - x_low) / (x_high - x_low) * plot_w

    def sy(y):
        return top + plot_h - (y - y_low) / ((y_high - y_low) or 1) * plot_h

    for tick in y_ticks:
        label = f"{tick:.0%}" if percent else f"{tick:g}"
        parts.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{sy(tick):.1f}" y2="{sy(tick):.1f}" stroke="#ddd"/>'
                     f'<text x="{left - 6}" y="{sy(tick) + 4:.1f}" text-anchor="end">{label}</text>')
    for tick in nice_ticks(x_low, x_high, count=8, integers=True):
        if x_low <= tick <= x_high:
            parts.append(f'<text x="{sx(tick):.1f}" y="{top + plot_h + 16}" text-anchor="middle">{tick:g}</text>')
    parts.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{top + plot_h}" y2="{top + plot_h}" stroke="#333"/>'
                 f'<text x="{left + plot_w / 2}" y="{height - 8}" text-anchor="middle">epoch</text>'
                 f'<text transform="translate(14 {top + plot_h / 2}) rotate(-90)" text-anchor="middle">'
                 f'{escape(y_label)}</text>')
    for index, (label, line) in enumerate(series.items()):
        colour = PALETTE[index % len(PALETTE)]
        drawn = [(sx(x), sy(y)) for x, y in line if y is not None]
        if drawn:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in drawn)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
            parts.extend(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{colour}"/>' for x, y in drawn)
        legend_x, row = legend[index]
        parts.append(f'<rect x="{legend_x}" y="{26 + LEGEND_ROW * row}" width="12" height="12" fill="{colour}"/>'
                     f'<text x="{legend_x + 16}" y="{36 + LEGEND_ROW * row}">{escape(label)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _legend_places(series, left, right_edge):
    """(x, row) of each legend entry, left to right, wrapping at `right_edge` (about 7 px a
    character at 12 px, so a long name is not drawn over the next)."""
    places, x, row = [], left, 0
    for label in series:
        entry = 16 + 7 * len(str(label)) + 14
        if x > left and x + entry > right_edge:
            x, row = left, row + 1
        places.append((x, row))
        x += entry
    return places


def nice_ticks(low, high, *, count=5, integers=False):
    """Round tick values covering [low, high]: steps of 1, 2 or 5 times a power of ten."""
    if high <= low:
        high = low + (1 if integers else abs(low) * 0.1 or 1)
    raw = (high - low) / max(1, count - 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    if integers:
        step = max(1, round(step))
    start = (low // step) * step
    ticks, value = [], start
    while value < high + step * 1e-9:
        ticks.append(round(value, 12))
        value += step
    if ticks[-1] < high:
        ticks.append(round(value, 12))
    return ticks


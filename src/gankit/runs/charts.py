"""Line charts as inline SVG: the curves of ``report.html``, drawn without JavaScript or network.

:func:`line_chart` draws one or more series against a shared x axis and returns SVG markup to
paste into HTML. Long series are drawn faintly with a moving average on top; a few outliers far
outside the bulk of the values (a loss spike at step 1, say) are clipped to the frame rather
than flattening every other point, and the chart says so.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

import numpy as np

# Tableau 10: distinct on screen and in print
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22", "#17becf")
MAX_POINTS = 800  # longer series are averaged into this many buckets before drawing
SMOOTH_ABOVE = 120  # series longer than this get a moving average drawn over the faint raw line


@dataclass
class Series:
    """One line: ``y`` against ``x`` (non-finite ``y`` breaks the line)."""

    label: str
    x: Sequence[float]
    y: Sequence[float]
    color: str
    dashed: bool = False


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """About ``count`` round tick values (1, 2 or 5 times a power of ten apart) covering ``[lo, hi]``."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo]
    raw = (hi - lo) / max(1, count)
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    ticks = []
    value = first
    while value <= hi + step * 1e-9:
        ticks.append(0.0 if abs(value) < step * 1e-9 else value)
        value = first + len(ticks) * step
    return ticks


def fmt(value: float) -> str:
    """A short label for a number: 3 significant digits, scientific when very large or small."""
    if value is None or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, bool) or isinstance(value, int):
        return f"{value:,}" if abs(value) >= 10_000 else str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "∞" if value > 0 else "−∞"
    if value == 0:
        return "0"
    if abs(value) >= 1e5 or abs(value) < 1e-3:
        return f"{value:.2e}"
    return f"{value:.4g}"


def _bucket(x: np.ndarray, y: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Average ``(x, y)`` over ``size`` equal runs of points (non-finite ``y`` skipped; all-bad buckets are NaN)."""
    if len(x) <= size:
        return x, y
    edges = np.linspace(0, len(x), size + 1).astype(int)
    bx, by = np.empty(size), np.empty(size)
    for i, (a, b) in enumerate(zip(edges[:-1], edges[1:], strict=True)):
        part = y[a:b]
        good = part[np.isfinite(part)]
        bx[i] = x[a:b].mean()
        by[i] = good.mean() if len(good) else np.nan
    return bx, by


def moving_average(y: np.ndarray, window: int) -> np.ndarray:
    """Centred mean over ``window`` points, ignoring non-finite values (NaN where a window holds none)."""
    good = np.isfinite(y)
    values = np.where(good, y, 0.0)
    kernel = np.ones(window)
    sums = np.convolve(values, kernel, mode="same")
    counts = np.convolve(good.astype(float), kernel, mode="same")
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def y_domain(values: np.ndarray) -> tuple[float, float, bool]:
    """``(lo, hi, clipped)``: the range of the finite ``values``, or of their bulk when a few lie far out."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return 0.0, 1.0, False
    lo, hi = float(finite.min()), float(finite.max())
    clipped = False
    if finite.size >= 20:
        q_lo, q_hi = (float(v) for v in np.quantile(finite, [0.01, 0.99]))
        if q_hi > q_lo and hi - lo > 6 * (q_hi - q_lo):
            pad = 0.25 * (q_hi - q_lo)
            lo, hi, clipped = max(lo, q_lo - pad), min(hi, q_hi + pad), True
    if hi - lo < 1e-12 * max(1.0, abs(hi)):
        half = 0.1 * abs(hi) if hi != 0 else 1.0
        return lo - half, hi + half, clipped
    pad = 0.04 * (hi - lo)
    return lo - pad, hi + pad, clipped


def _segments(px: np.ndarray, py: np.ndarray) -> list[str]:
    """``points`` attributes of the polylines of a path, broken where ``py`` is not finite."""
    out, current = [], []
    for a, b in zip(px, py, strict=True):
        if math.isfinite(a) and math.isfinite(b):
            current.append(f"{a:.1f},{b:.1f}")
        elif current:
            out.append(" ".join(current))
            current = []
    if current:
        out.append(" ".join(current))
    return out


def _legend_corner(points: np.ndarray, frame: tuple[float, float, float, float], w: float, h: float
                   ) -> tuple[float, float]:
    """The top-left of a ``w`` x ``h`` legend box in the frame's corner that covers the fewest points."""
    left, top, pw, ph = frame
    corners = [(left + 4, top + 3), (left + pw - w - 4, top + 3), (left + 4, top + ph - h - 3),
               (left + pw - w - 4, top + ph - h - 3)]
    px, py = points[:, 0], points[:, 1]

    def covered(corner: tuple[float, float]) -> int:
        x, y = corner
        return int(((px >= x - 3) & (px <= x + w + 3) & (py >= y - 3) & (py <= y + h + 3)).sum())

    return min(corners, key=covered)  # ties keep the first: top left


def line_chart(series: Sequence[Series], *, title: str, x_label: str = "step",
               x_domain: tuple[float, float] | None = None, y_range: tuple[float, float] | None = None,
               width: int = 380, height: int = 240, legend: bool = True) -> str:
    """An SVG line chart of ``series`` (inline markup, no script, no external reference).

    Args:
        series: the lines; each keeps its colour, dashed ones are drawn dashed.
        title: shown above the frame and as the SVG's accessible name.
        x_label: the x axis' name.
        x_domain: fixed x range (shared by charts placed side by side); default the data's.
        y_range: fixed y range; default the data's (see :func:`y_domain`).
        width, height: size in CSS pixels.
        legend: draw the series' labels inside the frame.
    """
    left, right, top, bottom = 58, 12, 26, 34
    pw, ph = width - left - right, height - top - bottom
    arrays = [(s, np.asarray(s.x, dtype=float), np.asarray(s.y, dtype=float)) for s in series]
    arrays = [(s, x, y) for s, x, y in arrays if len(x) and len(x) == len(y)]
    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
             f'role="img" aria-label="{escape(title)}"><title>{escape(title)}</title>',
             f'<text x="{left}" y="16" class="ct">{escape(title)}</text>',
             f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" class="frame"/>']
    all_x = np.concatenate([x for _, x, _ in arrays]) if arrays else np.array([])
    all_y = np.concatenate([y for _, _, y in arrays]) if arrays else np.array([])
    if not arrays or not np.isfinite(all_y).any():
        parts.append(f'<text x="{left + pw / 2}" y="{top + ph / 2}" text-anchor="middle" class="note">'
                     f'no finite values</text></svg>')
        return "".join(parts)
    x0, x1 = x_domain if x_domain is not None else (float(np.nanmin(all_x)), float(np.nanmax(all_x)))
    if x1 <= x0:
        x0, x1 = x0 - 1, x1 + 1
    if y_range is not None:
        y0, y1, clipped = y_range[0], y_range[1], bool(((all_y < y_range[0]) | (all_y > y_range[1])).any())
    else:
        y0, y1, clipped = y_domain(all_y)

    def sx(v: np.ndarray) -> np.ndarray:
        return left + (v - x0) / (x1 - x0) * pw

    def sy(v: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            return top + (1 - (np.clip(v, y0, y1) - y0) / (y1 - y0)) * ph

    for tick in nice_ticks(y0, y1, 5):
        py = float(sy(np.array(tick)))
        parts.append(f'<line x1="{left}" x2="{left + pw}" y1="{py:.1f}" y2="{py:.1f}" class="grid"/>'
                     f'<text x="{left - 5}" y="{py + 3.5:.1f}" text-anchor="end" class="tick">{escape(fmt(tick))}</text>')
    for tick in nice_ticks(x0, x1, 6):
        px = float(sx(np.array(tick)))
        label = fmt(int(tick)) if float(tick).is_integer() else fmt(tick)
        anchor = "end" if px > left + pw - 12 else "middle"  # the last label stays inside the chart
        parts.append(f'<line x1="{px:.1f}" x2="{px:.1f}" y1="{top + ph}" y2="{top + ph + 4}" class="axis"/>'
                     f'<text x="{px + (4 if anchor == "end" else 0):.1f}" y="{top + ph + 15}" text-anchor="{anchor}" '
                     f'class="tick">{escape(label)}</text>')
    parts.append(f'<text x="{left + pw + 4}" y="{height - 3}" text-anchor="end" class="tick">{escape(x_label)}</text>')
    if clipped:
        parts.append(f'<text x="{left + pw - 4}" y="{top + ph - 5}" text-anchor="end" class="note">'
                     f'outliers clipped to the frame</text>')
    m = 4  # the clip leaves room for the dots of points on the frame
    parts.append(f'<svg x="{left - m}" y="{top - m}" width="{pw + 2 * m}" height="{ph + 2 * m}" '
                 f'viewBox="{left - m} {top - m} {pw + 2 * m} {ph + 2 * m}" overflow="hidden">')
    drawn = []  # (px, py) of every point, to keep the legend off them
    for s, x, y in arrays:
        bx, by = _bucket(x, y, MAX_POINTS)
        drawn.append(np.stack([sx(bx), sy(by)], axis=1))
        dash = ' stroke-dasharray="5 3"' if s.dashed else ""
        smooth = len(x) > SMOOTH_ABOVE
        opacity = 0.3 if smooth else 0.95
        for points in _segments(sx(bx), sy(by)):
            parts.append(f'<polyline points="{points}" fill="none" stroke="{s.color}" stroke-width="1.3" '
                         f'stroke-opacity="{opacity}"{dash}><title>{escape(s.label)}</title></polyline>')
        if smooth:
            window = max(3, len(bx) // 40)
            for points in _segments(sx(bx), sy(moving_average(by, window))):
                parts.append(f'<polyline points="{points}" fill="none" stroke="{s.color}" stroke-width="1.8"{dash}>'
                             f'<title>{escape(s.label)} (moving average)</title></polyline>')
        elif len(x) <= 40:
            finite = np.isfinite(by)
            for px, py in zip(sx(bx[finite]), sy(by[finite]), strict=True):
                parts.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="2" fill="{s.color}"/>')
    parts.append("</svg>")
    if legend and series:
        box_w, box_h = 36 + 6.2 * max(len(s.label) for s in series), 13 * len(series) + 4
        bx0, by0 = _legend_corner(np.concatenate(drawn), (left, top, pw, ph), box_w, box_h)
        parts.append(f'<rect x="{bx0:.0f}" y="{by0:.0f}" width="{box_w:.0f}" height="{box_h}" class="lgbox"/>')
        for i, s in enumerate(series):
            ly = by0 + 9 + 13 * i
            dash = ' stroke-dasharray="5 3"' if s.dashed else ""
            parts.append(f'<line x1="{bx0 + 4:.0f}" x2="{bx0 + 22:.0f}" y1="{ly - 4:.0f}" y2="{ly - 4:.0f}" '
                         f'stroke="{s.color}" stroke-width="2"{dash}/>'
                         f'<text x="{bx0 + 26:.0f}" y="{ly:.0f}" class="lg">{escape(s.label)}</text>')
    parts.append("</svg>")
    return "".join(parts)

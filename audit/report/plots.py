"""Explanation plots for the offline report: SHAP beeswarm, dependence and waterfall, as inline SVG.

Same rules as :mod:`audit.report.charts` (standard library only, escaped text, no scripts).
The check bounds the points it stores; these functions bound them again (``max_points``) so
the report's size never grows with the data. Colours: feature value from blue (low) through
grey to vermillion (high), Okabe-Ito ends, so the scale reads for colour-blind readers too;
contributions are vermillion (raise the output) or blue (lower it) and also carry their sign.
"""

from __future__ import annotations

from collections.abc import Sequence

from audit.report.charts import (
    AXIS,
    CHAR_W,
    GRID,
    INK,
    MUTED,
    _axis,
    _axis_titles,
    _empty,
    _esc,
    _f,
    _line,
    _n,
    _scale,
    _svg,
    _text,
    fmt_value,
    head_height,
    nice_ticks,
)

LOW, MID, HIGH = (0, 114, 178), (190, 190, 190), (213, 94, 0)
UP, DOWN = "#D55E00", "#0072B2"


def value_colour(t: float | None) -> str:
    """Blue (0) -> grey (0.5) -> vermillion (1); dark grey when the value has no order."""
    if t is None:
        return "#555555"
    t = min(1.0, max(0.0, t))
    a, b, u = (LOW, MID, t * 2) if t <= 0.5 else (MID, HIGH, t * 2 - 1)
    return "#{:02x}{:02x}{:02x}".format(*(round(x + (y - x) * u) for x, y in zip(a, b, strict=True)))


def _dots(points: list[tuple[float, float, str]], size: float = 4.0, opacity: float = 1.0) -> list[str]:
    """Many dots as one path per colour (round caps on zero-length segments): a few bytes a dot,
    so a plot of hundreds of rows stays small."""
    by_colour: dict[str, list[str]] = {}
    for x, y, colour in points:
        by_colour.setdefault(colour, []).append(f"M{x:.1f} {y:.1f}h0")
    extra = f' stroke-opacity="{opacity}"' if opacity < 1 else ""
    return [f'<path class="dots" d="{"".join(d)}" stroke="{c}" stroke-width="{size}" stroke-linecap="round"{extra}/>'
            for c, d in by_colour.items()]


def _thin(n: int, most: int) -> range | list[int]:
    return range(n) if n <= most else [round(k * (n - 1) / (most - 1)) for k in range(most)]


def _colour_legend(x: float, y: float) -> list[str]:
    out = [_text(x, y + 9, "feature value: low", fill=MUTED, size=10)]
    x += 100
    for k in range(5):
        out.append(f'<rect x="{_n(x + k * 12)}" y="{_n(y)}" width="12" height="10" fill="{value_colour(k / 4)}"/>')
    out.append(_text(x + 64, y + 9, "high", fill=MUTED, size=10))
    out.append(f'<circle cx="{_n(x + 104)}" cy="{_n(y + 5)}" r="3" fill="{value_colour(None)}"/>')
    out.append(_text(x + 111, y + 9, "category (no order)", fill=MUTED, size=10))
    return out


def beeswarm(features: list[str], shap: list[list[float]], colour: list[list[float | None]], *,
             title: str = "", x_label: str = "SHAP value", width: int | None = None,
             max_points: int = 300) -> str:
    """One row per feature (most important first): each explained row is a dot at its SHAP value,
    stacked where dots crowd (a beeswarm), coloured by the row's feature value (``colour`` in
    [0, 1], its rank among the rows; None for categories)."""
    if not features or len(shap) != len(features) or len(colour) != len(features):
        return _empty(width or 560, 160, title)
    rows = []
    for vals, cols in zip(shap, colour, strict=True):
        if len(vals) != len(cols):
            raise ValueError("beeswarm: each feature needs one colour value per SHAP value")
        keep = _thin(len(vals), max_points)
        rows.append([(_f(vals[i]), cols[i]) for i in keep if _f(vals[i]) is not None])
    finite = [v for r in rows for v, _ in r]
    if not finite:
        return _empty(width or 560, 160, title)
    longest = max(len(f) for f in features) * CHAR_W
    width = width or int(min(900, max(560, longest + 460)))
    lane = 26.0
    top = head_height(title, width) + 18
    height = int(top + lane * len(features) + 40)
    L, R, B = min(width * 0.4, longest + 16), width - 16, top + lane * len(features)
    ticks = nice_ticks(min(finite + [0.0]), max(finite + [0.0]))
    sx = _scale(ticks[0], ticks[-1], L, R)
    parts = _colour_legend(8, top - 16)
    parts += _axis(ticks, sx, (L, top, R, B), on_y=False)
    parts.append(_line(sx(0.0), top, sx(0.0), B, AXIS))
    for i, (name, pts) in enumerate(zip(features, rows, strict=True)):
        cy = top + lane * (i + 0.5)
        parts.append(_line(L, cy, R, cy, GRID))
        parts.append(_text(L - 7, cy + 3.5, name, anchor="end", maxw=L - 10))
        stacks: dict[int, int] = {}
        dots = []
        for v, c in sorted(pts, key=lambda t: t[0]):
            x = sx(v)
            slot = int(x // 3)
            k = stacks.get(slot, 0)
            stacks[slot] = k + 1
            dy = ((k + 1) // 2) * 2.2 * (1 if k % 2 else -1)
            if abs(dy) > lane / 2 - 2:
                dy = (abs(dy) % (lane / 2 - 2)) * (1 if k % 2 else -1)
            dots.append((x, cy + dy, value_colour(None if c is None else round(c * 8) / 8)))
        parts += _dots(dots)
    parts += _axis_titles(L, top, R, B, height, x_label)
    return _svg(width, height, title, parts)


def scatter(x: list[float | str], y: list[float], *, colour: list[float | None] | None = None,
            title: str = "", x_label: str = "", y_label: str = "SHAP value",
            categories: list[str] | None = None, width: int = 420, height: int = 300,
            max_points: int = 400) -> str:
    """A dependence plot: the feature's value (x) against its SHAP value (y). With
    ``categories``, x holds category indices and the axis names them."""
    if len(x) != len(y) or (colour is not None and len(colour) != len(x)):
        raise ValueError("scatter: x, y and colour lengths differ")
    keep = _thin(len(x), max_points)
    pts = [(_f(x[i]), _f(y[i]), colour[i] if colour else None) for i in keep]
    pts = [p for p in pts if p[0] is not None and p[1] is not None]
    if not pts:
        return _empty(width, height, title)
    top = head_height(title, width)
    yt = nice_ticks(min(p[1] for p in pts), max(p[1] for p in pts))
    L = max(len(fmt_value(t)) for t in yt) * CHAR_W + 30
    R, B = width - 14, height - 40 - (16 if categories else 0)
    sy = _scale(yt[0], yt[-1], B, top)
    if categories:
        k = len(categories)
        sx = _scale(-0.5, k - 0.5, L, R)
        xt, xlab = list(range(k)), [c if len(c) * CHAR_W < (R - L) / k else c[: max(1, int((R - L) / k / CHAR_W) - 1)] + "\u2026" for c in categories]
    else:
        xt = nice_ticks(min(p[0] for p in pts), max(p[0] for p in pts))
        sx, xlab = _scale(xt[0], xt[-1], L, R), None
    parts = _axis(yt, sy, (L, top, R, B), on_y=True) + _axis(xt, sx, (L, top, R, B), on_y=False, labels=xlab)
    parts += [_line(L, top, L, B, AXIS), _line(L, B, R, B, AXIS)]
    if yt[0] < 0 < yt[-1]:
        parts.append(_line(L, sy(0.0), R, sy(0.0), MUTED, ' stroke-dasharray="3 3"'))
    dots = []
    for i, (px, py, c) in enumerate(pts):
        jitter = ((i * 7919) % 21 - 10) / 10 * 0.28 if categories else 0.0
        dots.append((sx(px + jitter), sy(py), value_colour(None if c is None else round(c * 8) / 8) if colour else "#0072B2"))
    parts += _dots(dots, 4.5, 0.7)
    parts += _axis_titles(L, top, R, B + (16 if categories else 0), height, x_label, y_label)
    return _svg(width, height, title, parts)


def waterfall(base: float, contributions: Sequence[tuple[str, float]], output: float, *,
              title: str = "", x_label: str = "model output", width: int | None = None,
              note: str = "") -> str:
    """How one row's output is built: from the base value (the average output), each feature's
    SHAP value moves it up (vermillion, '+') or down (blue, '-') to the row's output."""
    items = [(str(label), _f(v)) for label, v in contributions if _f(v) is not None]
    b, out = _f(base), _f(output)
    if b is None or out is None:
        return _empty(width or 560, 160, title)
    longest = max([len(s) for s, _ in items] + [24]) * CHAR_W
    width = width or int(min(900, max(560, longest + 380)))
    lane = 22.0
    top = head_height(title, width) + (14 if note else 0)
    rows = len(items) + 2
    height = int(top + lane * rows + 44)
    L, R, B = min(width * 0.45, longest + 16), width - 70, top + lane * rows
    running, spans = b, []
    for label, v in items:
        spans.append((label, running, running + v, v))
        running += v
    ends = [b, out, running] + [s[2] for s in spans]
    ticks = nice_ticks(min(ends), max(ends))
    sx = _scale(ticks[0], ticks[-1], L, R)
    parts = [_text(8, top - 4, note, fill=MUTED, size=10, maxw=width - 16)] if note else []
    parts += _axis(ticks, sx, (L, top, R, B), on_y=False)
    cy = top + lane * 0.5
    parts.append(_text(L - 7, cy + 3.5, f"output f(x) = {fmt_value(out)}", anchor="end", extra=' font-weight="600"'))
    parts.append(_line(sx(out), cy - 7, sx(out), cy + 7, INK, ' stroke-width="2"'))
    for i, (label, a, z, v) in enumerate(reversed(spans)):
        cy = top + lane * (i + 1.5)
        x0, x1 = sorted((sx(a), sx(z)))
        colour, sign = (UP, "+") if v >= 0 else (DOWN, "\u2212")
        tip = f"{label}: {sign}{fmt_value(abs(v))}"
        parts.append(_text(L - 7, cy + 3.5, label, anchor="end", maxw=L - 10))
        parts.append(f'<rect class="bar" x="{_n(x0)}" y="{_n(cy - 7)}" width="{_n(max(x1 - x0, 1.0))}" height="14" '
                     f'fill="{colour}"><title>{_esc(tip)}</title></rect>')
        parts.append(_text(x1 + 4, cy + 3.5, f"{sign}{fmt_value(abs(v))}", fill=colour, size=10))
    cy = top + lane * (rows - 0.5)
    parts.append(_text(L - 7, cy + 3.5, f"base value E[f(x)] = {fmt_value(b)}", anchor="end", fill=MUTED))
    parts.append(_line(sx(b), top, sx(b), B, MUTED, ' stroke-dasharray="3 3"'))
    parts += _axis_titles(L, top, R, B, height, x_label)
    return _svg(width, height, title, parts)

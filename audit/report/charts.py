"""Inline SVG charts for the offline HTML report: standard library only, no JavaScript.

All text that reaches the SVG is escaped with ``html.escape(..., quote=True)``; numbers use a fixed
precision. None/NaN/inf values are drawn as gaps labelled 'n/a'; empty inputs give a 'no data' SVG.
Bars, points and cells carry ``<title>`` tooltips; colours are the Okabe-Ito (colour-blind-safe) set.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence

PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000", "#F0E442")
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif"
INK, MUTED, GRID, AXIS = "#222222", "#666666", "#e6e6e6", "#8c8c8c"
CHAR_W = 6.3  # rough average glyph width (px) at 11px, used for layout and truncation
_HALO = ' stroke="#ffffff" stroke-width="3" paint-order="stroke"'  # legible over bars
_HEAT = ((247, 251, 255), (107, 174, 214), (8, 48, 107))  # sequential blues


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def _n(x: float) -> str:
    return f"{x:.1f}"


def _f(v: object) -> float | None:
    """A finite float, or None for None/NaN/inf/non-numbers."""
    try:
        f = float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _ci(c: object) -> tuple[float, float] | None:
    try:
        lo, hi = _f(c[0]), _f(c[1])  # type: ignore[index]
    except (TypeError, IndexError, KeyError):
        return None
    return None if lo is None or hi is None else (min(lo, hi), max(lo, hi))


def fmt_value(v: object) -> str:
    """Fixed-precision text for a data value ('n/a' when missing)."""
    f = _f(v)
    if f is None:
        return "n/a"
    return f"{f:,.0f}" if abs(f) >= 1000 else f"{f:.1f}" if abs(f) >= 100 else f"{f:.3f}"


def _fit(text: object, px: float) -> str:
    s, k = str(text), max(1, int(px / CHAR_W))
    return s if len(s) <= k else s[: max(1, k - 1)] + "\u2026"


def _text(x: float, y: float, s: object, *, anchor: str = "start", fill: str = INK,
          size: int = 11, extra: str = "", tip: object = None, maxw: float | None = None) -> str:
    shown = _fit(s, maxw) if maxw is not None else str(s)
    if tip is None and shown != str(s):
        tip = s
    t = f"<title>{_esc(tip)}</title>" if tip is not None else ""
    return (f'<text x="{_n(x)}" y="{_n(y)}" text-anchor="{anchor}" fill="{fill}" '
            f'font-size="{size}"{extra}>{t}{_esc(shown)}</text>')


def _svg(width: float, height: float, title: str, body: list[str]) -> str:
    w, h = round(width), round(height)
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
            f'viewBox="0 0 {w} {h}" role="img" aria-label="{_esc(title or "chart")}" '
            f'font-family="{_esc(FONT)}" font-size="11" class="audit-chart" '
            f'style="max-width:100%;height:auto">')
    top = [_text(8, 17, title, size=12, extra=' font-weight="600"', maxw=w - 16)] if title else []
    return head + "".join(body + top) + "</svg>"


def _empty(width: float, height: float, title: str, msg: str = "no data") -> str:
    body = [(f'<rect x="0.5" y="0.5" width="{int(width) - 1}" height="{int(height) - 1}" '
             f'fill="#fafafa" stroke="{GRID}"/>'),
            _text(width / 2, height / 2 + 4, msg, anchor="middle", fill=MUTED)]
    return _svg(width, height, title, body)


def nice_ticks(lo: float, hi: float, max_ticks: int = 6) -> list[float]:
    """Round tick values (steps 1, 2 or 5 times a power of ten) covering [lo, hi]."""
    lo, hi = min(lo, hi), max(lo, hi)
    if hi - lo < 1e-12:
        pad = abs(lo) * 0.1 or 1.0
        lo, hi = lo - pad, hi + pad
    raw = (hi - lo) / max(1, max_ticks - 1)
    mag = 10.0 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw * (1 - 1e-9))
    start, end = math.floor(lo / step + 1e-9), math.ceil(hi / step - 1e-9)
    digits = max(0, -math.floor(math.log10(step))) + 2
    return [round(k * step, digits) + 0.0 for k in range(start, end + 1)]


def _tick_label(t: float, step: float) -> str:
    return f"{t:.{max(0, -math.floor(math.log10(step) + 1e-9))}f}" if step > 0 else f"{t:g}"


def _domain(vals: Sequence[float], value_range: tuple[float, float] | None,
            zero: bool) -> tuple[list[float], float, float]:
    if value_range is not None:
        d0, d1 = sorted((float(value_range[0]), float(value_range[1])))
        d1 = d1 if d1 > d0 else d0 + 1.0
        eps = (d1 - d0) * 1e-9
        return [t for t in nice_ticks(d0, d1) if d0 - eps <= t <= d1 + eps], d0, d1
    lo, hi = min(vals), max(vals)
    if zero:
        lo, hi = min(lo, 0.0), max(hi, 0.0)
    ticks = nice_ticks(lo, hi)
    return ticks, ticks[0], ticks[-1]


def _scale(d0: float, d1: float, r0: float, r1: float) -> Callable[[float], float]:
    k = (r1 - r0) / (d1 - d0)
    lo, hi = min(r0, r1), max(r0, r1)
    return lambda v: min(hi, max(lo, r0 + (v - d0) * k))


def _line(x1: float, y1: float, x2: float, y2: float, stroke: str, extra: str = "") -> str:
    return (f'<line x1="{_n(x1)}" y1="{_n(y1)}" x2="{_n(x2)}" y2="{_n(y2)}" '
            f'stroke="{stroke}"{extra}/>')


def _axis(ticks: Sequence[float], sc: Callable[[float], float], box: tuple, on_y: bool,
          labels: Sequence[str] | None = None) -> list[str]:
    """Gridlines, tick marks and tick labels for one axis of the plot box (L, T, R, B)."""
    L, T, R, B = box
    step, out = abs(ticks[1] - ticks[0]) if len(ticks) > 1 else 0.0, []
    for i, t in enumerate(ticks):
        p, lab = sc(t), labels[i] if labels else _tick_label(t, step)
        if on_y:
            out += [_line(L - 4, p, R, p, GRID), _line(L - 4, p, L, p, AXIS),
                    _text(L - 7, p + 3.5, lab, anchor="end", fill=MUTED, size=10)]
        else:
            out += [_line(p, T, p, B + 4, GRID), _line(p, B, p, B + 4, AXIS),
                    _text(p, B + 15, lab, anchor="middle", fill=MUTED, size=10)]
    return out


def _axis_titles(L: float, T: float, R: float, B: float, height: float, x_label: str,
                 y_label: str = "") -> list[str]:
    out = [_text((L + R) / 2, height - 6, x_label, anchor="middle", fill=MUTED)] if x_label else []
    if y_label:
        cy = (T + B) / 2
        out.append(_text(12, cy, y_label, anchor="middle", fill=MUTED, maxw=B - T,
                         extra=f' transform="rotate(-90 12 {_n(cy)})"'))
    return out


def _legend(names: Sequence[str], x0: float, y0: float, width: float) -> tuple[list[str], float]:
    """Colour swatches with series names, wrapping rows; returns (svg parts, height used)."""
    out, x, y = [], x0, y0
    for i, name in enumerate(names):
        shown = _fit(name, 180)
        w = 14 + len(shown) * CHAR_W + 14
        if x > x0 and x + w > width - 8:
            x, y = x0, y + 16
        out.append(f'<rect class="swatch" x="{_n(x)}" y="{_n(y)}" width="10" height="10" '
                   f'rx="2" fill="{PALETTE[i % len(PALETTE)]}"/>')
        out.append(_text(x + 14, y + 9, name, maxw=180))
        x += w
    return out, (y - y0 + 18) if names else 0.0


def _tick_w(ticks: Sequence[float]) -> float:
    step = abs(ticks[1] - ticks[0]) if len(ticks) > 1 else 0.0
    return max(len(_tick_label(t, step)) for t in ticks) * CHAR_W * 0.95


def _bars(cats: Sequence[str], series: dict[str, Sequence[object]], cis: dict, *, title: str,
          x_label: str, ref_line: float | None, ref_label: str, horizontal: bool,
          value_range: tuple[float, float] | None, width: int, height: int | None) -> str:
    n, names = len(cats), list(series)
    vals = {s: [_f(v) for v in series[s]] for s in names}
    ivs = {s: [_ci(c) for c in (cis or {}).get(s) or [None] * n] for s in names}
    for s in names:
        if len(vals[s]) != n or len(ivs[s]) != n:
            raise ValueError(f"series {s!r}: expected {n} values/intervals to match the labels")
    if height is None:
        height = max(120, 60 + (16 if x_label else 0) + n * 12 * (1 + len(names))) \
            if horizontal else 260
    finite = [v for s in names for v in vals[s] if v is not None]
    if not finite:
        return _empty(width, min(height, 160), title)
    extent = finite + [b for s in names for c in ivs[s] if c for b in c]
    ref = _f(ref_line)
    ticks, d0, d1 = _domain(extent + ([ref] if ref is not None else []), value_range, zero=True)
    legend = len(names) > 1 or any(names)
    top = (28 if title else 10) + (14 if ref is not None and ref_label and horizontal else 0)
    parts, lh = _legend(names, 8, top, width) if legend else ([], 0.0)
    top += lh + 8
    if horizontal:
        longest = max(len(str(c)) for c in cats) * CHAR_W
        L, R, B = min(width * 0.4, longest + 14), width - 16, height - 22 - (16 if x_label else 0)
        sc, ext = _scale(d0, d1, L, R), (top, B)
    else:
        L, R, B = _tick_w(ticks) + 12, width - 12, height - 24 - (16 if x_label else 0)
        sc, ext = _scale(d0, d1, B, top), (L, R)
    box = (L, top, R, B)
    parts += _axis(ticks, sc, box, on_y=not horizontal)
    band = (ext[1] - ext[0]) / n
    slot = min(band * 0.8 / len(names), 28.0 if horizontal else 60.0)
    base = sc(min(max(0.0, d0), d1))
    for i, cat in enumerate(cats):
        mid = ext[0] + band * (i + 0.5)
        if horizontal:
            parts.append(_text(L - 7, mid + 3.5, cat, anchor="end", maxw=L - 12))
        else:
            parts.append(_text(mid, B + 15, cat, anchor="middle", maxw=band - 4))
        for j, s in enumerate(names):
            c = mid + (j - (len(names) - 1) / 2) * slot
            v, iv, col = vals[s][i], ivs[s][i], PALETTE[j % len(PALETTE)]
            who = f"{cat} \u2014 {s}" if s else str(cat)
            if v is None:
                tx, ty = (base + 4, c + 3) if horizontal else (c, base - 4)
                parts.append(_text(tx, ty, "n/a", anchor="start" if horizontal else "middle",
                                   fill=MUTED, size=9, tip=f"{who}: n/a"))
                continue
            tip = f"{who}: {fmt_value(v)}"
            if iv:
                tip += f" (CI {fmt_value(iv[0])} \u2013 {fmt_value(iv[1])})"
            p, th = sc(v), slot * 0.85
            a, b = min(p, base), abs(p - base)
            x, y, w, h = (a, c - th / 2, b, th) if horizontal else (c - th / 2, a, th, b)
            parts.append(f'<rect class="bar" x="{_n(x)}" y="{_n(y)}" width="{_n(w)}" '
                         f'height="{_n(h)}" fill="{col}"><title>{_esc(tip)}</title></rect>')
            if iv:
                lo, hi, k = sc(iv[0]), sc(iv[1]), min(4.0, th / 3)
                d = (f"M{_n(lo)} {_n(c)}H{_n(hi)}M{_n(lo)} {_n(c - k)}V{_n(c + k)}"
                     f"M{_n(hi)} {_n(c - k)}V{_n(c + k)}") if horizontal else (
                     f"M{_n(c)} {_n(lo)}V{_n(hi)}M{_n(c - k)} {_n(lo)}H{_n(c + k)}"
                     f"M{_n(c - k)} {_n(hi)}H{_n(c + k)}")
                parts.append(f'<path class="ci" d="{d}" stroke="{INK}" stroke-width="1.2" '
                             f'fill="none"><title>{_esc(tip)}</title></path>')
    parts.append(_line(base, top, base, B, AXIS) if horizontal else _line(L, base, R, base, AXIS))
    if ref is not None:
        p, tip = sc(ref), f"{ref_label or 'reference'}: {fmt_value(ref)}"
        xy = (p, top, p, B) if horizontal else (L, p, R, p)
        parts.append(_line(*xy, INK, ' class="ref" stroke-dasharray="5 3" stroke-width="1.3"')
                     .replace("/>", f"><title>{_esc(tip)}</title></line>"))
        if ref_label:
            xy, halo = (p, top - 4) if horizontal else (R - 2, p - 4), _HALO
            parts.append(_text(*xy, f"{ref_label} {fmt_value(ref)}", size=10, maxw=width / 2,
                               anchor="middle" if horizontal else "end", extra=halo))
    return _svg(width, height, title, parts + _axis_titles(L, top, R, B, height, x_label))


def bar_chart(labels: list[str], values: list[float | None], *,
              ci: list[tuple[float, float] | None] | None = None, title: str = "",
              x_label: str = "", ref_line: float | None = None, ref_label: str = "",
              horizontal: bool = False, value_range: tuple[float, float] | None = None,
              width: int = 560, height: int | None = None) -> str:
    """One bar per label, optional CI error bars and a dashed reference line (e.g. a gate).

    ``horizontal=True`` suits long category names. ``x_label`` labels the bottom axis.
    """
    return _bars(list(labels), {"": list(values)}, {"": ci}, title=title, x_label=x_label,
                 ref_line=ref_line, ref_label=ref_label, horizontal=horizontal,
                 value_range=value_range, width=width, height=height)


def grouped_bar_chart(categories: list[str], series: dict[str, list[float | None]], *,
                      ci: dict[str, list[tuple[float, float] | None]] | None = None,
                      title: str = "", value_range: tuple[float, float] | None = None,
                      width: int = 560, height: int | None = None, x_label: str = "",
                      ref_line: float | None = None, ref_label: str = "",
                      horizontal: bool = False) -> str:
    """Bars per category for several series (e.g. a metric per group for each model)."""
    if not series:
        return _empty(width, 160 if height is None else height, title)
    return _bars(list(categories), {str(k): list(v) for k, v in series.items()},
                 {str(k): v for k, v in (ci or {}).items()}, title=title, x_label=x_label,
                 ref_line=ref_line, ref_label=ref_label, horizontal=horizontal,
                 value_range=value_range, width=width, height=height)


def line_chart(series: dict[str, tuple[list[float], list[float | None]]], *,
               bands: dict[str, tuple[list[float], list[float]]] | None = None, title: str = "",
               x_label: str = "", y_label: str = "",
               value_range: tuple[float, float] | None = None, diagonal: bool = False,
               log_x: bool = False, width: int = 560, height: int = 260) -> str:
    """Named (x, y) series as lines with point tooltips; ``bands[name] = (lo, hi)`` shades a band
    over that series' x; ``diagonal`` draws y = x dashed (calibration); ``log_x`` a log10 x axis."""
    pts: dict[str, list[tuple[float, float | None]]] = {}
    bnd: dict[str, list[tuple[float, float, float]]] = {}
    for name, (xs, ys) in series.items():
        if len(xs) != len(ys):
            raise ValueError(f"series {name!r}: x and y lengths differ")
        xs_f = [_f(x) for x in xs]
        pts[str(name)] = [(x, _f(y)) for x, y in zip(xs_f, ys, strict=True)
                          if x is not None and (x > 0 or not log_x)]
        lo_hi = (bands or {}).get(name)
        if lo_hi:
            if len(lo_hi) != 2 or len(lo_hi[0]) != len(xs) or len(lo_hi[1]) != len(xs):
                raise ValueError(f"band {name!r}: expected (lo, hi) lists as long as its x")
            trip = [(x, _f(a), _f(b)) for x, a, b in zip(xs_f, *lo_hi, strict=True)]
            bnd[str(name)] = [t for t in trip if None not in t and (t[0] > 0 or not log_x)]
    xs_all = [x for p in pts.values() for x, _ in p]
    ys_all = [y for p in pts.values() for _, y in p if y is not None]
    if not ys_all:
        return _empty(width, height, title)
    ys_all += [v for b in bnd.values() for t in b for v in t[1:]]
    if diagonal and value_range is None:
        ys_all += [min(xs_all), max(xs_all)]
    yt, y0, y1 = _domain(ys_all, value_range, zero=False)
    tx = (lambda v: math.log10(v)) if log_x else (lambda v: v)
    if log_x:
        e0, e1 = math.floor(math.log10(min(xs_all))), math.ceil(math.log10(max(xs_all)))
        e1 = e1 if e1 > e0 else e0 + 1
        xt, xlab = list(range(e0, e1 + 1)), [f"{10.0 ** e:g}" for e in range(e0, e1 + 1)]
        x0, x1 = float(e0), float(e1)
    else:
        xt, xlab = nice_ticks(min(xs_all), max(xs_all)), None
        x0, x1 = xt[0], xt[-1]
    names = list(pts)
    top = 28 if title else 10
    parts, lh = _legend(names, 8, top, width)
    top += lh + 6
    L = _tick_w(yt) + 12 + (16 if y_label else 0)
    R, B = width - 16, height - 24 - (16 if x_label else 0)
    sx, sy = _scale(x0, x1, L, R), _scale(y0, y1, B, top)
    box = (L, top, R, B)
    parts += _axis(yt, sy, box, on_y=True) + _axis(xt, sx, box, on_y=False, labels=xlab)
    parts += [_line(L, top, L, B, AXIS), _line(L, B, R, B, AXIS)]
    if diagonal:
        lo, hi = max(x0, y0 if not log_x else -1e300), min(x1, y1)
        samples = [lo + (hi - lo) * k / 40 for k in range(41)] if hi > lo else []
        xy = [(sx(u), sy(10.0 ** u if log_x else u)) for u in samples
              if y0 <= (10.0 ** u if log_x else u) <= y1]
        if len(xy) > 1:
            d = "M" + "L".join(f"{_n(a)} {_n(b)}" for a, b in xy)
            parts.append(f'<path class="diagonal" d="{d}" stroke="{MUTED}" stroke-width="1" '
                         f'stroke-dasharray="4 3" fill="none"><title>y = x</title></path>')
    for j, name in enumerate(names):
        col = PALETTE[j % len(PALETTE)]
        if len(bnd.get(name, ())) > 1:
            b = bnd[name]
            poly = [(sx(tx(x)), sy(hi)) for x, _, hi in b] + [
                (sx(tx(x)), sy(lo)) for x, lo, _ in reversed(b)]
            parts.append('<polygon class="band" points="'
                         + " ".join(f"{_n(a)},{_n(c)}" for a, c in poly)
                         + f'" fill="{col}" fill-opacity="0.18" stroke="none"/>')
        d, pen, dots = "", "M", []
        for x, y in pts[name]:
            px = sx(tx(x))
            if y is None:
                pen = "M"
                dots.append(_text(px, B - 4, "n/a", anchor="middle", fill=MUTED, size=9,
                                  tip=f"{name}: n/a at x = {fmt_value(x)}"))
                continue
            d += f"{pen}{_n(px)} {_n(sy(y))}"
            pen = "L"
            dots.append(f'<circle class="point" cx="{_n(px)}" cy="{_n(sy(y))}" r="2.5" '
                        f'fill="{col}"><title>{_esc(name)}: x = {fmt_value(x)}, '
                        f'y = {fmt_value(y)}</title></circle>')
        if d:
            parts.append(f'<path class="line" d="{d}" stroke="{col}" stroke-width="1.8" '
                         f'fill="none" stroke-linejoin="round"/>')
        parts += dots
    parts += _axis_titles(L, top, R, B, height, x_label, y_label)
    return _svg(width, height, title, parts)


def _heat_colour(t: float) -> tuple[str, bool]:
    """Sequential blue for t in [0, 1]; also whether the text on it should be white."""
    i, u = (0, t * 2) if t <= 0.5 else (1, t * 2 - 1)
    rgb = [round(a + (b - a) * u) for a, b in zip(_HEAT[i], _HEAT[i + 1], strict=True)]
    lum = (0.2126 * rgb[0] + 0.7152 * rgb[1] + 0.0722 * rgb[2]) / 255
    return "#{:02x}{:02x}{:02x}".format(*rgb), lum < 0.5


def heatmap(matrix: list[list[float]], *, row_labels: list[str], col_labels: list[str],
            title: str = "", x_label: str = "", y_label: str = "", fmt: str = "{:.0f}",
            width: int | None = None, height: int | None = None) -> str:
    """Shaded cells with their values (e.g. a confusion matrix: rows actual, columns predicted).

    ``x_label`` goes under the column labels, ``y_label`` left of the row labels."""
    rows, cols = len(matrix), len(col_labels)
    if rows == 0 or cols == 0:
        return _empty(width or 320, height or 160, title)
    if len(row_labels) != rows or any(len(r) != cols for r in matrix):
        raise ValueError("heatmap: matrix shape does not match row_labels x col_labels")
    vals = [[_f(v) for v in r] for r in matrix]
    finite = [v for r in vals for v in r if v is not None]
    lo, hi = (min(finite), max(finite)) if finite else (0.0, 1.0)
    top = 28 if title else 10
    L = (18 if y_label else 0) + min(160.0, max(len(str(s)) for s in row_labels) * CHAR_W + 14)
    bottom = 24 + (16 if x_label else 0)
    cw = max(36.0, min(72.0, 480 / cols))
    width = width or int(L + cols * cw + 12)
    height = height or int(top + rows * min(36.0, cw) + bottom)
    cw, ch = (width - L - 12) / cols, (height - top - bottom) / rows
    B, parts = top + rows * ch, []
    for i, row in enumerate(vals):
        cy = top + ch * (i + 0.5)
        parts.append(_text(L - 7, cy + 3.5, row_labels[i], anchor="end", maxw=L - 12 - (
            18 if y_label else 0)))
        for j, v in enumerate(row):
            x, y = L + j * cw, top + i * ch
            who = f"{row_labels[i]} / {col_labels[j]}"
            if v is None:
                fill, white, txt = "#eeeeee", False, "n/a"
            else:
                fill, white = _heat_colour((v - lo) / (hi - lo) if hi > lo else 0.5)
                try:
                    txt = fmt.format(v)
                except (ValueError, TypeError, IndexError, KeyError):
                    txt = fmt_value(v)
            parts.append(f'<rect class="cell" x="{_n(x)}" y="{_n(y)}" width="{_n(cw)}" '
                         f'height="{_n(ch)}" fill="{fill}" stroke="#ffffff" stroke-width="1">'
                         f'<title>{_esc(f"{who}: {txt}")}</title></rect>')
            parts.append(_text(x + cw / 2, cy + 4, txt, anchor="middle", maxw=cw - 4,
                               fill="#ffffff" if white else INK, tip=f"{who}: {txt}"))
    for j, lab in enumerate(col_labels):
        parts.append(_text(L + cw * (j + 0.5), B + 15, lab, anchor="middle", maxw=cw - 4))
    parts += _axis_titles(L, top, L + cw * cols, B, height, x_label, y_label)
    return _svg(width, height, title, parts)

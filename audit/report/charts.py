"""Inline SVG charts for the offline HTML report: standard library only, no JavaScript.

All text that reaches the SVG is escaped with ``html.escape(..., quote=True)``; numbers use a fixed
precision. None/NaN/inf values are drawn as gaps labelled 'n/a'; empty inputs give a 'no data' SVG.
Bars, points and cells carry ``<title>`` tooltips; colours are the Okabe-Ito (colour-blind-safe) set.
"""

from __future__ import annotations

import html
import math
import textwrap
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


def title_lines(title: str, width: float, max_lines: int = 3) -> list[str]:
    """The title broken into lines that fit ``width`` (bold 12px), never cut mid-word unless
    one word is wider than the chart; the last allowed line ends with an ellipsis if needed."""
    if not title:
        return []
    per = max(8, int((width - 16) / (CHAR_W * 1.12)))
    lines = textwrap.wrap(str(title), width=per, break_long_words=True) or [""]
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = _fit(lines[-1] + " \u2026", (width - 16) / 1.12)
    return lines


def head_height(title: str, width: float) -> float:
    """Top margin that holds the wrapped title (10 without one, 28 for one line)."""
    return 12 + 16 * len(title_lines(title, width)) if title else 10


def _svg(width: float, height: float, title: str, body: list[str]) -> str:
    w, h = round(width), round(height)
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
            f'viewBox="0 0 {w} {h}" role="img" aria-label="{_esc(title or "chart")}" '
            f'font-family="{_esc(FONT)}" font-size="11" class="audit-chart" '
            f'style="max-width:100%;height:auto">')
    top = [_text(8, 17 + 16 * i, line, size=12, extra=' font-weight="600" class="title"', tip=title if i == 0 and len(line) < len(str(title)) else None)
           for i, line in enumerate(title_lines(title, w))]
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


MARKERS = ("circle", "square", "triangle", "diamond", "cross", "triangle-down")
DASHES = ("", "7 3", "2 3", "9 3 2 3", "4 2 1 2", "1 3")
_SCALES = {"bytes": ((1e9, "GB"), (1e6, "MB"), (1e3, "KB"), (1.0, "bytes"))}


def unit_scale(values: Sequence[float], unit: str | None) -> tuple[float, str | None]:
    """(divisor, unit label) that keeps ``values`` in human units: bytes as KB / MB / GB (1 KB =
    1000 bytes); other units are kept as they are."""
    if unit not in _SCALES:
        return 1.0, unit
    top = max((abs(v) for v in values if v is not None), default=0.0)
    return next(((d, name) for d, name in _SCALES[unit] if top >= d), _SCALES[unit][-1])


def human(value: object, unit: str | None = None) -> str:
    """A value for people: bytes as KB / MB, large counts with thousands separators."""
    f = _f(value)
    if f is None:
        return "n/a"
    if unit == "bytes":
        d, name = unit_scale([f], unit)
        return f"{f / d:,.0f} {name}" if d == 1.0 else f"{f / d:,.3g} {name}"
    text = fmt_value(f)
    return f"{text} {unit}" if unit else text


def marker(shape: str, x: float, y: float, fill: str, r: float = 3.0, tip: str | None = None) -> str:
    """A point drawn as one of ``MARKERS`` (class "point"), so series differ in shape, not only colour."""
    t = f"<title>{_esc(tip)}</title>" if tip else ""
    if shape == "circle":
        return f'<circle class="point" cx="{_n(x)}" cy="{_n(y)}" r="{_n(r)}" fill="{fill}">{t}</circle>'
    if shape == "square":
        return (f'<rect class="point" x="{_n(x - r)}" y="{_n(y - r)}" width="{_n(2 * r)}" '
                f'height="{_n(2 * r)}" fill="{fill}">{t}</rect>')
    d = {
        "triangle": f"M{_n(x)} {_n(y - r * 1.2)}L{_n(x + r * 1.1)} {_n(y + r * 0.8)}L{_n(x - r * 1.1)} {_n(y + r * 0.8)}Z",
        "triangle-down": f"M{_n(x)} {_n(y + r * 1.2)}L{_n(x + r * 1.1)} {_n(y - r * 0.8)}L{_n(x - r * 1.1)} {_n(y - r * 0.8)}Z",
        "diamond": f"M{_n(x)} {_n(y - r * 1.3)}L{_n(x + r * 1.1)} {_n(y)}L{_n(x)} {_n(y + r * 1.3)}L{_n(x - r * 1.1)} {_n(y)}Z",
    }.get(shape)
    if d is None:  # cross
        d = f"M{_n(x - r)} {_n(y - r)}L{_n(x + r)} {_n(y + r)}M{_n(x - r)} {_n(y + r)}L{_n(x + r)} {_n(y - r)}"
        return f'<path class="point" d="{d}" stroke="{fill}" stroke-width="1.8" fill="none">{t}</path>'
    return f'<path class="point" d="{d}" fill="{fill}">{t}</path>'


def _legend(names: Sequence[str], x0: float, y0: float, width: float,
            lines: bool = False) -> tuple[list[str], float]:
    """Series names with colour swatches (bars) or line, dash and marker samples (lines),
    wrapping rows; returns (svg parts, height used). Every sample has class "swatch"."""
    out, x, y = [], x0, y0
    for i, name in enumerate(names):
        shown = _fit(name, 220)
        w = (30 if lines else 14) + len(shown) * CHAR_W + 16
        if x > x0 and x + w > width - 8:
            x, y = x0, y + 16
        col = PALETTE[i % len(PALETTE)]
        if lines:
            dash = DASHES[i % len(DASHES)]
            extra = f' stroke-dasharray="{dash}"' if dash else ""
            out.append(f'<g class="swatch"><line x1="{_n(x)}" y1="{_n(y + 5)}" x2="{_n(x + 24)}" '
                       f'y2="{_n(y + 5)}" stroke="{col}" stroke-width="2"{extra}/>'
                       + marker(MARKERS[i % len(MARKERS)], x + 12, y + 5, col, 3.2).replace('class="point" ', "")
                       + "</g>")
            out.append(_text(x + 30, y + 9, name, maxw=220))
        else:
            out.append(f'<rect class="swatch" x="{_n(x)}" y="{_n(y)}" width="10" height="10" '
                       f'rx="2" fill="{col}"/>')
            out.append(_text(x + 14, y + 9, name, maxw=220))
        x += w
    return out, (y - y0 + 18) if names else 0.0


def _tick_w(ticks: Sequence[float]) -> float:
    step = abs(ticks[1] - ticks[0]) if len(ticks) > 1 else 0.0
    return max(len(_tick_label(t, step)) for t in ticks) * CHAR_W * 0.95


def _label_lines(text: str, px: float) -> list[str]:
    """A category label in at most two lines of ``px`` each (an ellipsis only past that)."""
    k = max(4, int(px / CHAR_W))
    if len(text) <= k:
        return [text]
    lines = textwrap.wrap(text, width=k, break_long_words=True)
    if len(lines) > 2:
        lines = [lines[0], _fit(" ".join(lines[1:]), px)]
    return lines


def _cat_label(x: float, y: float, text: str, px: float, anchor: str, note: str = "") -> str:
    """A category label (wrapped to two lines) with an optional muted note such as 'n=13'."""
    lines = _label_lines(str(text), px)
    if note:
        if len(lines[-1]) + len(note) + 1 <= max(4, int(px / CHAR_W)):
            lines[-1] += "\u2002" + note
        elif len(lines) < 3:
            lines.append(note)
    dy = -6 * (len(lines) - 1)
    tip = f"<title>{_esc(text + (' (' + note + ')' if note else ''))}</title>"
    spans = "".join(f'<tspan x="{_n(x)}" dy="{0 if i == 0 else 12}"'
                    + (f' fill="{MUTED}"' if note and line.endswith(note) and i == len(lines) - 1 and line == note else "")
                    + f">{_esc(line)}</tspan>" for i, line in enumerate(lines))
    return f'<text x="{_n(x)}" y="{_n(y + dy)}" text-anchor="{anchor}" fill="{INK}" font-size="11">{tip}{spans}</text>'


def _bars(cats: Sequence[str], series: dict[str, Sequence[object]], cis: dict, *, title: str,
          x_label: str, ref_line: float | None, ref_label: str, horizontal: bool,
          value_range: tuple[float, float] | None, width: int | None, height: int | None,
          annotations: Sequence[str] | None = None, unit: str | None = None) -> str:
    n, names = len(cats), list(series)
    notes = [str(a) if a is not None else "" for a in (annotations or [""] * n)]
    if len(notes) != n:
        raise ValueError(f"annotations: expected {n} to match the labels")
    vals = {s: [_f(v) for v in series[s]] for s in names}
    ivs = {s: [_ci(c) for c in (cis or {}).get(s) or [None] * n] for s in names}
    for s in names:
        if len(vals[s]) != n or len(ivs[s]) != n:
            raise ValueError(f"series {s!r}: expected {n} values/intervals to match the labels")
    scale, unit_name = unit_scale([v for s in names for v in vals[s] if v is not None], unit)
    if scale != 1.0:
        vals = {s: [None if v is None else v / scale for v in vals[s]] for s in names}
        ivs = {s: [None if c is None else (c[0] / scale, c[1] / scale) for c in ivs[s]] for s in names}
        ref_line = None if _f(ref_line) is None else _f(ref_line) / scale
    if unit_name and unit_name not in x_label:
        x_label = f"{x_label} ({unit_name})" if x_label else unit_name
    longest = max((len(str(c)) + (len(t) + 1 if t else 0) for c, t in zip(cats, notes, strict=True)), default=1) * CHAR_W
    if width is None:  # sized to the content
        width = int(min(900, max(480, longest + 360))) if horizontal else int(min(1000, max(420, 110 + n * max(44, 26 * len(names)))))
    if not horizontal and n and longest > (width - 60) / n - 4:
        horizontal = True  # labels would not fit under the bars: lay the bars out sideways
        if height is None and width < 480:
            width = 480
    if height is None:  # horizontal: room for the title, legend and every category
        head = head_height(title, width) + (14 if _f(ref_line) is not None and ref_label else 0)
        head += (_legend(names, 8, 0, width)[1] + 8) if (len(names) > 1 or any(names)) else 8
        height = int(head + n * max(24, 13 * len(names) + 8) + 26 + (16 if x_label else 0)) if horizontal else 280
    finite = [v for s in names for v in vals[s] if v is not None]
    if not finite:
        return _empty(width, min(height, 160), title)
    extent = finite + [b for s in names for c in ivs[s] if c for b in c]
    ref = _f(ref_line)
    ticks, d0, d1 = _domain(extent + ([ref] if ref is not None else []), value_range, zero=True)
    legend = len(names) > 1 or any(names)
    top = head_height(title, width) + (14 if ref is not None and ref_label and horizontal else 0)
    parts, lh = _legend(names, 8, top, width) if legend else ([], 0.0)
    top += lh + 8
    if horizontal:
        L = min(width * 0.5, longest + 14)
        R, B = width - 16 - (44 if any(notes) else 0), height - 22 - (16 if x_label else 0)
        sc, ext = _scale(d0, d1, L, R), (top, B)
    else:
        L, R, B = _tick_w(ticks) + 12, width - 12, height - 24 - (16 if x_label else 0) - (12 if any(notes) else 0)
        sc, ext = _scale(d0, d1, B, top), (L, R)
    box = (L, top, R, B)
    parts += _axis(ticks, sc, box, on_y=not horizontal)
    band = (ext[1] - ext[0]) / n
    slot = min(band * 0.8 / len(names), 28.0 if horizontal else 60.0)
    base = sc(min(max(0.0, d0), d1))
    for i, cat in enumerate(cats):
        mid = ext[0] + band * (i + 0.5)
        if horizontal:
            parts.append(_cat_label(L - 7, mid + 3.5, str(cat), L - 12, "end", notes[i]))
        else:
            parts.append(_cat_label(mid, B + 15, str(cat), band - 4, "middle", ""))
            if notes[i]:
                parts.append(_text(mid, B + 27, notes[i], anchor="middle", fill=MUTED, size=10, maxw=band - 2))
        for j, s in enumerate(names):
            c = mid + (j - (len(names) - 1) / 2) * slot
            v, iv, col = vals[s][i], ivs[s][i], PALETTE[j % len(PALETTE)]
            who = f"{cat} \u2014 {s}" if s else str(cat)
            if notes[i]:
                who += f" ({notes[i]})"
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
              width: int | None = None, height: int | None = None,
              annotations: list[str] | None = None, unit: str | None = None) -> str:
    """One bar per label, optional CI error bars and a dashed reference line (e.g. a gate).

    ``horizontal=True`` suits long category names (vertical bars whose labels would not fit
    are laid out sideways). ``annotations`` (one per label, e.g. "n=13") are drawn with the
    labels; ``unit="bytes"`` shows KB / MB. Without ``width`` the chart is sized to its content.
    """
    return _bars(list(labels), {"": list(values)}, {"": ci}, title=title, x_label=x_label,
                 ref_line=ref_line, ref_label=ref_label, horizontal=horizontal,
                 value_range=value_range, width=width, height=height, annotations=annotations, unit=unit)


def grouped_bar_chart(categories: list[str], series: dict[str, list[float | None]], *,
                      ci: dict[str, list[tuple[float, float] | None]] | None = None,
                      title: str = "", value_range: tuple[float, float] | None = None,
                      width: int | None = None, height: int | None = None, x_label: str = "",
                      ref_line: float | None = None, ref_label: str = "",
                      horizontal: bool = False, annotations: list[str] | None = None,
                      unit: str | None = None) -> str:
    """Bars per category for several series (e.g. a metric per group for each model)."""
    if not series:
        return _empty(width or 420, 160 if height is None else height, title)
    return _bars(list(categories), {str(k): list(v) for k, v in series.items()},
                 {str(k): v for k, v in (ci or {}).items()}, title=title, x_label=x_label,
                 ref_line=ref_line, ref_label=ref_label, horizontal=horizontal,
                 value_range=value_range, width=width, height=height, annotations=annotations, unit=unit)


def _sparse(count: int, most: int) -> set[int]:
    """Indices of at most ``most`` evenly spaced markers along a series of ``count`` points."""
    if count <= most:
        return set(range(count))
    return {round(k * (count - 1) / (most - 1)) for k in range(most)}


def line_chart(series: dict[str, tuple[list[float], list[float | None]]], *,
               bands: dict[str, tuple[list[float], list[float]]] | None = None, title: str = "",
               x_label: str = "", y_label: str = "",
               value_range: tuple[float, float] | None = None, diagonal: bool = False,
               log_x: bool = False, width: int = 560, height: int = 280,
               x_range: tuple[float, float] | None = None, dense: bool = False,
               counts: dict[str, list[int]] | None = None, unit: str | None = None,
               max_points: int = 400) -> str:
    """Named (x, y) series as lines; each series has its own colour, dash pattern and marker
    shape, so overlapping series stay distinguishable. ``bands[name] = (lo, hi)`` shades a band
    over that series' x; ``diagonal`` draws y = x dashed (calibration, ROC); ``log_x`` a log10 x
    axis; ``dense`` (curves with many points) draws a few markers and no point tooltips;
    ``counts[name]`` (one per point, e.g. rows per calibration bin) labels the points and draws
    the counts as a bar strip under the plot; ``unit="bytes"`` scales the y axis to KB / MB.
    A series longer than ``max_points`` is thinned to that many points; with more than 60
    points the chart is drawn ``dense``."""
    dense = dense or any(len(xs) > 60 for xs, _ in series.values())
    pts: dict[str, list[tuple[float, float | None]]] = {}
    bnd: dict[str, list[tuple[float, float, float]]] = {}
    cnt: dict[str, list[int | None]] = {}
    for name, (xs, ys) in series.items():
        if len(xs) != len(ys):
            raise ValueError(f"series {name!r}: x and y lengths differ")
        keep = sorted(_sparse(len(xs), max_points))
        xs_f = [_f(xs[i]) for i in keep]
        ys_k = [ys[i] for i in keep]
        given = (counts or {}).get(name)
        if given is not None and len(given) != len(xs):
            raise ValueError(f"counts {name!r}: expected one per point")
        ok = [x is not None and (x > 0 or not log_x) for x in xs_f]
        pts[str(name)] = [(x, _f(y)) for x, y, k in zip(xs_f, ys_k, ok, strict=True) if k]
        if given is not None:
            cnt[str(name)] = [given[i] for i, k in zip(keep, ok, strict=True) if k]
        lo_hi = (bands or {}).get(name)
        if lo_hi:
            if len(lo_hi) != 2 or len(lo_hi[0]) != len(xs) or len(lo_hi[1]) != len(xs):
                raise ValueError(f"band {name!r}: expected (lo, hi) lists as long as its x")
            trip = [(_f(xs[i]), _f(lo_hi[0][i]), _f(lo_hi[1][i])) for i in keep]
            bnd[str(name)] = [t for t in trip if None not in t and (t[0] > 0 or not log_x)]
    xs_all = [x for p in pts.values() for x, _ in p]
    ys_all = [y for p in pts.values() for _, y in p if y is not None]
    if not ys_all:
        return _empty(width, height, title)
    scale, unit_name = unit_scale(ys_all, unit)
    if scale != 1.0:
        pts = {k: [(x, None if y is None else y / scale) for x, y in p] for k, p in pts.items()}
        bnd = {k: [(x, a / scale, b / scale) for x, a, b in p] for k, p in bnd.items()}
        ys_all = [y / scale for y in ys_all]
    if unit_name and unit_name not in y_label:
        y_label = f"{y_label} ({unit_name})" if y_label else unit_name
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
        xt = nice_ticks(*(x_range or (min(xs_all), max(xs_all))))
        xlab = None
        x0, x1 = (float(x_range[0]), float(x_range[1])) if x_range else (xt[0], xt[-1])
        xt = [t for t in xt if x0 - 1e-9 <= t <= x1 + 1e-9]
    names = list(pts)
    top = head_height(title, width)
    parts, lh = _legend(names, 8, top, width, lines=True)
    top += lh + 6
    strip = 46 if cnt else 0
    L = _tick_w(yt) + 12 + (16 if y_label else 0)
    R, B = width - 16, height - 24 - (16 if x_label else 0) - strip
    sx, sy = _scale(x0, x1, L, R), _scale(y0, y1, B, top)
    box = (L, top, R, B)
    parts += _axis(yt, sy, box, on_y=True)
    parts += _axis(xt, sx, (L, top, R, B + strip), on_y=False, labels=xlab)
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
    if cnt:
        parts += _count_strip(pts, cnt, names, sx, tx, B + 6, B + strip - 4)
    for j, name in enumerate(names):
        col, shape, dash = PALETTE[j % len(PALETTE)], MARKERS[j % len(MARKERS)], DASHES[j % len(DASHES)]
        if len(bnd.get(name, ())) > 1:
            b = bnd[name]
            poly = [(sx(tx(x)), sy(hi)) for x, _, hi in b] + [
                (sx(tx(x)), sy(lo)) for x, lo, _ in reversed(b)]
            parts.append('<polygon class="band" points="'
                         + " ".join(f"{_n(a)},{_n(c)}" for a, c in poly)
                         + f'" fill="{col}" fill-opacity="0.15" stroke="none"/>')
        d, pen, dots = "", "M", []
        shown = _sparse(len(pts[name]), 9) if dense else None
        for i, (x, y) in enumerate(pts[name]):
            px = sx(tx(x))
            if y is None:
                pen = "M"
                dots.append(_text(px, B - 4, "n/a", anchor="middle", fill=MUTED, size=9,
                                  tip=f"{name}: n/a at x = {fmt_value(x)}"))
                continue
            d += f"{pen}{_n(px)} {_n(sy(y))}"
            pen = "L"
            if shown is None or i in shown:
                c = cnt.get(name, [None] * len(pts[name]))[i] if cnt else None
                tip = None if dense else f"{name}: x = {fmt_value(x)}, y = {fmt_value(y)}" + (f", n = {c}" if c is not None else "")
                dots.append(marker(shape, px, sy(y), col, 3.0, tip))
        if d:
            extra = f' stroke-dasharray="{dash}"' if dash else ""
            parts.append(f'<path class="line" d="{d}" stroke="{col}" stroke-width="1.8" '
                         f'fill="none" stroke-linejoin="round"{extra}/>')
        parts += dots
    parts += _axis_titles(L, top, R, B + strip, height, x_label, y_label)
    return _svg(width, height, title, parts)


def _count_strip(pts: dict[str, list[tuple[float, float | None]]], cnt: dict[str, list[int | None]],
                 names: list[str], sx: Callable[[float], float], tx: Callable[[float], float],
                 y0: float, y1: float) -> list[str]:
    """Rows per point as small bars under the plot (the histogram of a reliability diagram),
    each labelled with its count when at most two series share the strip."""
    top = max((c for v in cnt.values() for c in v if c), default=0)
    if not top:
        return []
    out, shown = [], [n for n in names if n in cnt]
    for j, name in enumerate(shown):
        col = PALETTE[names.index(name) % len(PALETTE)]
        for (x, _), c in zip(pts[name], cnt[name], strict=True):
            if not c:
                continue
            h = max(1.0, (y1 - y0 - 10) * c / top)
            cx = sx(tx(x)) + (j - (len(shown) - 1) / 2) * 8
            out.append(f'<rect class="count" x="{_n(cx - 3)}" y="{_n(y1 - h)}" width="6" height="{_n(h)}" '
                       f'fill="{col}" fill-opacity="0.6"><title>{_esc(f"{name}: {c:,} rows at x = {fmt_value(x)}")}</title></rect>')
            if len(shown) <= 2:
                out.append(_text(cx, y1 - h - 2, f"{c:,}", anchor="middle", fill=MUTED, size=9))
    return out


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
    L = (18 if y_label else 0) + min(160.0, max(len(str(s)) for s in row_labels) * CHAR_W + 14)
    bottom = 24 + (16 if x_label else 0)
    cw = max(36.0, min(72.0, 480 / cols))
    width = width or int(L + cols * cw + 12)
    top = head_height(title, width)
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

"""Figure specs from ``results.json`` -> interactive plotly figures (the dashboard's charts).

The specs are the same ones the HTML report draws (``audit/report/charts.py`` arguments plus
``image`` and ``tokens``), so every check's figures show here without check-specific code.
Labels come from user data (group names, tokens): plotly.js reads a few HTML-like tags in text,
so ``plain`` breaks anything tag-shaped before it reaches a figure. plotly is imported lazily.
"""

from __future__ import annotations

import math
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from audit.dashboard.safefiles import PathOutsideRoot, default_root, read_run_bytes, relative_parts

PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000", "#F0E442")
_TAG = re.compile(r"<(?=[A-Za-z/!?])")


def plain(text: Any) -> str:
    """Text that plotly shows literally: '<b>' becomes '< b>' ('<25' is left alone)."""
    return _TAG.sub("< ", str(text))


def wrap_title(text: Any, width: int = 64) -> str:
    """A title made safe with ``plain`` and broken into lines (figures often sit in half-width columns)."""
    lines = textwrap.wrap(plain(text), width=width) or [""]
    return "<br>".join(lines[:4])


def _num(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def error_bars(values: list[Any], cis: list[Any] | None) -> dict[str, Any] | None:
    """plotly ``error_x``/``error_y`` arrays (asymmetric) from [lo, hi] intervals; None if none."""
    if not cis or not any(cis):
        return None
    plus, minus = [], []
    for v, c in zip(values, cis, strict=False):
        v = _num(v)
        lo, hi = (_num(c[0]), _num(c[1])) if c else (None, None)
        ok = v is not None and lo is not None and hi is not None
        plus.append(max(hi - v, 0.0) if ok else None)
        minus.append(max(v - lo, 0.0) if ok else None)
    return {
        "type": "data",
        "symmetric": False,
        "array": plus,
        "arrayminus": minus,
        "color": "#222",
        "thickness": 1.2,
        "width": 4,
    }


@dataclass
class Rendered:
    """What the app should draw: a plotly ``figure``, an ``image`` (its bytes in ``data``), or an ``error``."""

    kind: str
    figure: Any = None
    image: Path | None = None  # the checked file inside the run folder
    data: bytes | None = None  # its bytes, read without following links (what the app shows)
    caption: str = ""
    error: str | None = None


def to_plotly(spec: dict[str, Any], run_dir: Path | None = None, root: Path | None = None) -> Rendered:
    """One figure spec -> ``Rendered``; a broken spec gives an error, never an exception.

    Image files are read from ``run_dir`` only, checked against the reports folder ``root``
    (default: two levels above the run folder).
    """
    kind = spec.get("kind")
    caption = str(spec.get("caption", ""))
    try:
        if kind == "image":
            return _image(spec, run_dir, root, caption)
        from audit.dashboard.figures_shap import BUILDERS as SHAP_BUILDERS

        builders = {"bar": _bar, "grouped_bar": _grouped_bar, "line": _line, "heatmap": _heatmap, "tokens": _tokens, **SHAP_BUILDERS}
        builder = builders.get(str(kind))
        if builder is None:
            return Rendered("error", error=f"unknown figure kind {kind!r}")
        fig = builder(spec)
        title = wrap_title(spec.get("title", ""))
        fig.update_layout(
            title={"text": title, "font": {"size": 14}},
            margin={"l": 10, "r": 10, "t": 32 + 20 * (title.count("<br>") + 1), "b": 10},
            template="plotly_white",
            legend={"orientation": "h", "y": -0.2},
        )
        return Rendered("plotly", figure=fig, caption=caption)
    except Exception as exc:  # a broken figure must not break the page
        return Rendered("error", error=f"figure could not be drawn ({exc.__class__.__name__}: {exc})")


def _image(spec: dict[str, Any], run_dir: Path | None, root: Path | None, caption: str) -> Rendered:
    if run_dir is None:
        return Rendered("error", error="no run folder for the image")
    relative = str(spec.get("path", ""))
    try:
        relative_parts(relative)
        if Path(relative).suffix.lower() not in (".png", ".jpg", ".jpeg"):
            return Rendered("error", error=f"image '{relative}' is not a PNG/JPEG file")
        base = default_root(run_dir) if root is None else root
        data = read_run_bytes(base, run_dir, relative)
    except PathOutsideRoot as exc:
        return Rendered("error", error=f"image not shown: {exc}")
    if data is None:
        return Rendered("error", error=f"image '{relative}' is missing")
    path = Path(run_dir).resolve().joinpath(*relative_parts(relative))
    return Rendered("image", image=path, data=data, caption=caption or str(spec.get("title", "")))


def _bars(go: Any, cats: list[str], series: dict[str, list[Any]], cis: dict[str, Any], horizontal: bool) -> Any:
    fig = go.Figure()
    labels = [plain(c) for c in cats]
    for j, (name, values) in enumerate(series.items()):
        vals = [_num(v) for v in values]
        err = error_bars(values, cis.get(name))
        hover = "%{y}: %{x:.4g}" if horizontal else "%{x}: %{y:.4g}"
        fig.add_trace(
            go.Bar(
                x=vals if horizontal else labels,
                y=labels if horizontal else vals,
                name=plain(name) or "value",
                orientation="h" if horizontal else "v",
                marker_color=PALETTE[j % len(PALETTE)],
                error_x=err if horizontal else None,
                error_y=None if horizontal else err,
                hovertemplate=hover + "<extra>" + plain(name) + "</extra>",
            )
        )
    fig.update_layout(barmode="group", showlegend=len(series) > 1)
    if horizontal:
        fig.update_yaxes(autorange="reversed", type="category")
    else:
        fig.update_xaxes(type="category")
    return fig


def _decorate(fig: Any, spec: dict[str, Any], horizontal: bool) -> None:
    value_axis = fig.update_xaxes if horizontal else fig.update_yaxes
    label_axis = fig.update_yaxes if horizontal else fig.update_xaxes
    if spec.get("value_range"):
        value_axis(range=[float(v) for v in spec["value_range"]])
    if spec.get("x_label"):
        (value_axis if horizontal else label_axis)(title_text=plain(spec["x_label"]))
    ref = _num(spec.get("ref_line"))
    if ref is not None:
        line = {
            "line_dash": "dash",
            "line_color": "#222",
            "annotation_text": plain(f"{spec.get('ref_label', '')} {ref:g}".strip()),
        }
        (fig.add_vline(x=ref, **line) if horizontal else fig.add_hline(y=ref, **line))


def _bar(spec: dict[str, Any]) -> Any:
    import plotly.graph_objects as go

    horizontal = bool(spec.get("horizontal"))
    fig = _bars(go, list(spec["labels"]), {"": list(spec["values"])}, {"": spec.get("ci")}, horizontal)
    _decorate(fig, spec, horizontal)
    return fig


def _grouped_bar(spec: dict[str, Any]) -> Any:
    import plotly.graph_objects as go

    horizontal = bool(spec.get("horizontal"))
    series = {str(k): list(v) for k, v in spec["series"].items()}
    fig = _bars(go, list(spec["categories"]), series, dict(spec.get("ci") or {}), horizontal)
    _decorate(fig, spec, horizontal)
    return fig


def _line(spec: dict[str, Any]) -> Any:
    import plotly.graph_objects as go

    fig = go.Figure()
    bands = spec.get("bands") or {}
    for j, (name, (xs, ys)) in enumerate(spec["series"].items()):
        colour = PALETTE[j % len(PALETTE)]
        if name in bands:
            lo, hi = bands[name]
            fig.add_trace(
                go.Scatter(
                    x=list(xs) + list(xs)[::-1],
                    y=list(hi) + list(lo)[::-1],
                    fill="toself",
                    fillcolor=colour,
                    opacity=0.18,
                    line={"width": 0},
                    hoverinfo="skip",
                    showlegend=False,
                )
            )
        fig.add_trace(
            go.Scatter(
                x=[_num(x) for x in xs],
                y=[_num(y) for y in ys],
                mode="lines+markers",
                name=plain(name),
                line={"color": colour},
            )
        )
    if spec.get("diagonal"):
        lo, hi = (spec.get("value_range") or [0.0, 1.0])[:2]
        fig.add_trace(
            go.Scatter(
                x=[lo, hi],
                y=[lo, hi],
                mode="lines",
                line={"dash": "dash", "color": "#888"},
                name="y = x",
                hoverinfo="skip",
            )
        )
    if spec.get("value_range"):
        fig.update_yaxes(range=[float(v) for v in spec["value_range"]])
    if spec.get("log_x"):
        fig.update_xaxes(type="log")
    fig.update_xaxes(title_text=plain(spec.get("x_label", "")))
    fig.update_yaxes(title_text=plain(spec.get("y_label", "")))
    return fig


def _heatmap(spec: dict[str, Any]) -> Any:
    import plotly.graph_objects as go

    pattern = str(spec.get("fmt", "{:.0f}"))
    matrix = [[_num(v) for v in row] for row in spec["matrix"]]

    def cell(v: float | None) -> str:
        if v is None:
            return "n/a"
        try:
            return pattern.format(v)
        except (ValueError, IndexError, KeyError):
            return f"{v:.4g}"

    fig = go.Figure(
        go.Heatmap(
            z=matrix,
            x=[plain(c) for c in spec["col_labels"]],
            y=[plain(r) for r in spec["row_labels"]],
            text=[[cell(v) for v in row] for row in matrix],
            texttemplate="%{text}",
            colorscale="Blues",
            showscale=False,
        )
    )
    fig.update_yaxes(autorange="reversed", type="category", title_text=plain(spec.get("y_label", "")))
    fig.update_xaxes(type="category", title_text=plain(spec.get("x_label", "")))
    return fig


def _tokens(spec: dict[str, Any]) -> Any:
    """Token attributions as signed bars in reading order (blue supports, orange opposes)."""
    import plotly.graph_objects as go

    tokens, weights = [plain(t) for t in spec["tokens"]], [_num(w) or 0.0 for w in spec["weights"]]
    fig = go.Figure(
        go.Bar(
            x=list(range(len(tokens))),
            y=weights,
            marker_color=[PALETTE[0] if w >= 0 else PALETTE[3] for w in weights],
            customdata=tokens,
            hovertemplate="%{customdata}: %{y:+.4f}<extra></extra>",
        )
    )
    fig.update_xaxes(tickmode="array", tickvals=list(range(len(tokens))), ticktext=tokens, tickangle=-45)
    fig.update_yaxes(title_text="attribution")
    return fig


def metric_chart(frame: Any, *, x: str, title: str = "", colour: str | None = None, horizontal: bool = False) -> Any:
    """Values with CI error bars from a metrics table (columns ``value``, ``ci_low``, ``ci_high``)."""
    import plotly.graph_objects as go

    fig = go.Figure()
    groups = [(None, frame)] if colour is None else list(frame.groupby(colour, sort=False))
    for j, (name, part) in enumerate(groups):
        values = part["value"].tolist()
        cis = [
            None if (lo is None or hi is None or lo != lo or hi != hi) else (lo, hi)
            for lo, hi in zip(part["ci_low"], part["ci_high"], strict=True)
        ]
        err = error_bars(values, cis)
        labels = [plain(v) for v in part[x]]
        fig.add_trace(
            go.Bar(
                x=values if horizontal else labels,
                y=labels if horizontal else values,
                orientation="h" if horizontal else "v",
                name=plain(name) if name is not None else "value",
                marker_color=PALETTE[j % len(PALETTE)],
                error_x=err if horizontal else None,
                error_y=None if horizontal else err,
            )
        )
    fig.update_layout(
        title=plain(title),
        barmode="group",
        template="plotly_white",
        showlegend=colour is not None,
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
    )
    (fig.update_yaxes if horizontal else fig.update_xaxes)(type="category")
    if not horizontal:
        fig.update_layout(height=360)
    if horizontal:
        fig.update_yaxes(autorange="reversed")
        fig.update_layout(height=int(min(900, max(220, 90 + 26 * len(frame)))), bargap=0.25)  # a bar per row
    return fig

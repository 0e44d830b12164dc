"""Plotly builders for the explanation figure kinds the ``explain`` check stores (the report draws
the same specs as SVG in :mod:`audit.report.plots`): a SHAP beeswarm, a dependence scatter and a
waterfall of one row. Colours as the report's: feature value from blue (low) through grey to
vermillion (high); contributions vermillion (raise) or blue (lower), each also signed in its text.
"""

from __future__ import annotations

from typing import Any

UP, DOWN = "#D55E00", "#0072B2"
SCALE = [[0.0, "#0072B2"], [0.5, "#BEBEBE"], [1.0, "#D55E00"]]


def _jitter(count: int) -> list[float]:
    """Deterministic vertical offsets in [-0.3, 0.3] (a golden-ratio sequence: no random draw)."""
    return [((k * 0.6180339887) % 1.0 - 0.5) * 0.6 for k in range(count)]


def beeswarm(spec: dict[str, Any]) -> Any:
    """One row of dots per feature (top feature at the top), x the SHAP value, colour the value."""
    import plotly.graph_objects as go

    features = [str(f) for f in spec["features"]]
    fig = go.Figure()
    for i, (name, shap, colour) in enumerate(zip(features, spec["shap"], spec.get("colour") or [[]] * len(features), strict=True)):
        y = len(features) - 1 - i
        ranked = [c for c in colour if c is not None]
        fig.add_trace(go.Scatter(
            x=list(shap), y=[y + d for d in _jitter(len(shap))], mode="markers", name=name, showlegend=False,
            hovertext=[f"{name}: SHAP {v:+.4g}" for v in shap], hoverinfo="text",
            marker={"size": 6, "color": colour if len(ranked) == len(colour) and ranked else "#555555",
                    "colorscale": SCALE, "cmin": 0, "cmax": 1, "showscale": i == 0 and len(ranked) == len(colour) and bool(ranked),
                    "colorbar": {"title": "feature value (rank)", "tickvals": [0, 1], "ticktext": ["low", "high"]}},
        ))
    fig.add_vline(x=0, line={"color": "#888888", "width": 1})
    fig.update_yaxes(tickvals=list(range(len(features))), ticktext=features[::-1], automargin=True)
    fig.update_xaxes(title=str(spec.get("x_label", "SHAP value")), automargin=True)
    fig.update_layout(height=120 + 34 * len(features))
    return fig


def scatter(spec: dict[str, Any]) -> Any:
    """A dependence plot: the feature's value (or category) against its SHAP value."""
    import plotly.graph_objects as go

    x, y = list(spec["x"]), list(spec["y"])
    fig = go.Figure(go.Scatter(x=x, y=y, mode="markers", marker={"size": 6, "color": DOWN, "symbol": "circle-open"}, showlegend=False))
    categories = spec.get("categories")
    if categories:
        fig.update_xaxes(tickvals=list(range(len(categories))), ticktext=[str(c) for c in categories])
    fig.add_hline(y=0, line={"color": "#888888", "width": 1})
    fig.update_xaxes(title=str(spec.get("x_label", "")), automargin=True)
    fig.update_yaxes(title=str(spec.get("y_label", "SHAP value")), automargin=True)
    fig.update_layout(height=360)
    return fig


def waterfall(spec: dict[str, Any]) -> Any:
    """From the base value through each contribution to the row's output."""
    import plotly.graph_objects as go

    items = [(str(label), float(value)) for label, value in spec["contributions"]]
    labels = ["base value", *[label for label, _ in items], "output"]
    values = [float(spec["base"]), *[v for _, v in items], float(spec["output"])]
    fig = go.Figure(go.Waterfall(
        orientation="h", y=labels, x=values, measure=["absolute", *["relative"] * len(items), "total"],
        text=[f"{values[0]:.3g}", *[f"{v:+.3g}" for _, v in items], f"{values[-1]:.3g}"], textposition="outside",
        increasing={"marker": {"color": UP}}, decreasing={"marker": {"color": DOWN}}, totals={"marker": {"color": "#555555"}},
        connector={"line": {"color": "#BBBBBB"}},
    ))
    fig.update_yaxes(autorange="reversed", automargin=True)
    fig.update_xaxes(title=str(spec.get("x_label", "model output")), automargin=True)
    fig.update_layout(height=120 + 30 * len(labels), showlegend=False)
    return fig


BUILDERS = {"beeswarm": beeswarm, "scatter": scatter, "waterfall": waterfall}

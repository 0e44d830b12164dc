"""``report.html``: a self-contained page (inline CSS and SVG, images as data URIs, no scripts).

It is rendered from ``results.json`` and files inside the run folder only. Jinja2 autoescaping
is on, and chart SVG escapes its own text, so user-derived strings stay inert.

The page opens on the ranked findings (:mod:`audit.findings`), each linking to its section,
then a table of contents per model and pillar, the gates (passing ones collapsed) and the
sections. It stays under ``MAX_BYTES`` whatever the data size: checks store bounded figure data,
the chart functions thin what they are given, tables, per-group rows and figures per section
are capped, and a page still over the limit is rendered again with tighter caps.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from audit.findings import anchor, findings
from audit.report import charts, plots
from audit.report.headline import cell, columns
from audit.results import RunResults, atomic_write_text, pillar_of

CHARTS = {
    "bar": charts.bar_chart, "grouped_bar": charts.grouped_bar_chart, "line": charts.line_chart,
    "heatmap": charts.heatmap, "beeswarm": plots.beeswarm, "scatter": plots.scatter, "waterfall": plots.waterfall,
}
PILLAR_ORDER = ["performance", "slices", "fairness", "explain", "shift", "drift", "latency", "robustness", "privacy", "integrity"]
MAX_BYTES = 2_000_000
# caps per rendering pass: rows per table, per-group metric rows, figures and categories per figure
LIMITS = (
    {"table_rows": 100, "group_rows": 150, "figures": 24, "categories": 60, "findings": 10},
    {"table_rows": 40, "group_rows": 60, "figures": 10, "categories": 30, "findings": 10},
    {"table_rows": 10, "group_rows": 20, "figures": 4, "categories": 20, "findings": 10},
)
_LISTS = ("labels", "values", "ci", "annotations", "categories")


def _cap_categories(args: dict[str, Any], most: int) -> str:
    """Keep the first ``most`` categories of a bar figure; returns a note when some were left out."""
    key = "labels" if "labels" in args else "categories"
    total = len(args.get(key) or [])
    if total <= most:
        return ""
    for k in _LISTS:
        if isinstance(args.get(k), list):
            args[k] = args[k][:most]
    for k in ("series", "ci"):
        if isinstance(args.get(k), dict):
            args[k] = {s: v[:most] if isinstance(v, list) else v for s, v in args[k].items()}
    return f" (first {most} of {total} shown; all in results.json)"


def render_figure(spec: dict[str, Any], run_dir: Path | None, categories: int = 60) -> dict[str, Any]:
    """A figure spec -> {'svg': ...} / {'img': data-uri} / {'tokens': [...]} / {'error': ...}."""
    kind = spec.get("kind")
    args = {k: v for k, v in spec.items() if k not in ("kind", "caption")}
    caption = spec.get("caption", "")
    try:
        if kind in CHARTS:
            if kind in ("bar", "grouped_bar"):
                caption += _cap_categories(args, categories)
            if kind == "line":
                args["series"] = {k: tuple(v) for k, v in args.get("series", {}).items()}
                if args.get("bands"):
                    args["bands"] = {k: tuple(v) for k, v in args["bands"].items()}
            for key in ("ci",):
                if isinstance(args.get(key), list):
                    args[key] = [tuple(c) if c else None for c in args[key]]
                elif isinstance(args.get(key), dict):
                    args[key] = {s: [tuple(c) if c else None for c in cs] for s, cs in args[key].items()}
            for key in ("value_range", "x_range"):
                if args.get(key) is not None:
                    args[key] = tuple(args[key])
            return {"svg": CHARTS[kind](**args), "caption": caption}
        if kind == "image":
            return {"img": _data_uri(spec["path"], run_dir), "caption": caption or spec.get("title", ""), "title": spec.get("title", "")}
        if kind == "tokens":
            return {"tokens": _token_spans(spec["tokens"], spec["weights"]), "caption": caption, "title": spec.get("title", "")}
    except Exception as exc:  # a broken figure must not break the report
        return {"error": f"figure could not be drawn ({exc.__class__.__name__}: {exc})"}
    return {"error": f"unknown figure kind {kind!r}"}


def _data_uri(relative: str, run_dir: Path | None) -> str:
    if run_dir is None:
        raise ValueError("no run folder")
    root = run_dir.resolve()
    path = (root / relative).resolve()
    if root not in path.parents:
        raise ValueError("image path outside the run folder")
    mime = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}.get(path.suffix.lower())
    if mime is None:
        raise ValueError("only PNG or JPEG images are inlined")
    return f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _token_spans(tokens: list[str], weights: list[float]) -> list[dict[str, Any]]:
    top = max((abs(w) for w in weights), default=0.0) or 1.0
    spans = []
    for token, weight in zip(tokens, weights, strict=True):
        alpha = min(abs(weight) / top, 1.0) * 0.85
        colour = f"rgba(0,114,178,{alpha:.2f})" if weight >= 0 else f"rgba(213,94,0,{alpha:.2f})"
        spans.append({"text": token, "style": f"background:{colour}", "weight": f"{weight:+.4f}"})
    return spans


def _fmt(value: Any, unit: str | None = None, key: str = "") -> str:
    """A number for people: bytes in KB / MB, thousands separated, tiny values in e-notation."""
    if value is None:
        return "—"
    if isinstance(value, (list, tuple)) and value and len(value) <= 8 and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        return "[" + ", ".join(_fmt(v, unit, key) for v in value) + "]"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if unit == "bytes" or key.endswith("_bytes") or key == "bytes":
        return charts.human(value, "bytes")
    if isinstance(value, int):
        return f"{value:,}" if abs(value) >= 10_000 else str(value)
    if value != 0 and abs(value) < 1e-3:
        return f"{value:.2e}"
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"


def build_context(results: RunResults, run_dir: Path | None, limits: dict[str, int] | None = None) -> dict[str, Any]:
    limits = limits or LIMITS[0]
    by_model: dict[str, list[dict[str, Any]]] = {}
    metrics_by_record: dict[tuple[str, str], list[Any]] = {}
    for metric in results.metrics:
        metrics_by_record.setdefault((metric.model, metric.check), []).append(metric)
    order = {name: i for i, name in enumerate(PILLAR_ORDER)}
    for record in sorted(results.checks, key=lambda r: order.get(pillar_of(r), len(order))):
        ms = metrics_by_record.get((record.model, record.check), [])
        grouped = [m for m in ms if m.group is not None]
        shown = record.figures[: limits["figures"]]
        by_model.setdefault(record.model, []).append({
            "record": record,
            "pillar": pillar_of(record),
            "anchor": anchor(record.model, record.check),
            "overall": [m for m in ms if m.group is None],
            "grouped": grouped[: limits["group_rows"]],
            "grouped_total": len(grouped),
            "figures": [render_figure(f, run_dir, limits["categories"]) for f in shown],
            "figures_left": len(record.figures) - len(shown),
        })
    flat = {m.path: m for m in results.metrics}
    headline = columns(results, ["accuracy", "balanced_accuracy", "roc_auc", "f1", "ece", "brier"])
    comparison = [{"model": model, "cells": [cell(flat, model, h) for h in headline]} for model in results.models]
    gate_counts = {s: sum(g.status == s for g in results.gates) for s in ("pass", "warn", "fail", "error", "skipped")}
    rank = {"error": 0, "fail": 1, "warn": 2, "skipped": 3, "pass": 4}
    gates = sorted(results.gates, key=lambda g: rank.get(g.status, 5))
    return {
        "r": results,
        "by_model": by_model,
        "model_ids": {model: f"model-{i}" for i, model in enumerate(by_model, 1)},
        "findings": findings(results, limit=limits["findings"]),
        "comparison": comparison,
        "headline": headline,
        "gate_counts": gate_counts,
        "open_gates": [g for g in gates if g.status != "pass"],
        "passing_gates": [g for g in gates if g.status == "pass"],
        "check_errors": [c for c in results.checks if c.status == "error"],
        "table_rows": limits["table_rows"],
        "fmt": _fmt,
        "short": lambda v: "—" if v is None else f"{v:.3g}" if abs(v) < 1e5 else f"{v:,.0f}",
        "anchor": anchor,
    }


def render_html(results: RunResults, run_dir: Path | None = None) -> str:
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    env = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"), autoescape=select_autoescape(["html", "j2"], default=True))
    template = env.get_template("report.html.j2")
    page = ""
    for level, limits in enumerate(LIMITS):
        page = template.render(**build_context(results, run_dir, limits), compact=level)
        if len(page.encode("utf-8")) <= MAX_BYTES:
            break
    return page


def write_html(results: RunResults, run_dir: Path, path: Path) -> None:
    atomic_write_text(path, render_html(results, run_dir))

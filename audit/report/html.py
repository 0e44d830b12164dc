"""``report.html``: a self-contained page (inline CSS and SVG, images as data URIs, no scripts).

It is rendered from ``results.json`` and files inside the run folder only. Jinja2 autoescaping
is on, and chart SVG escapes its own text, so user-derived strings stay inert.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from audit.report import charts
from audit.results import RunResults, atomic_write_text, pillar_of

CHARTS = {"bar": charts.bar_chart, "grouped_bar": charts.grouped_bar_chart, "line": charts.line_chart, "heatmap": charts.heatmap}
PILLAR_ORDER = ["performance", "fairness", "explain", "shift", "drift", "latency", "robustness", "privacy"]


def render_figure(spec: dict[str, Any], run_dir: Path | None) -> dict[str, Any]:
    """A figure spec -> {'svg': ...} / {'img': data-uri} / {'tokens': [...]} / {'error': ...}."""
    kind = spec.get("kind")
    args = {k: v for k, v in spec.items() if k not in ("kind", "caption")}
    caption = spec.get("caption", "")
    try:
        if kind in CHARTS:
            if kind == "line":
                args["series"] = {k: tuple(v) for k, v in args.get("series", {}).items()}
                if args.get("bands"):
                    args["bands"] = {k: tuple(v) for k, v in args["bands"].items()}
            for key in ("ci",):
                if isinstance(args.get(key), list):
                    args[key] = [tuple(c) if c else None for c in args[key]]
                elif isinstance(args.get(key), dict):
                    args[key] = {s: [tuple(c) if c else None for c in cs] for s, cs in args[key].items()}
            if "value_range" in args and args["value_range"] is not None:
                args["value_range"] = tuple(args["value_range"])
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


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e5 else f"{value:.3e}"
    return str(value)


def _headline(flat: dict[str, Any], model: str, metric: str) -> Any:
    """A model's headline metric; multiclass runs report macro_f1 where binary ones report f1."""
    return flat.get(f"{model}/performance/{metric}") or flat.get(f"{model}/performance/macro_{metric}")


def build_context(results: RunResults, run_dir: Path | None) -> dict[str, Any]:
    by_model: dict[str, list[dict[str, Any]]] = {}
    metrics_by_record: dict[tuple[str, str], list[Any]] = {}
    for metric in results.metrics:
        metrics_by_record.setdefault((metric.model, metric.check), []).append(metric)
    order = {name: i for i, name in enumerate(PILLAR_ORDER)}
    for record in sorted(results.checks, key=lambda r: order.get(pillar_of(r), len(order))):
        ms = metrics_by_record.get((record.model, record.check), [])
        by_model.setdefault(record.model, []).append({
            "record": record,
            "overall": [m for m in ms if m.group is None],
            "grouped": [m for m in ms if m.group is not None],
            "figures": [render_figure(f, run_dir) for f in record.figures],
        })
    flat = {m.path: m for m in results.metrics}
    headline = ["accuracy", "balanced_accuracy", "roc_auc", "f1", "ece", "brier"]
    comparison = [{"model": model, "cells": [_headline(flat, model, h) for h in headline]} for model in results.models]
    gate_counts = {s: sum(g.status == s for g in results.gates) for s in ("pass", "warn", "fail", "error", "skipped")}
    return {
        "r": results,
        "by_model": by_model,
        "comparison": comparison,
        "headline": headline,
        "gate_counts": gate_counts,
        "check_errors": [c for c in results.checks if c.status == "error"],
        "fmt": _fmt,
    }


def render_html(results: RunResults, run_dir: Path | None = None) -> str:
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    env = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"), autoescape=select_autoescape(["html", "j2"], default=True))
    return env.get_template("report.html.j2").render(**build_context(results, run_dir))


def write_html(results: RunResults, run_dir: Path, path: Path) -> None:
    atomic_write_text(path, render_html(results, run_dir))

"""The model card's Hugging Face front matter and its "Key figures" section.

The front matter follows the Hub's model card metadata (huggingface/hub-docs ``modelcard.md``):
``tags``, ``metrics`` (Hub metric ids where one exists), an optional ``license``, and a
``model-index`` with one entry per model whose ``results`` hold the headline performance metrics
of the test split (value, and the 95% bootstrap interval in the metric's display name). It is
written with ``yaml.safe_dump``, so user text (model names, data sources) is quoted, never
interpreted, and ``huggingface_hub.ModelCard`` parses it (tests/ci/test_card_*).

"Key figures" is what a reader needs before the details: the gate verdict, the headline metrics
with intervals, the largest demographic parity difference per model with its attribute, and
the top findings of ``audit.findings`` (ranked over every metric, gated or not).
"""

from __future__ import annotations

from typing import Any

from audit.report.headline import GENERATION, cell, columns, generative
from audit.report.markdown import fmt_number, md_text, table
from audit.results import Metric, RunResults, pillar_of

HEADLINE = ("accuracy", "balanced_accuracy", "roc_auc", "f1", "ece")  # the Metrics section has them all
HUB_METRIC = {  # our name -> the Hub's metric id (hf.co/metrics); others keep our name
    "accuracy": "accuracy",
    "roc_auc": "roc_auc",
    "f1": "f1",
    "precision": "precision",
    "recall": "recall",
    "brier": "brier_score",
}
PRETTY = {
    "accuracy": "Accuracy",
    "balanced_accuracy": "Balanced accuracy",
    "roc_auc": "ROC AUC",
    "f1": "F1",
    "precision": "Precision",
    "recall": "Recall",
    "ece": "Expected calibration error",
    "brier": "Brier score",
}
TASKS = {
    "tabular": ("tabular-classification", "Tabular Classification"),
    "text": ("text-classification", "Text Classification"),
    "image": ("image-classification", "Image Classification"),
    "generation": ("text-generation", "Text Generation"),
}
DISPARITY = "demographic_parity_difference"
TOP_FINDINGS = 5


def only_model(results: RunResults, model: str) -> RunResults:
    """The run as seen by one model: its metrics, checks and gates, plus the data-level ones."""
    from audit.errors import ConfigError

    if model not in results.models:
        raise ConfigError(f"--model: the run has no model '{model}'; its models: {', '.join(results.models)}")
    keep = {model, "data"}
    return results.model_copy(
        update={
            "models": {model: results.models[model]},
            "metrics": [m for m in results.metrics if m.model in keep],
            "checks": [c for c in results.checks if c.model in keep],
            "gates": [g for g in results.gates if g.metric.split("/", 1)[0] in keep],
        }
    )


def _headline(results: RunResults, model: str) -> list[tuple[str, Metric]]:
    """(our metric name, metric) for the model's overall headline metrics, headline order."""
    if generative(results):  # a causal LM: perplexity, bits per byte, ... (audit.report.headline)
        flat = {m.path: m for m in results.metrics}
        return [(c, m) for c in GENERATION if (m := cell(flat, model, c)) is not None and m.value is not None]
    found = {}
    for m in results.metrics:
        if m.model == model and m.check == "performance" and m.group is None and m.value is not None:
            name = m.metric.removeprefix("macro_")
            if name in HEADLINE and name not in found:
                found[name] = m
    return [(name, found[name]) for name in HEADLINE if name in found]


def _dataset(results: RunResults) -> dict[str, str]:
    from audit.card import relative

    source = str(relative(results.manifest.get("data_source")) or "unknown")
    kind = source.removeprefix("builtin:") if source.startswith("builtin:") else source.rsplit("/", 1)[-1].split(".")[0]
    return {"type": kind or "dataset", "name": source, "split": "test"}


def _task(results: RunResults, model: str) -> dict[str, str]:
    modality = results.models.get(model, {}).get("modality", "tabular")
    kind, name = TASKS.get(modality, TASKS["tabular"])
    return {"type": kind, "name": name}


def _metric_entry(name: str, metric: Metric, model: str) -> dict[str, Any]:
    pretty = PRETTY.get(name, name)
    if metric.metric.startswith("macro_"):
        pretty += " (macro)"
    if metric.ci:
        pretty += f" (95% bootstrap interval {metric.ci[0]:.3f} to {metric.ci[1]:.3f})"
    return {"type": HUB_METRIC.get(name, name), "value": round(float(metric.value), 6), "name": pretty}  # type: ignore[arg-type]


def front_matter(results: RunResults, *, license: str | None = None) -> str:
    """``---\\n<yaml>---\\n``: tags, metrics and a model-index of the headline test metrics."""
    import yaml

    pillars = sorted({pillar_of(c) for c in results.checks if c.status != "skipped"} - {"performance", None})  # type: ignore[arg-type]
    index, metric_ids = [], []
    for model in results.models:
        rows = _headline(results, model)
        for name, _ in rows:
            hub = HUB_METRIC.get(name, name)
            if hub not in metric_ids:
                metric_ids.append(hub)
        if rows:
            index.append(
                {
                    "name": model,
                    "results": [
                        {
                            "task": _task(results, model),
                            "dataset": _dataset(results),
                            "metrics": [_metric_entry(name, m, model) for name, m in rows],
                            # no "source": the Hub requires a URL with it, and a run has none
                        }
                    ],
                }
            )
    tasks = sorted({_task(results, model)["type"] for model in results.models})
    meta: dict[str, Any] = {}
    if license:
        meta["license"] = license
    meta["tags"] = ["audit", "model-card", "responsible-ai", *tasks, *pillars]
    if metric_ids:
        meta["metrics"] = metric_ids
    if index:
        meta["model-index"] = index
    return "---\n" + yaml.safe_dump(meta, sort_keys=False, allow_unicode=True, width=1000) + "---\n"


def _with_ci(metric: Metric) -> str:
    text = fmt_number(metric.value, 3)
    return text + (f" [{metric.ci[0]:.3f}, {metric.ci[1]:.3f}]" if metric.ci else "")


def key_figures(results: RunResults) -> list[str]:
    """Verdict, headline metrics with intervals, the largest disparity per model, top findings."""
    counts = {s: sum(g.status == s for g in results.gates) for s in ("fail", "warn", "error")}
    told = ", ".join(f"{n} {s}" for s, n in counts.items() if n) or "none failed or warned"
    out = [
        "## Key figures",
        "",
        f"Gate verdict: **{results.status.upper()}** ({len(results.gates)} gates: {told}).",
    ]
    names = [n for n in columns(results, HEADLINE) if any(n == name for model in results.models for name, _ in _headline(results, model))]
    if names:
        rows = []
        for model in results.models:
            mine = dict(_headline(results, model))
            rows.append([md_text(model), *[_with_ci(mine[n]) if n in mine else "-" for n in names]])
        out += [
            "",
            "Test set, point estimate [95% bootstrap interval]:",
            "",
            table(["model", *[PRETTY.get(n, n) for n in names]], rows),
        ]
    disparities = []
    for model in results.models:
        rows = [m for m in results.metrics if m.model == model and m.metric == DISPARITY and m.value is not None]
        if rows:
            worst = max(rows, key=lambda m: m.value)  # type: ignore[arg-type, return-value]
            n = f", n={worst.n}" if worst.n else ""
            disparities.append(f"- {md_text(model)}: {md_text(worst.group or 'overall')} {_with_ci(worst)}{n}")
    if disparities:
        out += ["", "Largest demographic parity difference per model (0 is parity):", "", *disparities]
    out += _findings(results)
    return out


def _findings(results: RunResults) -> list[str]:
    from audit.findings import findings

    found = findings(results, limit=TOP_FINDINGS)
    if not found:
        return ["", "What to look at first: nothing stands out (no metric past its reference level, no gate breached)."]
    lines = ["", "What to look at first (ranked over every metric, gated or not):", ""]
    for item in found:
        ci = f" (95% interval {item.ci[0]:.3g} to {item.ci[1]:.3g})" if item.ci else ""
        lines.append(f"{item.rank}. **{item.severity}**: {md_text(item.title, limit=600)}{ci}")
    return lines

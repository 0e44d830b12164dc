"""Builders of small hand-made runs for the dashboard tests (imported by the test modules)."""

from __future__ import annotations

import re
from pathlib import Path

from audit.results import GateOutcome, Metric, RunResults, save_results

APP = Path(__file__).resolve().parents[2] / "dashboards" / "app.py"
CANDIDATE_ID = "29990101T000000Z-cand01"  # the newer copy of the credit run in ``credit_reports``
DROPPED = "logreg/performance/roc_auc"  # the metric that copy drops to 0.60 [0.55, 0.65]


def metric(
    path: str,
    value: float | None,
    ci: tuple[float, float] | None = None,
    n: int | None = 100,
    direction: str | None = "higher",
) -> Metric:
    model, check, rest = path.split("/", 2)
    name, _, group = rest.partition("[")
    return Metric(
        path=path,
        value=value,
        ci=ci,
        n=n,
        direction=direction,
        model=model,
        check=check,
        metric=name,
        group=group.rstrip("]") or None,
    )


def make_results(
    run_id: str,
    created_at: str,
    metrics: list[Metric],
    gates: list[GateOutcome] | None = None,
    status: str = "pass",
    suite: str = "toy",
) -> RunResults:
    return RunResults(
        run_id=run_id,
        suite={"name": suite, "sensitive": ["sex"], "intersections": []},
        created_at=created_at,
        status=status,
        exit_code=int(status in ("fail", "error")),
        manifest={"seed": 0},
        models={
            m: {"recipe": "logistic_regression", "modality": "tabular"} for m in dict.fromkeys(x.model for x in metrics)
        },
        gates=gates or [],
        checks=[],
        metrics=metrics,
    )


def gate(
    path: str, status: str, observed: float | None, op: str = ">=", threshold: float = 0.7, severity: str = "fail"
) -> GateOutcome:
    verb = "meets" if status == "pass" else "breaches"
    return GateOutcome(
        expression=f"{path} {op} {threshold:g}",
        metric=path,
        on="value",
        op=op,
        threshold=threshold,
        severity=severity,
        status=status,
        observed=observed,
        message=f"{observed:.4g} {verb} {op} {threshold:g}" if observed is not None else "no value",
    )


def write_run(root: Path, results: RunResults, suite: str | None = None) -> Path:
    folder = root / (suite or results.suite["name"]) / results.run_id
    folder.mkdir(parents=True)
    save_results(results, folder / "results.json")
    return folder


def unmd(text: str) -> str:
    """Markdown source as a reader sees it (the app backslash-escapes user text)."""
    return re.sub(r"\\(.)", r"\1", text)

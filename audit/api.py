"""The Python API for notebooks and pipelines: audit a model object on DataFrames in memory.

    import audit
    result = audit.audit(pipeline, test_df, target="credit_risk", train=train_df,
                         sensitive=["foreign_worker"], gates=["model/performance/roc_auc >= 0.7"])
    result              # in Jupyter: the verdict and the gates as HTML
    result.metrics      # one row per metric (a pandas DataFrame)
    again = audit.load_run(result.run_dir)

It builds an ordinary suite around the objects, so the checks, gates and run folder are the ones
``audit run`` makes; nothing is pickled and nothing is written but the run folder. A model is a
fitted estimator or pipeline with ``predict_proba``, or any callable returning probabilities
(an ``(n, n_classes)`` array, or for a binary target the positive class's probabilities); several
models are a ``{name: model}`` mapping. Every mistake (no probabilities, a wrong shape, a
DataFrame without the target, a dict where a suite is expected) is an ``AuditError`` that says
what was expected, never a bare TypeError.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from audit.errors import ConfigError, ModelError

MEMORY = "memory:"  # data "file" names that stand for a DataFrame handed over in memory


class AuditResult:
    """A finished run: its folder and results, with the views a notebook wants."""

    def __init__(self, run_dir: Path, results: Any) -> None:
        self.run_dir = Path(run_dir)
        self.results = results

    @property
    def status(self) -> str:
        """The verdict: pass, warn, fail or error."""
        return self.results.status

    verdict = status

    @property
    def exit_code(self) -> int:
        return self.results.exit_code

    @property
    def passed(self) -> bool:
        return self.results.status in ("pass", "warn")

    @property
    def report(self) -> Path | None:
        path = self.run_dir / "report.html"
        return path if path.exists() else None

    @property
    def metrics(self) -> Any:
        """Every metric as a DataFrame: path, model, check, metric, group, value, ci_low, ci_high, n, reason."""
        import pandas as pd

        rows = [
            {"path": m.path, "model": m.model, "check": m.check, "metric": m.metric, "group": m.group, "value": m.value,
             "ci_low": m.ci[0] if m.ci else None, "ci_high": m.ci[1] if m.ci else None, "n": m.n, "unit": m.unit, "reason": m.reason}
            for m in self.results.metrics
        ]
        return pd.DataFrame(rows, columns=["path", "model", "check", "metric", "group", "value", "ci_low", "ci_high", "n", "unit", "reason"])

    @property
    def gates(self) -> Any:
        """Every gate outcome as a DataFrame."""
        import pandas as pd

        rows = [{"gate": g.expression, "metric": g.metric, "status": g.status, "severity": g.severity, "observed": g.observed, "message": g.message, "origin": g.origin or "suite"} for g in self.results.gates]
        return pd.DataFrame(rows, columns=["gate", "metric", "status", "severity", "observed", "message", "origin"])

    @property
    def checks(self) -> Any:
        import pandas as pd

        rows = [{"model": r.model, "check": r.check, "status": r.status, "seconds": r.duration_s, "note": r.error or r.reason or "; ".join(r.warnings)} for r in self.results.checks]
        return pd.DataFrame(rows, columns=["model", "check", "status", "seconds", "note"])

    def metric(self, path: str) -> float | None:
        """The value of one metric path (KeyError naming close paths when it is not there)."""
        for m in self.results.metrics:
            if m.path == path:
                return m.value
        from audit.registry import suggest

        raise KeyError(f"no metric '{path}'; {suggest(path, [m.path for m in self.results.metrics])}")

    def __repr__(self) -> str:
        failed = [g for g in self.results.gates if g.status in ("fail", "error")]
        return f"<AuditResult {self.results.suite.get('name')} {self.status.upper()}: {len(self.results.metrics)} metrics, {len(self.results.gates)} gates ({len(failed)} failed) in {self.run_dir}>"

    def _repr_html_(self) -> str:
        esc = html.escape
        colour = {"pass": "#1a7f37", "warn": "#9a6700", "fail": "#cf222e", "error": "#cf222e", "skipped": "#57606a"}
        head = (f"<div><b>audit</b> {esc(str(self.results.suite.get('name')))} · run {esc(self.results.run_id)} · "
                f"<span style='color:{colour.get(self.status, '#000')};font-weight:bold'>{esc(self.status.upper())}</span> · "
                f"{len(self.results.metrics)} metrics · <code>{esc(str(self.run_dir))}</code></div>")
        rows = "".join(
            f"<tr><td style='color:{colour.get(g.status, '#000')}'>{esc(g.status)}</td><td><code>{esc(g.expression)}</code></td>"
            f"<td>{esc('' if g.observed is None else f'{g.observed:.4g}')}</td><td>{esc(g.message)}</td></tr>"
            for g in self.results.gates
        )
        gates = f"<table><tr><th>status</th><th>gate</th><th>observed</th><th>message</th></tr>{rows}</table>" if rows else "<p>No gates.</p>"
        skipped = [r for r in self.results.checks if r.status in ("skipped", "error")]
        notes = "".join(f"<li>{esc(r.model)} · {esc(r.check)}: {esc(r.status)} ({esc(r.reason or r.error or '')})</li>" for r in skipped)
        return head + gates + (f"<ul>{notes}</ul>" if notes else "")


def load_run(path: str | Path) -> AuditResult:
    """A finished run folder (or its results.json) as an ``AuditResult``."""
    from audit.results import load_results

    path = Path(path)
    folder = path.parent if path.name == "results.json" else path
    return AuditResult(folder, load_results(folder / "results.json"))


def audit(
    model: Any,
    test: Any,
    *,
    target: str | None = None,
    train: Any = None,
    reference: Any = None,
    sensitive: Sequence[str] | None = None,
    positive_label: Any = None,
    id_column: str | None = None,
    categorical: Sequence[str] | None = None,
    checks: Sequence[str | Mapping[str, Any]] | None = None,
    gates: Sequence[str | Mapping[str, Any]] = (),
    name: str = "notebook",
    seed: int = 0,
    output: str | Path = "reports",
    formats: Sequence[str] = ("html", "junit", "predictions"),
    log: Callable[[str], None] | None = None,
) -> AuditResult:
    """Audit ``model`` (an estimator, a pipeline, a callable, or ``{name: model}``) on ``test``.

    ``test`` (and ``train`` / ``reference``) are DataFrames holding the features and the
    ``target`` column (``reference`` may lack it), or ``(X, y)`` pairs. ``train`` is the data the
    model was fitted on: the integrity pillar checks the test rows against it and membership
    inference uses it. Gates name the model by its name: ``model`` unless given a mapping.
    Default checks: performance, fairness (with ``sensitive``), drift (with ``train`` or
    ``reference``) and integrity.
    """
    from audit.engine import run_suite
    from audit.suite import ModelSpec, parse_suite

    models = _models(model)
    frames: dict[str, Any] = {}
    target = target
    for part, value in (("test", test), ("train", train), ("reference", reference)):
        if value is not None:
            frames[part], target = _frame(value, part, target)
    if target is None:
        raise ConfigError("audit(): name the target column with target=... (the column of true labels in test)")
    if checks is None:
        checks = ["performance", *(["fairness"] if sensitive else []), *(["drift"] if train is not None or reference is not None else [])]
    data: dict[str, Any] = {"target": target, **{part: MEMORY + part for part in frames}}
    for key, value in (("sensitive", list(sensitive) if sensitive else None), ("positive_label", positive_label), ("id_column", id_column), ("categorical", list(categorical) if categorical is not None else None)):
        if value is not None:
            data[key] = value
    raw = {
        "version": 1, "name": name, "seed": seed, "data": data,
        "models": [{"name": n, "predictions": "memory"} for n in models],  # placeholders, replaced below
        "checks": list(checks), "gates": list(gates), "output": {"dir": str(output), "formats": list(formats)},
    }
    parsed = parse_suite(raw, "audit()")
    suite = parsed.model_copy(update={"models": [ModelSpec.model_construct(name=n, recipe=None, params={}, load=None, predictions=None) for n in models]})
    suite._memory = {"frames": frames, "models": models, "array_input": {part for part in frames if getattr(frames[part], "attrs", {}).get("audit_array_input")}}
    outcome = run_suite(suite, output=output, log=log)
    return AuditResult(outcome.run_dir, outcome.results)


def _models(model: Any) -> dict[str, Any]:
    import re

    from audit.suite import NAME_PATTERN

    if isinstance(model, Mapping):
        if not model:
            raise ModelError("audit(): the mapping of models is empty")
        for key in model:
            if not isinstance(key, str) or not re.match(NAME_PATTERN, key):
                raise ModelError(f"audit(): model name {key!r} must start with a letter and hold letters, digits, '_', '.' or '-'")
        for key, value in model.items():
            _require_scorer(value, key)
        return dict(model)
    _require_scorer(model, "model")
    return {"model": model}


def _require_scorer(model: Any, name: str) -> None:
    from audit.suite import Suite

    if isinstance(model, (str, Path, Suite)):
        raise ModelError(f"audit(): model '{name}' is a {type(model).__name__}; pass a fitted model object (to run a suite file use audit.run_suite)")
    if not hasattr(model, "predict_proba") and not callable(model):
        hint = " (a classifier without probabilities: use one with predict_proba, e.g. SVC(probability=True), or wrap it in CalibratedClassifierCV)" if hasattr(model, "predict") else ""
        raise ModelError(f"audit(): model '{name}' is a {type(model).__name__}: it has no predict_proba and is not callable{hint}")


def _frame(value: Any, part: str, target: str | None) -> tuple[Any, str | None]:
    import numpy as np
    import pandas as pd

    if isinstance(value, tuple) and len(value) == 2:
        X, y = value
        array_input = not isinstance(X, pd.DataFrame)
        if array_input:
            X = np.asarray(X)
            if X.ndim != 2:
                raise ConfigError(f"audit(): {part}: X must be 2-D (rows x features); got shape {X.shape}")
            X = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])
        y = pd.Series(np.asarray(y)).reset_index(drop=True)
        if len(y) != len(X):
            raise ConfigError(f"audit(): {part}: X has {len(X)} rows and y has {len(y)}")
        name = target or (value[1].name if isinstance(value[1], pd.Series) and value[1].name is not None else "target")
        if name in X.columns:
            raise ConfigError(f"audit(): {part}: X already has a column '{name}'; name the target with target=")
        frame = X.reset_index(drop=True).copy()
        frame[str(name)] = y.to_numpy()
        frame.attrs["audit_array_input"] = array_input
        return frame, str(name)
    if isinstance(value, pd.DataFrame):
        frame = value.reset_index(drop=True).copy()
        frame.columns = [str(c) for c in frame.columns]
        if target is not None and target not in frame.columns and part != "reference":
            from audit.registry import suggest

            raise ConfigError(f"audit(): {part}: no target column '{target}'; {suggest(target, list(frame.columns))}")
        return frame, target
    raise ConfigError(f"audit(): {part} must be a pandas DataFrame (features and the target column) or an (X, y) pair; got {type(value).__name__}")

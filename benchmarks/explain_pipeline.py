"""Time SHAP for user pipelines on German Credit: the new paths against the old fallback.

Builds ``ColumnTransformer(OneHotEncoder for the 13 categorical, StandardScaler for the 7 numeric
features)`` followed by (a) a RandomForest, (b) a LogisticRegression and (c) black boxes (an
MLPClassifier and an SVC(probability=True)), wraps each as a user's model file would be wrapped
(``SklearnModel(estimator=pipeline, preprocessor=None, kind=...)``), and explains ``--rows`` test
rows with ``audit.explain.shap_tab.explain_rows`` (background: ``--background`` seeded training
rows, as in the explain check). The old path is ``shap_tab.py`` as of ``--old-ref`` (git), which
sent every user pipeline to shap's PermutationExplainer over raw features (one permutation per
row); it is timed on ``--old-rows`` rows and scaled to ``--rows``. Usage:

    .venv/bin/python benchmarks/explain_pipeline.py [--rows 300] [--old-rows 30] [--old-ref c3b3466]
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def german_credit() -> tuple[pd.DataFrame, np.ndarray]:
    frame = pd.read_csv(ROOT / "suites" / "data" / "german_credit.csv")
    y = (frame.pop("credit_risk") == "good").to_numpy().astype(np.int64)
    return frame, y


def pipelines(X: pd.DataFrame) -> dict[str, tuple[str, object]]:
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler
    from sklearn.svm import SVC

    categorical = [c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])]
    numeric = [c for c in X.columns if c not in categorical]

    def pipe(final: object) -> Pipeline:
        pre = ColumnTransformer(
            [("num", StandardScaler(), numeric), ("cat", OneHotEncoder(handle_unknown="ignore"), categorical)]
        )
        return Pipeline([("pre", pre), ("model", final)])

    return {
        "random_forest": ("tree", pipe(RandomForestClassifier(n_estimators=200, random_state=0, n_jobs=1))),
        "logistic_regression": ("linear", pipe(LogisticRegression(max_iter=2000))),
        "mlp (black box)": ("other", pipe(MLPClassifier(hidden_layer_sizes=(64,), max_iter=500, random_state=0))),
        "svc (black box)": ("other", pipe(SVC(probability=True, random_state=0))),
    }


def old_shap_tab(ref: str):
    """``audit/explain/shap_tab.py`` at git ``ref``, imported as a separate module (None without git)."""
    try:
        source = subprocess.run(
            ["git", "show", f"{ref}:audit/explain/shap_tab.py"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    path = Path(tempfile.mkdtemp()) / "old_shap_tab.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("old_shap_tab", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["old_shap_tab"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=300)
    parser.add_argument("--background", type=int, default=100)
    parser.add_argument("--permutations", type=int, default=None, help="default: the background size")
    parser.add_argument("--old-rows", type=int, default=30, help="rows the old path explains (0: skip it)")
    parser.add_argument("--old-ref", default="c3b3466")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")

    from audit.data.base import Schema
    from audit.explain.shap_tab import explain_rows
    from audit.models.tabular import SklearnModel

    X, y = german_credit()
    order = np.random.default_rng(0).permutation(len(X))
    train, test = order[:700], order[700 : 700 + args.rows]
    categorical = tuple(c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c]))
    numeric = tuple(c for c in X.columns if c not in categorical)
    schema = Schema(
        target="credit_risk", classes=(0, 1), features=tuple(X.columns), numeric=numeric, categorical=categorical
    )
    old = old_shap_tab(args.old_ref) if args.old_rows else None
    Xtr, Xte = X.iloc[train].reset_index(drop=True), X.iloc[test].reset_index(drop=True)
    print(
        f"German Credit: {X.shape[1]} features, {len(train)} training rows, {len(test)} explained rows, "
        f"background {args.background}"
    )
    print(
        f"{'model':22} {'explainer':72} {'seconds':>8} {'perms':>6} {'additivity':>10} {'old s (scaled)':>15} {'speed-up':>8}"
    )
    for name, (kind, pipe) in pipelines(X).items():
        pipe.fit(Xtr, y[train])
        model = SklearnModel(name, schema, pipe, kind=kind)
        start = time.perf_counter()
        e = explain_rows(
            model,
            Xtr,
            Xte,
            rng=np.random.default_rng(1),
            background_size=args.background,
            permutations=args.permutations,
        )
        seconds = time.perf_counter() - start
        old_s = float("nan")
        if old is not None:
            n_old = min(args.old_rows, len(Xte))
            start = time.perf_counter()
            old.explain_rows(
                model, Xtr, Xte.iloc[:n_old], rng=np.random.default_rng(1), background_size=args.background
            )
            old_s = (time.perf_counter() - start) * len(Xte) / n_old
        print(
            f"{name:22} {e.explainer[:72]:72} {seconds:8.2f} {e.permutations:6d} {e.additivity_error:10.1e} "
            f"{old_s:15.1f} {old_s / seconds:7.0f}x"
        )


if __name__ == "__main__":
    main()

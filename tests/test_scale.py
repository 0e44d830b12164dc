"""The 1M-row audit at a small scale (benchmarks/scale.py): the suite runs, sampled checks say
how many rows they used, predictions.csv stays safe when written in chunks, and the shift
check's encode-once cache gives the numbers that encoding per model gives."""

from __future__ import annotations

import csv
import importlib.util
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _scale_module():
    spec = importlib.util.spec_from_file_location("bench_scale", ROOT / "benchmarks" / "scale.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_data_keeps_the_german_credit_columns_and_is_seeded():
    scale = _scale_module()
    real = pd.read_csv(scale.SOURCE)
    frame = scale.generate(3000, seed=1)
    assert list(frame.columns[: len(real.columns)]) == list(real.columns) and {"sex", "age_group"} <= set(frame.columns)
    for column in real.columns:
        if not pd.api.types.is_numeric_dtype(real[column]):
            assert set(frame[column].unique()) <= set(real[column].unique()), column
        else:
            assert pd.api.types.is_integer_dtype(frame[column]), column
    assert 0.6 < (frame["credit_risk"] == "good").mean() < 0.8
    pd.testing.assert_frame_equal(frame, scale.generate(3000, seed=1))


@pytest.fixture(scope="module")
def scaled_run(tmp_path_factory):
    """A 20k-row run of the benchmark suite with every sampling cap below the test set."""
    from audit.engine import run_suite

    scale = _scale_module()
    folder = tmp_path_factory.mktemp("scale")
    data = scale.write_data(20_000, folder)
    text = scale.suite_text("scale_small", data, bootstrap=20, explain_rows=10, shift_rows=2_000, robust_rows=50)
    text = text.replace("max_iter: 100,", "max_iter: 20,").replace("repeats: 200,", "repeats: 20,")
    text += """\
  - name: integrity
    variant: data
    params: {max_neighbour_rows: 500, max_rows: 3000}
"""
    path = folder / "suite.yaml"
    path.write_text(text)
    return run_suite(path, output=folder / "reports", log=None)


def test_the_scaled_suite_runs_and_sampled_checks_report_their_sample(scaled_run):
    results = scaled_run.results
    assert not [f"{c.model}/{c.check}: {c.error}" for c in results.checks if c.status == "error"]
    n_test = results.manifest["rows"]["test"]
    assert n_test == 6000
    metrics = {m.path: m for m in results.metrics}
    for model in ("logreg", "gbm"):
        assert metrics[f"{model}/shift/accuracy[noise@1.0]"].n == 2000  # the seeded sample, not the 6000 test rows
        assert metrics[f"{model}/performance/accuracy"].n == n_test
    assert metrics["data/integrity/train_test_near_overlap"].n == 500
    assert metrics["data/integrity/train_test_overlap"].n == n_test  # exact overlap: every test row, by hashing
    assert metrics["data/integrity/leakage_auc[age]"].n == 3000
    (integrity,) = [c for c in results.checks if c.pillar == "integrity"]
    near = [r["finding"] for r in integrity.tables.get("findings", []) if "near duplicates" in r["finding"]]
    assert all("of 500 sampled test rows" in f for f in near)
    assert (scaled_run.run_dir / "predictions.csv").stat().st_size > 0
    with (scaled_run.run_dir / "predictions.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 2 * n_test and {r["model"] for r in rows} == {"logreg", "gbm"}
    assert json.loads((scaled_run.run_dir / "results.json").read_text())["manifest"]["rows"]["test"] == n_test


def _old_table(test, classes, probabilities):
    """predictions.csv's table as the per-cell implementation built it (the reference)."""
    from audit.report.predictions import neutralise_cell

    frames = []
    for name, proba in probabilities.items():
        frame = pd.DataFrame({"model": name, "dataset": test.name, "row_id": test.ids, "y_true": [classes[i] for i in test.y], "y_pred": [classes[i] for i in proba.argmax(axis=1)]})
        frame["score"] = proba[:, 1]
        for k, label in enumerate(classes):
            frame[f"proba[{label}]"] = proba[:, k]
        for column in test.sensitive.columns:
            frame[column] = test.sensitive[column].to_numpy()
        frames.append(frame)
    table = pd.concat(frames, ignore_index=True)
    for column in table.columns:
        if not pd.api.types.is_numeric_dtype(table[column]):
            table[column] = table[column].map(neutralise_cell)
    table.columns = [neutralise_cell(str(c)) for c in table.columns]
    return table


def test_chunked_predictions_csv_neutralises_formulas_like_the_per_cell_version(tmp_path):
    from audit.data.base import Dataset
    from audit.report.predictions import write_predictions

    rng = np.random.default_rng(0)
    n = 1001
    site = rng.choice(["=1+2", "@SUM(A1)", "-1", "+2.5", "plain", "\t=x", "-2+3"], size=n)
    ids = np.array([f"=id{i}" if i % 7 == 0 else f"id{i}" for i in range(n)], dtype=object)
    test = Dataset("test", pd.DataFrame({"x": rng.normal(size=n)}), rng.integers(0, 2, n), pd.DataFrame({"site": site}), ids)
    p = rng.random(n)
    probabilities = {"a": np.c_[1 - p, p], "b": np.c_[p, 1 - p]}
    classes = ("-bad", "=good")
    path = tmp_path / "predictions.csv"
    write_predictions(test, classes, probabilities, path, chunk_rows=97)
    expected = tmp_path / "expected.csv"
    _old_table(test, classes, probabilities).to_csv(expected, index=False, float_format="%.17g", lineterminator="\n")
    assert path.read_text() == expected.read_text()
    with path.open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert not any(cell.startswith(("=", "+", "@", "\t")) and cell not in ("+2.5",) for row in rows for cell in row)
    assert "'=good" in {r[4] for r in rows[1:]} and {"-1", "+2.5"} <= {r[-1] for r in rows[1:]}


def _two_model_context(tmp_path: Path, n: int = 1500):
    from audit.context import Context
    from audit.data.base import DataBundle, Dataset, Schema
    from audit.registry import RECIPES

    rng = np.random.default_rng(3)
    X = pd.DataFrame({"x": rng.normal(size=n), "z": rng.normal(5.0, 2.0, n), "c": rng.choice(["p", "q", "r"], size=n)})
    X.loc[rng.random(n) < 0.05, "z"] = np.nan
    y = (X["x"] + (X["c"] == "p") + rng.normal(0.0, 0.5, n) > 0.5).to_numpy(dtype=np.int64)
    sensitive = pd.DataFrame({"s": np.where(np.arange(n) % 3 == 0, "u", "v")})
    schema = Schema(target="t", classes=(0, 1), features=("x", "z", "c"), numeric=("x", "z"), categorical=("c",), sensitive=("s",))
    full = Dataset("all", X, y, sensitive)
    half = np.arange(n) < n // 2
    bundle = DataBundle(schema, full.subset(half, "train"), full.subset(~half, "test"), pd.DataFrame(), "synthetic", "0")
    models = {}
    for name, recipe_name in (("lr", "logistic_regression"), ("gbm", "hist_gradient_boosting")):
        recipe = RECIPES.get(recipe_name)
        models[name] = recipe(recipe.Params(**({"max_iter": 20} if name == "gbm" else {})), 0).fit(name, bundle.train, schema)
    return Context(None, bundle, models, 0, tmp_path, lambda m: None), models


def _shift_metrics(tmp_path: Path, monkeypatch, enabled: bool, max_rows: int | None) -> tuple[dict, int]:
    from sklearn.compose import ColumnTransformer

    from audit.checks.shift import ShiftCheck, ShiftParams
    from audit.shift import encoded

    ctx, models = _two_model_context(tmp_path)
    calls = []
    original = ColumnTransformer.transform

    def counted(self, X, **kw):  # count the preprocessors' work (patched on the class: pickling is unchanged)
        calls.append(len(X))
        return original(self, X, **kw)

    from audit.models.fast_encode import CompiledEncoder

    compiled = CompiledEncoder.transform

    def counted_compiled(self, X):  # the adapters' compiled replay of the same preprocessor counts too
        calls.append(len(X))
        return compiled(self, X)

    monkeypatch.setattr(ColumnTransformer, "transform", counted)
    monkeypatch.setattr(CompiledEncoder, "transform", counted_compiled)
    encoded.ENABLED = enabled
    try:
        check = ShiftCheck(ShiftParams(severities=[0.5, 1.0], bootstrap=30, max_rows=max_rows))
        values = {m.path: (m.value, m.ci, m.n) for model in models.values() for m in check.run(ctx, model).metrics}
    finally:
        encoded.ENABLED = True
        monkeypatch.undo()
    return values, sum(1 for c in calls if c > 1)


@pytest.mark.parametrize("max_rows", [None, 400])
def test_encode_once_cache_gives_the_numbers_of_encoding_per_model(tmp_path, monkeypatch, max_rows):
    shared, shared_calls = _shift_metrics(tmp_path, monkeypatch, True, max_rows)
    separate, separate_calls = _shift_metrics(tmp_path, monkeypatch, False, max_rows)
    assert shared == separate and len(shared) > 20
    perturbed_sets = 3 * 2
    assert separate_calls >= 2 * perturbed_sets  # each model encodes each perturbed set
    assert shared_calls <= separate_calls - perturbed_sets  # ... once for both models with the cache
    if max_rows:
        assert {n for (_, _, n) in shared.values() if n is not None} >= {max_rows}

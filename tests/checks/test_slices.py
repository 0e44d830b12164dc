"""Slice discovery: a planted weak slice is found, data without one yields none (over seeds), and
the statistics equal scipy's (Fisher exact, Benjamini-Hochberg, Wilson) and pandas' counts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binomtest, false_discovery_control, fisher_exact

from audit.checks.slices import SlicesCheck, SlicesParams, adjust, encode, search, wilson
from audit.data.base import DataBundle, Dataset, Schema
from audit.engine import Context

SCHEMA = Schema(target="y", classes=(0, 1), features=("a", "b", "c", "d"), numeric=("a", "b"), categorical=("c", "d"))


class GivenScores:
    """A predictions-only 'model': the probabilities it gives for the test rows are fixed."""

    name, modality, can_score = "given", "tabular", False

    def __init__(self, proba: np.ndarray) -> None:
        self.proba = proba

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        assert len(X) == len(self.proba)
        return self.proba


def frame(rng: np.random.Generator, n: int) -> pd.DataFrame:
    return pd.DataFrame({
        "a": rng.normal(0, 1, n),
        "b": rng.uniform(0, 10, n),
        "c": rng.choice(["x", "y", "z", "w"], n),
        "d": rng.choice(["u", "v"], n),
    })


def case(seed: int, *, planted: bool = False, overconfident: bool = False, n: int = 1500) -> tuple[DataBundle, GivenScores, np.ndarray]:
    """A calibrated model: each row's confidence c ~ U(0.5, 1) is drawn independently of the
    features and the label agrees with the predicted class with probability c, so neither errors
    nor calibration depend on the features. ``planted``: in the slice a > 0.674 (the top
    quartile) and c == 'x' the label agrees with probability 0.4 only. ``overconfident``: in the
    slice b > 7.5 and d == 'u' the model says 0.98 while still right with probability c (its
    error rate is as elsewhere, its calibration is not)."""
    rng = np.random.default_rng(seed)
    train, test = frame(rng, n), frame(rng, n)
    pred = rng.integers(0, 2, n)
    conf = rng.uniform(0.5, 1.0, n)
    weak = (test["a"].to_numpy() > 0.674) & (test["c"].to_numpy() == "x")
    loud = (test["b"].to_numpy() > 7.5) & (test["d"].to_numpy() == "u")
    agree = rng.random(n) < np.where(weak & planted, 0.4, conf)
    y = np.where(agree, pred, 1 - pred)
    said = np.where(loud & overconfident, 0.98, conf)
    p1 = np.where(pred == 1, said, 1 - said)
    bundle = DataBundle(SCHEMA, Dataset("train", train, rng.integers(0, 2, n)), Dataset("test", test, y), pd.DataFrame(), "synthetic", "0")
    return bundle, GivenScores(np.column_stack([1 - p1, p1])), weak if planted else loud


def run_slices(bundle: DataBundle, model: GivenScores, tmp_path: Path, **params):
    ctx = Context(None, bundle, {}, 0, tmp_path, lambda m: None)
    return SlicesCheck(SlicesParams(**params)).run(ctx, model)


def test_planted_weak_slice_is_found_first(tmp_path):
    bundle, model, weak = case(0, planted=True)
    result = run_slices(bundle, model, tmp_path)
    rows = result.tables["slices"]
    errors = [r for r in rows if r["kind"] == "error_rate"]
    top = errors[0]
    assert "c=x" in top["slice"] and "a>" in top["slice"], top
    # the reported slice is (nearly) the planted one: the top quartile of a cut at training quantiles
    assert top["n"] == pytest.approx(weak.sum(), rel=0.2)
    assert top["value"] > 0.45 and top["rest"] < 0.3 and top["p_adjusted"] < 1e-6
    lo, hi = top["ci"]
    assert lo < top["value"] < hi
    paths = {m.path: m for m in result.metrics}
    metric = paths[f"given/slices/error_rate[{top['slice']}]"]
    assert metric.n == top["n"] and metric.ci == (lo, hi)
    assert paths["given/slices/slices_found"].value == len(rows) >= 1
    # a single condition it refines is not reported again once per other feature
    assert not any("&d=" in r["slice"] and r["slice"].startswith(top["slice"]) for r in errors)
    assert result.figures and result.figures[0]["kind"] == "bar"


def test_planted_overconfident_slice_is_found_as_a_calibration_gap(tmp_path):
    bundle, model, loud = case(2, overconfident=True)
    result = run_slices(bundle, model, tmp_path)
    rows = result.tables["slices"]
    assert rows and all(r["kind"] == "calibration_gap" for r in rows), rows  # its error rate is ordinary
    top = rows[0]
    assert "d=u" in top["slice"] and "b>" in top["slice"] and top["n"] == pytest.approx(loud.sum(), rel=0.2)
    assert top["value"] > 0.15 and top["rest"] < 0.05  # |accuracy - confidence| in the slice vs elsewhere


@pytest.mark.parametrize("correction", ["bh", "holm"])
def test_no_slice_is_reported_without_one(tmp_path, correction):
    """Errors independent of the features: over 10 seeds at most one seed reports any slice
    (the corrected level is 0.05; P(2 or more of 10) under a 5% rate is 8.6%, and the Fisher test
    is conservative)."""
    reported = []
    for seed in range(10):
        bundle, model, _ = case(100 + seed, planted=False, n=600)
        result = run_slices(bundle, model, tmp_path, correction=correction)
        tested = {m.path: m.value for m in result.metrics}["given/slices/slices_tested"]
        assert tested > 50  # singles and pairs were searched
        reported.append(len(result.tables.get("slices", [])))
    assert sum(r > 0 for r in reported) <= 1, reported


def test_counts_and_tests_equal_pandas_and_scipy(tmp_path):
    bundle, model, _ = case(3, planted=True, n=800)
    test = bundle.test
    wrong = (model.proba.argmax(axis=1) != test.y).astype(float)
    residual = (1 - wrong) - model.proba.max(axis=1)
    codes = encode(test.X, bundle.train.X, list(SCHEMA.features), SCHEMA.numeric, 4, 20)
    cells = search(codes, wrong, residual, min_size=30, pairs=True)
    # every pair slice's size and errors equal a pandas group-by over the same bins
    edges = np.quantile(bundle.train.X["a"], [0.25, 0.5, 0.75])
    bins = np.searchsorted(edges, test.X["a"], side="left")
    grouped = pd.DataFrame({"bin": bins, "c": test.X["c"], "wrong": wrong}).groupby(["bin", "c"])["wrong"].agg(["size", "sum"])
    labels = cells["label"]
    for (b, c), row in grouped.iterrows():
        name = codes[0][2][b][0] + f"&c={c}"
        if row["size"] >= 30:
            i = labels.index(name)
            assert cells["n"][i] == row["size"] and cells["k"][i] == row["sum"]
    # the one-sided Fisher exact p-value of one slice equals scipy's
    i = int(np.argmax(cells["k"] / cells["n"]))
    k, s, K, N = int(cells["k"][i]), int(cells["n"][i]), int(wrong.sum()), len(wrong)
    table = [[k, s - k], [K - k, (N - s) - (K - k)]]
    expected = fisher_exact(table, alternative="greater").pvalue
    from scipy.stats import hypergeom
    assert hypergeom.sf(k - 1, N, K, s) == pytest.approx(expected, rel=1e-9)
    result = run_slices(bundle, model, tmp_path, calibration=False)
    top = next(r for r in result.tables["slices"] if r["slice"] == labels[i]) if labels[i] in {r["slice"] for r in result.tables["slices"]} else None
    if top is not None:
        assert top["p_value"] == pytest.approx(expected, rel=1e-9)


def test_corrections_and_interval_equal_references():
    rng = np.random.default_rng(1)
    p = rng.uniform(0, 0.2, 40) ** 2
    np.testing.assert_allclose(adjust(p, "bh"), false_discovery_control(p, method="bh"), rtol=1e-12)
    # Holm from its definition on a worked example: sorted p * (m - i + 1), made monotone
    np.testing.assert_allclose(adjust(np.array([0.01, 0.04, 0.03, 0.005]), "holm"), [0.03, 0.06, 0.06, 0.02])
    for k, n in ((0, 30), (7, 31), (30, 30), (120, 400)):
        ref = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
        assert wilson(k, n) == pytest.approx((ref.low, ref.high), abs=1e-9)


def test_small_data_tests_nothing_and_says_why(tmp_path):
    bundle, model, _ = case(5, planted=True, n=50)
    result = run_slices(bundle, model, tmp_path, min_size=30)
    values = {m.path: m for m in result.metrics}
    assert values["given/slices/slices_tested"].value == 0
    assert values["given/slices/slices_found"].value is None and "30 rows" in values["given/slices/slices_found"].reason
    assert result.warnings


def test_unknown_feature_is_refused(tmp_path):
    from audit.errors import CheckError

    bundle, model, _ = case(6, planted=False, n=100)
    with pytest.raises(CheckError, match="features\\[0\\]: 'aa' is not a feature column; did you mean 'a'"):
        run_slices(bundle, model, tmp_path, features=["aa"])

"""Drift: planted covariate shift is flagged, unchanged features are not; every statistic equals
a hand computation or scipy."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import jensenshannon
from scipy.stats import chi2_contingency, ks_2samp

from audit.checks.drift import DriftCheck, DriftParams
from audit.data.base import DataBundle, Dataset, Schema
from audit.engine import Context
from audit.errors import CheckError
from audit.shift.stats import binned_counts, categorical_drift, numeric_drift, psi, quantile_edges

EPS = 1e-4


def planted_bundle(n: int = 1000, seed: int = 0, extra: bool = False) -> DataBundle:
    """a ~ N(0,1) train vs N(1,1) test; b ~ N(0,1) both; c shifts proportions; d unchanged."""
    rng = np.random.default_rng(seed)

    def frame(shifted: bool) -> pd.DataFrame:
        return pd.DataFrame({
            "a": rng.normal(1.0 if shifted else 0.0, 1.0, n),
            "b": rng.normal(0.0, 1.0, n),
            "c": rng.choice(["x", "y", "z"], size=n, p=[0.2, 0.3, 0.5] if shifted else [0.6, 0.3, 0.1]),
            "d": rng.choice(["u", "v"], size=n, p=[0.5, 0.5]),
        })

    schema = Schema(target="t", classes=(0, 1), features=("a", "b", "c", "d"), numeric=("a", "b"), categorical=("c", "d"))
    y = rng.integers(0, 2, n)
    train, test = Dataset("train", frame(False), y), Dataset("test", frame(True), y)
    extras = {"later": Dataset("later", frame(True), y)} if extra else {}
    return DataBundle(schema, train, test, pd.DataFrame(), "synthetic", "0", extras)


def run_drift(bundle: DataBundle, tmp_path: Path, **params):
    ctx = Context(None, bundle, {}, 0, tmp_path, lambda m: None)
    return DriftCheck(DriftParams(**params)).run(ctx, None)


def values(result) -> dict[str, float | None]:
    return {m.path: m.value for m in result.metrics}


def test_planted_shift_flags_a_and_c_only(tmp_path):
    result = run_drift(planted_bundle(), tmp_path)
    v = values(result)
    assert result.model == "data" and all(p.startswith("data/drift/") for p in v)
    assert v["data/drift/psi[a]"] > 0.25 and v["data/drift/ks_pvalue[a]"] < 0.01
    assert v["data/drift/psi[c]"] > 0.25 and v["data/drift/chi2_pvalue[c]"] < 0.01
    assert v["data/drift/psi[b]"] < 0.1 and v["data/drift/ks_pvalue[b]"] > 0.05
    assert v["data/drift/psi[d]"] < 0.1 and v["data/drift/chi2_pvalue[d]"] > 0.05
    rows = {r["feature"]: r for r in result.tables["drift"]}
    assert {f: (r["severity"], r["drifted"]) for f, r in rows.items()} == {
        "a": ("major", True), "b": ("none", False), "c": ("major", True), "d": ("none", False),
    }
    assert v["data/drift/n_drifted"] == 2 and v["data/drift/share_drifted"] == 0.5
    assert v["data/drift/max_psi"] == max(v["data/drift/psi[a]"], v["data/drift/psi[c]"])
    assert [r["feature"] for r in result.tables["drift"]][:2] in (["a", "c"], ["c", "a"])  # sorted by PSI
    figure = result.figures[0]
    assert figure["kind"] == "bar" and figure["ref_line"] == 0.25 and figure["labels"][0] in ("a", "c")


def test_statistics_equal_scipy(tmp_path):
    bundle = planted_bundle()
    v = values(run_drift(bundle, tmp_path))
    train, test = bundle.train.X, bundle.test.X
    for f in ("a", "b"):
        ks = ks_2samp(train[f], test[f])
        assert v[f"data/drift/ks_statistic[{f}]"] == pytest.approx(ks.statistic, abs=1e-15)
        assert v[f"data/drift/ks_pvalue[{f}]"] == pytest.approx(ks.pvalue, rel=1e-12)
    for f in ("c", "d"):
        table = pd.crosstab(np.r_[np.zeros(len(train)), np.ones(len(test))], np.r_[train[f], test[f]])
        chi = chi2_contingency(table.to_numpy())
        assert v[f"data/drift/chi2_statistic[{f}]"] == pytest.approx(chi.statistic, rel=1e-12)
        assert v[f"data/drift/chi2_pvalue[{f}]"] == pytest.approx(chi.pvalue, rel=1e-9)
        p, q = table.to_numpy() / table.to_numpy().sum(axis=1, keepdims=True)
        assert v[f"data/drift/js_distance[{f}]"] == pytest.approx(jensenshannon(p, q, base=2), abs=1e-12)


def test_psi_matches_hand_computation():
    # reference 1..8, median 4.5 -> bins (-inf, 4.5], (4.5, inf): reference 4|4, current 0|8
    ref, cur = pd.Series(np.arange(1.0, 9.0)), pd.Series(np.arange(5.0, 13.0))
    expected = (EPS - 0.5) * math.log(EPS / 0.5) + (1.0 - 0.5) * math.log(1.0 / 0.5)
    assert numeric_drift(ref, cur, n_bins=2, eps=EPS)["psi"] == pytest.approx(expected, rel=1e-12)
    # categories: reference x,x,x,y vs current x,y,y,y -> 2 * 0.5 * ln 3
    stats = categorical_drift(pd.Series(list("xxxy")), pd.Series(list("xyyy")), eps=EPS)
    assert stats["psi"] == pytest.approx(math.log(3.0), rel=1e-12)
    assert psi(np.array([5, 5]), np.array([5, 5]), EPS) == 0.0


def test_bins_are_right_closed_quantiles_with_a_missing_bin():
    edges = quantile_edges(np.array([1.0, 2.0, 2.0, 3.0, np.nan]), 2)
    np.testing.assert_array_equal(edges, [2.0])
    np.testing.assert_array_equal(binned_counts(np.array([1.0, 2.0, 2.5, np.nan]), edges, missing_bin=True), [2, 1, 1])
    # a feature half missing in test but complete in train: the missing bin carries the PSI
    ref, cur = pd.Series([1.0, 2.0, 3.0, 4.0]), pd.Series([1.0, 3.0, np.nan, np.nan])
    expected = (0.25 - 0.5) * math.log(0.25 / 0.5) * 2 + (0.5 - EPS) * math.log(0.5 / EPS)
    assert numeric_drift(ref, cur, n_bins=2, eps=EPS)["psi"] == pytest.approx(expected, rel=1e-12)


def test_drifted_needs_both_significance_and_psi_and_follows_alpha_and_correction(tmp_path):
    bundle = planted_bundle(n=60, seed=3)
    table = {r["feature"]: r for r in run_drift(bundle, tmp_path).tables["drift"]}
    # small sample: b's PSI is noisy (moderate) but KS does not reject, so b is not drifted
    assert table["b"]["severity"] == "moderate" and not table["b"]["significant"] and not table["b"]["drifted"]
    p_a, psi_a = table["a"]["p_value"], table["a"]["psi"]

    def drifted(**params) -> bool:
        rows = run_drift(bundle, tmp_path, **params).tables["drift"]
        return next(r["drifted"] for r in rows if r["feature"] == "a")

    assert drifted(alpha=2 * p_a) and not drifted(alpha=p_a)  # strict inequality p < alpha
    assert not drifted(alpha=2 * p_a, correction="bonferroni")  # 2p / 4 features < p
    assert not drifted(psi_moderate=psi_a * 1.01, psi_major=psi_a * 2)
    assert drifted(psi_moderate=psi_a * 0.99, psi_major=psi_a * 2)


def test_extra_datasets_are_compared_under_their_own_paths(tmp_path):
    result = run_drift(planted_bundle(extra=True), tmp_path, features=["a", "d"])
    v = values(result)
    assert v["data/drift/psi[a|later]"] > 0.25 and v["data/drift/n_drifted[later]"] == 1
    assert "data/drift/psi[b]" not in v and set(result.tables) == {"drift", "drift_later"}


def test_unknown_feature_and_bad_thresholds_are_clear_errors(tmp_path):
    with pytest.raises(CheckError, match=r"features: 'aa' is not a feature column; did you mean 'a'\?"):
        run_drift(planted_bundle(n=50), tmp_path, features=["aa"])
    with pytest.raises(ValueError, match=r"psi_moderate \(0.3\) must be below psi_major \(0.25\)"):
        DriftParams(psi_moderate=0.3)


def test_deterministic(tmp_path):
    first, second = run_drift(planted_bundle(), tmp_path), run_drift(planted_bundle(), tmp_path)
    assert [m.model_dump() for m in first.metrics] == [m.model_dump() for m in second.metrics]

"""The performance and class_disparity checks on the counts bootstrap, through a minimal context:
point estimates are the exact metrics (sklearn), intervals agree with the previous row-index
bootstrap within Monte-Carlo error, and the replicate blocks go through ``ctx.map``."""

from __future__ import annotations

import hashlib
import pickle
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import sklearn.metrics as skm

import audit.checks.class_disparity as class_disparity_module
from audit.checks.class_disparity import ClassDisparityCheck, ClassDisparityParams
from audit.checks.performance import PerformanceCheck, PerformanceParams
from audit.context import Predictions
from audit.metrics import multiclass as mc
from audit.metrics.binary import METRICS, binary_metrics, bootstrap_indices, percentile_ci

TOL = 1e-12


class Ctx:
    def __init__(self, y, proba, groups=None, classes=("no", "yes"), mapper=None):
        cols = {k: pd.Series(np.asarray(v).astype(str), name=k) for k, v in (groups or {}).items()}
        self.schema = SimpleNamespace(classes=tuple(classes), group_columns=tuple(cols))
        self.data = SimpleNamespace(test=SimpleNamespace(y=np.asarray(y), groups=lambda c: cols[c]))
        self._pred = Predictions(np.asarray(proba, dtype=np.float64))
        self.calls = []
        if mapper is not None:
            def map_(fn, items, *, label=""):
                self.calls.append((label, len(items)))
                return mapper(fn, items)
            self.map = map_

    def predict(self, model, test):
        return self._pred

    def rng(self, *keys):
        digest = hashlib.sha256(repr(keys).encode()).digest()
        return np.random.default_rng([7, int.from_bytes(digest[:8], "little")])


def binary_data(n=1200, seed=0):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.4).astype(np.int64)
    s = 1 / (1 + np.exp(-(rng.normal(0, 1, n) + 1.2 * y - 0.4)))
    g = np.where(rng.random(n) < 0.35, "f", "m")
    return y, np.column_stack([1 - s, s]), g


def metrics_of(result):
    return {(m.metric, m.group): m for m in result.metrics}


def pickled(fn, items):
    fn, items = pickle.loads(pickle.dumps(fn)), pickle.loads(pickle.dumps(items))
    return [fn(i) for i in items]


def test_performance_point_estimates_are_exact_and_blocks_go_through_ctx_map():
    y, proba, g = binary_data()
    ctx = Ctx(y, proba, {"sex": g}, mapper=pickled)
    result = metrics_of(PerformanceCheck(PerformanceParams(bootstrap=250)).run(ctx, SimpleNamespace(name="m")))
    pred, s = proba.argmax(1), proba[:, 1]
    point = binary_metrics(y, pred, s)
    for k in METRICS:
        assert result[(k, None)].value == point[k]  # the same code path as before: bit for bit
    assert result[("roc_auc", None)].value == pytest.approx(skm.roc_auc_score(y, s), abs=TOL)
    for value in ("f", "m"):
        rows = g == value
        assert result[("accuracy", f"sex={value}")].value == pytest.approx(skm.accuracy_score(y[rows], pred[rows]), abs=TOL)
    assert ctx.calls == [("performance bootstrap [overall]", 3), ("performance bootstrap [sex=f]", 3), ("performance bootstrap [sex=m]", 3)]
    plain = metrics_of(PerformanceCheck(PerformanceParams(bootstrap=250)).run(Ctx(y, proba, {"sex": g}), SimpleNamespace(name="m")))
    assert {k: m.ci for k, m in plain.items()} == {k: m.ci for k, m in result.items()}


def test_performance_intervals_agree_with_the_row_index_bootstrap():
    y, proba, _ = binary_data(n=1000, seed=1)
    B = 4000
    result = metrics_of(PerformanceCheck(PerformanceParams(bootstrap=B, slices=False)).run(Ctx(y, proba), SimpleNamespace(name="m")))
    old = binary_metrics(y, proba.argmax(1), proba[:, 1], bootstrap_indices(len(y), B, np.random.default_rng(3)))
    for k in METRICS:
        lo, hi = percentile_ci(old[k])
        ci = result[(k, None)].ci
        assert abs(ci[0] - lo) < 0.01 and abs(ci[1] - hi) < 0.01, (k, ci, (lo, hi))


def test_multiclass_performance_per_class_intervals_use_the_same_replicates():
    rng = np.random.default_rng(4)
    n, classes = 600, ("a", "b", "c")
    proba = rng.dirichlet(np.ones(3) * 2, n)
    y = np.where(rng.random(n) < 0.6, proba.argmax(1), rng.integers(0, 3, n))
    result = metrics_of(PerformanceCheck(PerformanceParams(bootstrap=2000, slices=False)).run(Ctx(y, proba, classes=classes), SimpleNamespace(name="m")))
    point = mc.multiclass_metrics(y, proba.argmax(1), proba)
    old = mc.multiclass_metrics(y, proba.argmax(1), proba, bootstrap_indices(n, 2000, np.random.default_rng(5)))
    for name in mc.METRICS:
        assert result[(name, None)].value == point[name]
        lo, hi = percentile_ci(old[name])
        assert abs(result[(name, None)].ci[0] - lo) < 0.015 and abs(result[(name, None)].ci[1] - hi) < 0.015, name
    per = mc.per_class_metrics(y, proba.argmax(1), 3, bootstrap_indices(n, 2000, np.random.default_rng(6)))
    for k, label in enumerate(classes):
        m = result[("recall", f"class={label}")]
        lo, hi = percentile_ci(per["recall"][:, k])
        assert m.ci[0] <= m.value <= m.ci[1] and abs(m.ci[0] - lo) < 0.02 and abs(m.ci[1] - hi) < 0.02


def test_class_disparity_intervals_agree_with_the_row_index_bootstrap(monkeypatch):
    rng = np.random.default_rng(8)
    n, k = 1500, 4
    y = rng.integers(0, k, n)
    pred = np.where(rng.random(n) < np.array([0.9, 0.7, 0.6, 0.8])[y], y, rng.integers(0, k, n))
    proba = np.eye(k)[pred] * 0.7 + 0.3 / k
    classes = tuple("wxyz")
    new = metrics_of(ClassDisparityCheck(ClassDisparityParams(bootstrap=4000)).run(Ctx(y, proba, classes=classes), SimpleNamespace(name="m")))

    def row_index(ctx, table, n_boot, rng_of, label="bootstrap"):  # the previous implementation
        idx = bootstrap_indices(n, n_boot, np.random.default_rng(9))
        return mc.confusion_matrices(y, pred, k, idx).reshape(n_boot, 1, k * k)

    monkeypatch.setattr(class_disparity_module, "bootstrap_table", row_index)
    old = metrics_of(ClassDisparityCheck(ClassDisparityParams(bootstrap=4000)).run(Ctx(y, proba, classes=classes), SimpleNamespace(name="m")))
    for key, m in new.items():
        assert m.value == old[key].value, key
        assert abs(m.ci[0] - old[key].ci[0]) < 0.01 and abs(m.ci[1] - old[key].ci[1]) < 0.01, (key, m.ci, old[key].ci)

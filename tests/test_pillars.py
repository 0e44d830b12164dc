"""One check per pillar: modality adapters, the old prefixed names as warned aliases, skipped
records that gates account for, and declared minimum sample sizes that the engine enforces."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from audit.checks.base import Check, CheckParams, CheckResult, MetricSpec
from audit.errors import ConfigError
from audit.registry import CHECKS
from audit.suite import load_suite


def _frame(n: int = 240, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    return pd.DataFrame({"x": x, "z": rng.normal(size=n), "g": rng.choice(["a", "b"], size=n), "y": (x + rng.normal(scale=0.5, size=n) > 0).astype(int)})


def test_each_modality_adapter_supplies_every_pillar():
    for modality in ("tabular", "image", "text"):
        for pillar in ("fairness", "shift", "robustness", "explain"):
            cls = CHECKS.resolve(pillar, modality)
            assert cls.pillar_name() == pillar, (pillar, modality, cls)
    assert CHECKS.resolve("shift", "image").name == "image_shift"
    assert CHECKS.resolve("fairness", "tabular", "classes").name == "class_disparity"
    with pytest.raises(ConfigError, match="no variant 'terms' for tabular data"):
        CHECKS.resolve("fairness", "tabular", "terms")


def test_old_names_are_rewritten_with_a_warning_naming_the_new_one(suite_writer):
    path = suite_writer(
        _frame(),
        data={"sensitive": ["g"]},
        checks=[{"name": "class_disparity", "params": {"bootstrap": 50}}],
        gates=["*/class_disparity/worst_class_recall >= 0.1", {"metric": "lr/class_disparity/recall_gap", "op": "<=", "threshold": 1}],
    )
    suite = load_suite(path)
    assert (suite.checks[0].name, suite.checks[0].variant) == ("fairness", "classes")
    assert [g.metric for g in suite.gates] == ["*/fairness/worst_class_recall", "lr/fairness/recall_gap"]
    notes = "\n".join(suite.deprecations)
    assert "'class_disparity' is deprecated" in notes and "use 'name: fairness, variant: classes'" in notes
    assert "the path is now */fairness/worst_class_recall >= 0.1" in notes


def test_an_old_name_of_another_modality_is_refused_not_guessed(suite_writer):
    path = suite_writer(_frame(), checks=[{"name": "image_shift"}])
    with pytest.raises(ConfigError, match=r"checks\[0\]\.name: 'image_shift' was the image implementation of 'shift'; this suite's data is tabular"):
        load_suite(path)


def test_metric_paths_carry_the_pillar_and_records_the_implementation(suite_writer, tmp_path):
    from audit.engine import run_suite

    path = suite_writer(_frame(), data={"sensitive": ["g"]}, checks=[{"name": "class_disparity", "params": {"bootstrap": 50}}])
    outcome = run_suite(path, log=None)
    [record] = outcome.results.checks
    assert (record.check, record.pillar, record.implementation) == ("fairness", "fairness", "class_disparity")
    assert {m.check for m in outcome.results.metrics} == {"fairness"}
    assert "lr/fairness/worst_class_recall" in {m.path for m in outcome.results.metrics}
    assert outcome.results.manifest["deprecations"]


class _ImageOnlyParams(CheckParams):
    pass


class _ImageOnly(Check):
    name = "image_only_probe"
    Params = _ImageOnlyParams
    modalities = ("image",)
    metrics = ("score",)

    def run(self, ctx, model):  # pragma: no cover - never runs on tabular models
        raise AssertionError


class _SmallSample(Check):
    name = "small_sample_probe"
    Params = _ImageOnlyParams
    metrics = (MetricSpec("tail", direction="lower", unit="ms", min_n=100), MetricSpec("centre", unit="ms", min_n=5))

    def run(self, ctx, model):
        result = CheckResult(self.check_name, model.name)
        result.add("tail", 3.0, ci=(2.0, 4.0), n=12)
        result.add("centre", 1.0, n=12)
        return result


@pytest.fixture
def probes():
    for name, cls in (("image_only_probe", _ImageOnly), ("small_sample_probe", _SmallSample)):
        CHECKS.add(name, f"tests:{cls.__name__}")
        CHECKS._loaded[f"tests:{cls.__name__}"] = cls
    yield
    for name, cls in (("image_only_probe", _ImageOnly), ("small_sample_probe", _SmallSample)):
        CHECKS._targets.pop(name, None)
        CHECKS._loaded.pop(f"tests:{cls.__name__}", None)


def test_a_check_that_does_not_apply_writes_a_skipped_record_and_gates_list_it(suite_writer, probes):
    from audit.engine import run_suite

    path = suite_writer(
        _frame(),
        models=[{"name": "lr", "recipe": "logistic_regression"}, {"name": "gbm", "recipe": "hist_gradient_boosting", "params": {"max_iter": 20}}],
        checks=[{"name": "performance", "params": {"bootstrap": 20}}, "image_only_probe"],
        gates=["*/image_only_probe/score >= 0.5", "*/performance/accuracy >= 0.5"],
    )
    outcome = run_suite(path, log=None)
    skipped = [r for r in outcome.results.checks if r.status == "skipped"]
    assert {r.model for r in skipped} == {"lr", "gbm"}
    assert all(r.reason == "'image_only_probe' does not support tabular models" for r in skipped)
    probe_gates = [g for g in outcome.results.gates if "image_only_probe" in g.metric]
    assert {(g.metric, g.status) for g in probe_gates} == {("lr/image_only_probe/score", "skipped"), ("gbm/image_only_probe/score", "skipped")}
    assert "skipped on gbm" in next(g.message for g in probe_gates if g.metric.startswith("gbm"))
    assert outcome.results.status == "pass"  # a skipped gate is not a failure ...
    junit = (outcome.run_dir / "junit.xml").read_text()
    assert junit.count("<skipped") == 4  # ... and CI shows two skipped gates and two skipped checks


def test_a_metric_below_its_declared_minimum_is_null_with_the_reason_and_its_gate_errors(suite_writer, probes):
    from audit.engine import run_suite

    path = suite_writer(_frame(), checks=["small_sample_probe"], gates=["lr/small_sample_probe/tail <= 10", "lr/small_sample_probe/centre <= 10"])
    outcome = run_suite(path, log=None)
    m = {x.metric: x for x in outcome.results.metrics}
    assert (m["tail"].value, m["tail"].ci, m["tail"].n) == (None, None, 12)
    assert m["tail"].reason == "needs at least 100 observations (n=12)"
    assert (m["tail"].direction, m["tail"].unit) == ("lower", "ms")  # filled from the declaration
    assert m["centre"].value == 1.0 and m["centre"].reason is None
    gates = {g.metric: g for g in outcome.results.gates}
    assert gates["lr/small_sample_probe/tail"].status == "error"
    assert "needs at least 100 observations (n=12)" in gates["lr/small_sample_probe/tail"].message
    assert gates["lr/small_sample_probe/centre"].status == "pass"
    [record] = outcome.results.checks
    assert record.status == "warn" and "lr/small_sample_probe/tail is undefined" in record.warnings[0]
    html = (outcome.run_dir / "report.html").read_text()
    assert "needs at least 100 observations (n=12)" in html


def test_runs_written_before_the_pillars_read_back_under_the_new_names():
    from audit.results import results_from_raw

    raw = {
        "schema_version": "1.0", "run_id": "r", "suite": {}, "created_at": "", "status": "pass", "exit_code": 0, "manifest": {}, "models": {},
        "gates": [{"expression": "cnn/image_shift/clean_accuracy >= 0.5", "metric": "cnn/image_shift/clean_accuracy", "on": "value", "op": ">=", "threshold": 0.5, "severity": "fail", "status": "pass", "observed": 0.9}],
        "checks": [{"check": "image_shift", "model": "cnn"}],
        "metrics": [{"path": "cnn/image_shift/clean_accuracy", "value": 0.9, "model": "cnn", "check": "image_shift", "metric": "clean_accuracy"}],
    }
    r = results_from_raw(raw, "old.json")
    assert (r.checks[0].check, r.checks[0].pillar, r.checks[0].implementation) == ("shift", "shift", "image_shift")
    assert r.metrics[0].path == "cnn/shift/clean_accuracy" and r.metrics[0].check == "shift"
    assert r.gates[0].expression == "cnn/shift/clean_accuracy >= 0.5"


def test_a_binary_only_check_on_a_multiclass_target_is_refused_before_training(suite_writer, tmp_path):
    from audit.engine import run_suite

    frame = _frame()
    frame["y"] = np.digitize(frame["x"], [-0.5, 0.5])  # three classes
    path = suite_writer(frame, checks=[{"name": "performance", "params": {"bootstrap": 20}}, "explain", "shift"])
    with pytest.raises(ConfigError) as info:
        run_suite(path, log=None)
    message = str(info.value)
    assert "checks[1].name: 'explain' on tabular data supports binary targets; 'y' has 3 classes (0, 1, 2)" in message
    assert "checks[2].name: 'shift' on tabular data supports binary targets" in message
    assert not (path.parent / "reports").exists()  # nothing trained, nothing written


def test_predictions_are_cached_by_content_so_equal_names_never_share_them(tmp_path):
    from audit.context import Context
    from audit.data.base import Dataset

    class Echo:
        name, modality = "echo", "tabular"

        def predict_proba(self, X):
            p = 1 / (1 + np.exp(-X["x"].to_numpy()))
            return np.column_stack([1 - p, p])

    base = Dataset("test", pd.DataFrame({"x": [0.0, 1.0, -1.0]}), np.array([0, 1, 0]))
    ctx = Context(None, None, {}, 0, tmp_path, print)  # type: ignore[arg-type]
    model = Echo()
    a = ctx.derive(base, "noise@0.5", X=pd.DataFrame({"x": [0.5, 1.5, -0.5]}))
    b = ctx.derive(base, "noise@0.5", X=pd.DataFrame({"x": [5.0, 5.0, 5.0]}))  # same label, other params
    assert a.name != b.name and a.name.startswith("test~noise@0.5#")
    clash = Dataset(a.name, b.X, b.y)  # even a hand-made name clash
    first, second, third = ctx.predict(model, a), ctx.predict(model, b), ctx.predict(model, clash)
    assert ctx.predict_calls == 3 and not np.allclose(first.proba, second.proba)
    np.testing.assert_array_equal(third.proba, second.proba)
    again = ctx.derive(base, "noise@0.5", X=pd.DataFrame({"x": [0.5, 1.5, -0.5]}))
    ctx.predict(model, again)
    assert again.name == a.name and ctx.predict_calls == 3  # the same rows are scored once


def test_performance_reports_an_undefined_rate_as_null_and_counts_dropped_replicates(suite_writer):
    """A slice without positives has no recall (sklearn: 0.0 with a warning, or nan on request)."""
    from audit.engine import run_suite

    frame = _frame(400, seed=1)
    frame.loc[frame["g"] == "b", "y"] = 0  # group b: no positives at all
    path = suite_writer(frame, data={"sensitive": ["g"]}, checks=[{"name": "performance", "params": {"bootstrap": 200}}])
    outcome = run_suite(path, log=None)
    m = {x.path: x for x in outcome.results.metrics}
    recall = m["lr/performance/recall[g=b]"]
    assert (recall.value, recall.ci, recall.reason) == (None, None, "no positives: recall is undefined")
    assert m["lr/performance/roc_auc[g=b]"].reason == "only one class present: ROC-AUC is undefined"
    assert m["lr/performance/recall[g=a]"].value is not None and m["lr/performance/accuracy[g=b]"].value is not None
    [record] = outcome.results.checks
    dropped = {(r["metric"], r["group"]): r for r in record.tables["undefined_replicates"]}
    assert dropped[("recall", "g=b")]["replicates_dropped"] == 200 and dropped[("recall", "g=b")]["replicates_used"] == 0
    assert ("recall", "overall") not in dropped

"""Latency: known-answer timings from adapters that sleep, sizes and memory from known artefacts."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from audit.checks.latency import LatencyCheck, LatencyParams
from audit.data.tabular import build_bundle
from audit.engine import Context, run_suite
from audit.models.base import ModelAdapter
from audit.suite import load_suite


class SleepyModel(ModelAdapter):
    """Every call sleeps ``seconds`` whatever the batch size; optionally allocates ``alloc_bytes``."""

    def __init__(self, seconds: float, alloc_bytes: int = 0) -> None:
        super().__init__("sleepy", (0, 1))
        self.seconds = seconds
        self.alloc_bytes = alloc_bytes
        self.calls = 0

    def predict_proba(self, X):
        self.calls += 1
        if self.alloc_bytes:
            np.ones(self.alloc_bytes // 8).sum()
        time.sleep(self.seconds)
        return np.tile([0.4, 0.6], (len(X), 1))


def frame(n: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    x = rng.normal(size=n)
    return pd.DataFrame({"x": x, "g": np.where(np.arange(n) % 2, "a", "b"), "y": np.where(x > 0, "yes", "no")})


@pytest.fixture
def ctx(suite_writer, tmp_path: Path) -> Context:
    suite = load_suite(suite_writer(frame(134), data={"positive_label": "yes", "sensitive": ["g"], "split": {"test_size": 0.3}}))
    bundle = build_bundle(suite)
    assert len(bundle.test) == 41
    return Context(suite, bundle, {}, seed=0, run_dir=tmp_path, log=lambda m: None)


def metrics(result) -> dict[str, object]:
    return {m.metric + (f"[{m.group}]" if m.group else ""): m for m in result.metrics}


def test_a_2ms_model_measures_about_2ms_and_its_throughput_scales_with_batch_size(ctx):
    model = SleepyModel(0.002)
    params = LatencyParams(repeats=60, warmup=3, batch_sizes=[1, 8, 1000], batch_repeats=4, bootstrap=200)
    result = LatencyCheck(params).run(ctx, model)
    m = metrics(result)
    p50, p95, p99 = (m[k].value for k in ("p50_ms", "p95_ms", "p99_ms"))
    assert 2.0 <= p50 < 3.5  # sleep never returns early; scheduler delay is small at the median
    assert p50 <= p95 <= p99
    assert m["p50_ms"].n == 60 and m["p50_ms"].ci[0] <= p50 <= m["p50_ms"].ci[1]
    # one call costs ~2 ms whatever the size, so rows/s is about batch / 2 ms
    assert {k for k in m if k.startswith("throughput_rps")} == {"throughput_rps[batch=1]", "throughput_rps[batch=8]", "throughput_rps[batch=41]"}
    for b in (1, 8, 41):
        assert b / 0.0035 < m[f"throughput_rps[batch={b}]"].value <= b / 0.002
    assert m["throughput_rps[batch=41]"].direction == "higher" and m["p99_ms"].direction == "lower"
    assert result.tables["setup"][0]["capped_batch_sizes"] == [1000]
    assert model.calls == 3 + 60 + 3 * (1 + 4) + 1  # warm-up, singles, per size warm-up + timed, memory
    kinds = [f["kind"] for f in result.figures]
    assert kinds == ["bar", "line"] and result.figures[1]["log_x"] is True


def test_the_time_budget_stops_slow_models_early(ctx):
    params = LatencyParams(repeats=500, warmup=5, batch_sizes=[1, 16], batch_repeats=50, max_seconds=0.3, bootstrap=0)
    start = time.perf_counter()
    result = LatencyCheck(params).run(ctx, SleepyModel(0.03))
    assert time.perf_counter() - start < 1.5
    m = metrics(result)
    assert m["p50_ms"].n == 5  # the minimum number of timed calls
    assert m["throughput_rps[batch=16]"].n >= 1
    assert m["p50_ms"].ci is None


def test_peak_memory_sees_a_known_allocation_and_size_reads_the_artefact(ctx, tmp_path: Path):
    model = SleepyModel(0.0, alloc_bytes=8_000_000)
    model.artefact = tmp_path / "model.skops"
    model.artefact.write_bytes(b"x" * 1234)
    m = metrics(LatencyCheck(LatencyParams(repeats=5, warmup=0, batch_sizes=[4], batch_repeats=1)).run(ctx, model))
    assert 8_000_000 <= m["peak_memory_bytes"].value < 9_000_000
    assert m["model_size_bytes"].value == 1234
    folder = tmp_path / "artefact"
    folder.mkdir()
    (folder / "a.safetensors").write_bytes(b"x" * 100)
    (folder / "b.json").write_bytes(b"x" * 23)
    model.artefact = folder
    m = metrics(LatencyCheck(LatencyParams(repeats=5, warmup=0, batch_sizes=[4], batch_repeats=1)).run(ctx, model))
    assert m["model_size_bytes"].value == 123


def test_model_without_artefact_reports_no_size(ctx):
    result = LatencyCheck(LatencyParams(repeats=5, warmup=0, batch_sizes=[2], batch_repeats=1)).run(ctx, SleepyModel(0.0))
    assert "model_size_bytes" not in metrics(result)
    assert result.tables["setup"][0]["model_size_bytes"] is None


def test_bad_batch_sizes_are_rejected():
    with pytest.raises(ValueError, match=r"every batch size must lie in \[1, 1000000\]"):
        LatencyParams(batch_sizes=[0, 4])


def test_latency_runs_in_a_suite_on_a_real_model(suite_writer):
    suite = suite_writer(
        frame(200),
        data={"positive_label": "yes", "sensitive": ["g"]},
        checks=[{"name": "latency", "params": {"repeats": 30, "batch_sizes": [1, 32], "batch_repeats": 3}}],
        # a path holding '=' needs the mapping form of a gate (the one-line form splits at '=')
        gates=["lr/latency/p95_ms <= 1000", {"metric": "lr/latency/throughput_rps[batch=32]", "op": ">=", "threshold": 1}],
    )
    outcome = run_suite(suite, log=None)
    assert outcome.exit_code == 0
    [record] = [r for r in outcome.results.checks if r.check == "latency"]
    assert record.status == "ok" and record.duration_s < 6  # 2 s budget; slack for a loaded CI machine
    m = {x.path: x for x in outcome.results.metrics}
    assert m["lr/latency/p50_ms"].value <= m["lr/latency/p95_ms"].value <= m["lr/latency/p99_ms"].value
    assert m["lr/latency/model_size_bytes"].value > 0
    assert m["lr/latency/peak_memory_bytes"].value > 0


def test_the_model_is_timed_with_one_thread_unless_told_otherwise(ctx):
    torch = pytest.importorskip("torch")
    seen = []

    class Probe(SleepyModel):
        def predict_proba(self, X):
            seen.append(torch.get_num_threads())
            return super().predict_proba(X)

    before = torch.get_num_threads()
    params = {"repeats": 3, "warmup": 0, "batch_sizes": [2], "batch_repeats": 1, "bootstrap": 0}
    LatencyCheck(LatencyParams(**params)).run(ctx, Probe(0.0))
    assert set(seen) == {1} and torch.get_num_threads() == before
    seen.clear()
    torch.set_num_threads(2)
    try:
        LatencyCheck(LatencyParams(**params, threads=0)).run(ctx, Probe(0.0))
        assert set(seen) == {2}
    finally:
        torch.set_num_threads(before)


@pytest.mark.slow
def test_credit_suite_latency(credit_run):
    for model in ("logreg", "gbm", "mlp"):
        m = {x.path.split("/", 2)[2]: x.value for x in credit_run.results.metrics if x.model == model and x.check == "latency"}
        assert 0 < m["p50_ms"] <= m["p95_ms"] <= m["p99_ms"]
        assert m["throughput_rps[batch=256]"] > 0 and "throughput_rps[batch=300]" in m  # 1000 capped at the 300 test rows
        assert m["model_size_bytes"] > 1000 and m["peak_memory_bytes"] > 0

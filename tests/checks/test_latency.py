"""Latency: known-answer timings from adapters that sleep, sizes and memory from known artefacts."""

from __future__ import annotations

import math
import re
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from audit.checks.base import apply_declarations
from audit.checks.latency import LatencyCheck, LatencyParams, quantile_ci, quantile_ci_ranks
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
    p50 = m["p50_ms"].value
    assert 2.0 <= p50 < 3.5  # sleep never returns early; scheduler delay is small at the median
    lo, hi = m["p50_ms"].ci
    assert lo >= 2.0 and hi < 4.0  # an order-statistic interval holds timings only, all >= 2 ms
    assert m["p50_ms"].n == m["p95_ms"].n == 60 and m["p50_ms"].unit == "ms"
    assert m["mean_ms"].value >= 2.0 and m["mean_ms"].ci is not None
    # one call costs ~2 ms whatever the size, so rows/s is about batch / 2 ms
    assert {k for k in m if k.startswith("throughput_rps")} == {"throughput_rps[batch=1]", "throughput_rps[batch=8]", "throughput_rps[batch=41]"}
    for b in (1, 8, 41):
        assert b / 0.0035 < m[f"throughput_rps[batch={b}]"].value <= b / 0.002
    assert m["throughput_rps[batch=41]"].direction == "higher" and m["p99_ms"].direction == "lower"
    assert m["throughput_rps[batch=41]"].unit == "rows/s" and m["peak_memory_bytes"].unit == "bytes"
    assert result.tables["setup"][0]["capped_batch_sizes"] == [1000]
    assert model.calls == 3 + 60 + 3 * (1 + 4) + 1  # warm-up, singles, per size warm-up + timed, memory
    kinds = [f["kind"] for f in result.figures]
    assert kinds == ["bar", "line"] and result.figures[1]["log_x"] is True


def test_a_busy_wait_model_has_the_known_median(ctx):
    """Busy-waiting (no scheduler wake-up) pins the per-call time; p50 must land on it."""

    class BusyModel(SleepyModel):
        def predict_proba(self, X):
            end = time.perf_counter_ns() + 2_000_000
            while time.perf_counter_ns() < end:
                pass
            return np.tile([0.4, 0.6], (len(X), 1))

    result = LatencyCheck(LatencyParams(repeats=120, warmup=2, batch_sizes=[1], batch_repeats=1, bootstrap=0)).run(ctx, BusyModel(0.0))
    m = metrics(result)
    assert m["p50_ms"].n == 120
    assert 2.0 <= m["p50_ms"].value < 2.5
    lo, hi = m["p50_ms"].ci
    assert lo >= 2.0 and hi < 2.5


def test_a_budget_too_small_for_p99_leaves_it_undefined_and_names_the_budget_needed(ctx):
    params = LatencyParams(repeats=200, warmup=2, batch_sizes=[1, 16], batch_repeats=50, max_seconds=0.3, bootstrap=0)
    start = time.perf_counter()
    result = LatencyCheck(params).run(ctx, SleepyModel(0.01))
    assert time.perf_counter() - start < 1.5  # 0.3 s of single rows, 0.12 s of throughput, a few extra calls
    apply_declarations(result, LatencyCheck)
    m = metrics(result)
    n = m["p50_ms"].n
    assert 20 <= n <= 31  # 0.3 s / 10 ms: the whole budget goes to the single-row loop
    assert m["p95_ms"].n == m["p99_ms"].n == n == result.tables["setup"][0]["rows_timed"]
    assert result.tables["setup"][0]["stopped_by_budget"] is True
    assert m["p99_ms"].value is None and m["p99_ms"].ci is None and "100" in m["p99_ms"].reason
    assert m["p95_ms"].value is not None and m["p95_ms"].value >= 10.0
    assert m["throughput_rps[batch=16]"].n >= 1
    [warning] = [w for w in result.warnings if "p99_ms" in w]
    assert warning.startswith(f"p99_ms needs 100 timed calls; the 0.3 s budget allowed {n} ")
    needed = float(re.search(r"raise max_seconds to about ([0-9.]+) s", warning).group(1))
    assert 1.0 <= needed <= 2.0  # 100 calls of >= 10 ms, with headroom
    assert not [w for w in result.warnings if "p95_ms" in w or "p50_ms" in w]


def test_warmup_and_input_construction_are_outside_the_budget(ctx, monkeypatch):
    import audit.checks.latency as latency

    slow_take = latency.take

    def take(X, rows):  # building inputs costs 0.2 s a call
        time.sleep(0.2)
        return slow_take(X, rows)

    class SlowStart(SleepyModel):  # a lazy first call (JIT, cache fill) of 0.3 s
        def predict_proba(self, X):
            if self.calls == 0:
                time.sleep(0.3)
            return super().predict_proba(X)

    monkeypatch.setattr(latency, "take", take)
    params = LatencyParams(repeats=200, warmup=1, batch_sizes=[1], batch_repeats=1, max_seconds=0.3, bootstrap=0)
    m = metrics(LatencyCheck(params).run(ctx, SlowStart(0.01)))
    assert m["p50_ms"].n >= 20  # both costs before the clock: the 0.3 s still buys ~30 calls of 10 ms
    assert m["p50_ms"].value < 20


def test_repeats_below_100_declare_p99_undefined_up_front(ctx):
    result = LatencyCheck(LatencyParams(repeats=60, warmup=0, batch_sizes=[2], batch_repeats=1, bootstrap=0)).run(ctx, SleepyModel(0.0))
    apply_declarations(result, LatencyCheck)
    m = metrics(result)
    assert m["p99_ms"].value is None and m["p99_ms"].n == 60
    assert m["p99_ms"].reason == "needs at least 100 timed calls; repeats is 60"
    assert m["p95_ms"].value is not None and m["p95_ms"].n == 60
    assert result.warnings == [
        "repeats=60 is too few for p99_ms (needs 100 timed calls): reported as undefined; set repeats to at least 100,"
        " with a max_seconds that allows them, to measure it"
    ]
    result = LatencyCheck(LatencyParams(repeats=10, warmup=0, batch_sizes=[2], batch_repeats=1, bootstrap=0)).run(ctx, SleepyModel(0.0))
    apply_declarations(result, LatencyCheck)
    m = metrics(result)
    assert m["p95_ms"].value is None and m["p99_ms"].value is None and m["p50_ms"].value is not None
    [warning] = result.warnings
    assert "p95_ms (needs 20 timed calls), p99_ms (needs 100 timed calls)" in warning
    assert "repeats to at least 100" in warning


def test_the_engine_declarations_null_a_percentile_below_its_minimum():
    from audit.checks.base import CheckResult

    result = CheckResult("latency", "m")
    result.add("p99_ms", 12.0, n=99)
    result.add("p95_ms", 9.0, n=20)
    apply_declarations(result, LatencyCheck)
    m = metrics(result)
    assert m["p99_ms"].value is None and "100" in m["p99_ms"].reason
    assert m["p95_ms"].value == 9.0 and m["p95_ms"].unit == "ms" and m["p95_ms"].direction == "lower"


def _coverage(n: int, q: Fraction, lo: int, hi: int) -> Fraction:
    """P(lo <= K <= hi - 1), K ~ Binomial(n, q), exactly."""
    return sum((Fraction(math.comb(n, i)) * q**i * (1 - q) ** (n - i) for i in range(lo, hi)), Fraction(0))


def _brute_force_ranks(n: int, q: Fraction, confidence: Fraction):
    best = None
    for lo in range(1, n + 1):
        for hi in range(lo + 1, n + 1):
            c = _coverage(n, q, lo, hi)
            if c >= confidence and (best is None or (hi - lo, -c) < (best[1] - best[0], -best[2])):
                best = (lo, hi, c)
    return best


@pytest.mark.parametrize(("n", "q"), [(20, "1/2"), (11, "1/4"), (40, "9/10"), (70, "19/20"), (25, "3/4")])
def test_quantile_ci_ranks_match_an_exact_binomial_search(n, q):
    q = Fraction(q)
    lo, hi, c = _brute_force_ranks(n, q, Fraction(95, 100))
    ranks = quantile_ci_ranks(n, float(q), 0.95)
    assert ranks[:2] == (lo, hi)
    assert ranks[2] == pytest.approx(float(c), abs=1e-12)
    values = np.arange(1.0, n + 1)[::-1]  # unsorted on purpose
    assert quantile_ci(values, float(q), 0.95) == (float(lo), float(hi))


def test_quantile_ci_textbook_values_and_the_smallest_samples():
    assert quantile_ci_ranks(20, 0.5, 0.95)[:2] == (6, 15)  # the classic median interval, coverage 0.9586
    # [x_(1), x_(n)] covers with 1 - q^n - (1 - q)^n: below the confidence there is no interval
    for n, q in [(6, 0.5), (59, 0.95), (299, 0.99)]:
        assert quantile_ci_ranks(n, q, 0.95) is not None
        assert quantile_ci_ranks(n - 1, q, 0.95) is None
        assert quantile_ci(np.arange(n - 1.0), q, 0.95) is None
    assert quantile_ci_ranks(299, 0.99, 0.95)[1] == 299  # the upper end can only be the sample maximum


@pytest.mark.parametrize(("n", "q"), [(200, 0.5), (200, 0.95), (400, 0.99)])
def test_quantile_ci_covers_the_true_quantile_as_often_as_promised(n, q):
    rng = np.random.default_rng(12345)
    reps, confidence = 2000, 0.95
    true = -math.log(1 - q)  # the q-quantile of Exp(1)
    samples = np.sort(rng.exponential(size=(reps, n)), axis=1)
    hits, coverages = 0, set()
    for row in samples:
        lo, hi = quantile_ci(row, q, confidence)
        hits += lo <= true <= hi
        # the ranks actually used, recovered from the values (continuous data: no ties)
        coverages.add((int(np.searchsorted(row, lo)) + 1, int(np.searchsorted(row, hi)) + 1))
    [(l_rank, u_rank)] = coverages
    exact = float(_coverage(n, Fraction(q).limit_denominator(1000), l_rank, u_rank))
    assert exact >= confidence
    observed = hits / reps
    assert abs(observed - exact) <= 4 * math.sqrt(exact * (1 - exact) / reps)


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
        checks=[{"name": "latency", "params": {"repeats": 120, "batch_sizes": [1, 32], "batch_repeats": 3}}],
        # a path holding '=' needs the mapping form of a gate (the one-line form splits at '=')
        gates=["lr/latency/p99_ms <= 1000", {"metric": "lr/latency/throughput_rps[batch=32]", "op": ">=", "threshold": 1}],
    )
    outcome = run_suite(suite, log=None)
    assert outcome.exit_code == 0
    [record] = [r for r in outcome.results.checks if r.check == "latency"]
    assert record.status == "ok" and record.duration_s < 6  # 2 s budget; slack for a loaded CI machine
    m = {x.path: x for x in outcome.results.metrics}
    assert m["lr/latency/p99_ms"].n == 120 and m["lr/latency/p99_ms"].value > 0 and m["lr/latency/p99_ms"].unit == "ms"
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
    records = {r.model: r for r in credit_run.results.checks if r.check == "latency"}
    for model in ("logreg", "gbm", "mlp"):
        m = {x.path.split("/", 2)[2]: x for x in credit_run.results.metrics if x.model == model and x.check == "latency"}
        timed = records[model].tables["setup"][0]["rows_timed"]
        assert m["p50_ms"].value > 0 and m["p50_ms"].n == m["p95_ms"].n == m["p99_ms"].n == timed >= 5
        # a p99 is either measured on at least 100 calls, or null with the budget that would have sufficed
        if timed >= 100:
            assert m["p99_ms"].value > 0
        else:
            assert m["p99_ms"].value is None and "100" in m["p99_ms"].reason
            assert any(w.startswith("p99_ms needs 100 timed calls") and "raise max_seconds to about" in w for w in records[model].warnings)
        assert m["throughput_rps[batch=256]"].value > 0 and "throughput_rps[batch=300]" in m  # 1000 capped at the 300 test rows
        assert m["model_size_bytes"].value > 1000 and m["peak_memory_bytes"].value > 0


def test_encoded_rows_time_scoring_alone_and_report_the_encoder_apart(suite_writer):
    """encoded_rows: true times proba_from_encoded on the model's encoded rows; the raw default
    includes the ColumnTransformer, so its median is the larger, and the encoder's own cost is
    reported in the 'encoding' table."""
    checks = [{"name": "latency", "params": {"repeats": 120, "batch_sizes": [1, 32], "batch_repeats": 3, "encoded_rows": flag}} for flag in (False, True)]
    medians = {}
    for flag, check in zip((False, True), checks, strict=True):
        suite = suite_writer(frame(200), data={"positive_label": "yes", "sensitive": ["g"]}, checks=[check])
        outcome = run_suite(suite, log=None)
        [record] = [r for r in outcome.results.checks if r.check == "latency"]
        medians[flag] = next(m.value for m in outcome.results.metrics if m.path == "lr/latency/p50_ms")
        assert ("encoding" in record.tables) is flag
    assert medians[True] < medians[False]

"""``latency``: how fast and how heavy a model is at prediction time (any modality).

Measured on this machine, in this process, with ``time.perf_counter_ns`` and the garbage
collector paused during timed calls:

* single-row latency: ``repeats`` calls on one test row each (rows drawn with a seeded
  generator, after ``warmup`` untimed calls); p50 / p95 / p99 / mean in milliseconds. ``n`` of
  each of them is the number of single-row calls actually timed;
* throughput: rows per second for each batch size (sizes above the test-set size are capped to
  it), from the median of ``batch_repeats`` timed calls;
* model size on disk (the saved artefact) and peak memory of one prediction on the largest batch.

**What a call is.** By default (``encoded_rows: false``) each timed call is ``predict_proba`` on
one raw row, encoder included: what a caller holding raw rows pays. With ``encoded_rows: true``,
a model with its own encoder (``transform`` + ``proba_from_encoded``: the toolkit's tabular
recipes, a user's torch module) is timed on its *encoded* input instead: the drawn rows are
encoded once, in one batch, and each timed call
scores one row of that matrix, ``proba_from_encoded(Z[i:i+1])``. That is the model's own cost,
as a service pays it when features arrive encoded (a feature store, a vectorised front end).
A caller holding raw rows pays the encoder too, and for a scikit-learn ``ColumnTransformer`` on a
one-row DataFrame that is most of it (milliseconds against tens of microseconds of scoring):
the ``encoding`` table reports it (median of up to 20 one-row raw calls of ``transform``, and one
batch of all drawn rows), so raw-row latency is about ``encode_row_p50_ms + p50_ms``.
Models without an encoder are always timed on raw rows; batches and the memory call use the
same kind of input as the single-row calls.

The pool of drawn rows (encoded or raw) is built once before the clock; each call's one-row
slice of it is taken inside the loop (inside the budget, outside the call's timer).

**Time budget.** ``max_seconds`` bounds the single-row timing loop only: it starts after the
warm-up calls (which get an allowance of their own, a tenth of it, and always make at least one
call) and stops the loop once spent, after at least 5 calls. Throughput then gets a further
``0.4 * max_seconds`` shared across the batch sizes, and the memory call comes last: a model
costs about ``1.4 * max_seconds`` plus the calls that always run (a warm-up call, a warm-up and a
timed call per batch size, the memory call; seconds for a transformer on a batch of 256).

**Minimum samples.** A percentile from a handful of calls is not that percentile: p50 needs 5
timed calls, p95 20 and p99 100 (declared as ``MetricSpec.min_n``, which the engine enforces).
Below that the metric is reported as null with a ``reason``, and the check warns with the cause:
``repeats`` below the minimum (warned before timing starts), or a budget that stopped the loop
early (the warning names the ``max_seconds`` that would reach the minimum, estimated from the
measured time per call).

**Intervals.** The p50 / p95 / p99 intervals are distribution-free order-statistic intervals,
not bootstrap ones (the percentile bootstrap of a tail quantile undercovers on small samples:
its replicates only reshuffle the few largest timings, so the interval is too narrow). With
``x_(1) <= ... <= x_(n)`` the sorted timings and ``K ~ Binomial(n, q)`` the number of calls
at or below the true q-quantile ``xi_q``, ``x_(l) <= xi_q <= x_(u)`` holds whenever ``l <= K <= u - 1``,
so ``[x_(l), x_(u)]`` covers ``xi_q`` with probability at least
``P(l <= K <= u - 1) = 1 - P(K < l) - P(K >= u)`` for any distribution (exactly that for a
continuous one; more when timings tie). :func:`quantile_ci_ranks` takes, among all rank pairs
whose coverage reaches ``confidence``, the narrowest (smallest ``u - l``), ties going to the larger
coverage. When even ``[x_(1), x_(n)]`` does not reach it (``1 - q**n - (1 - q)**n <
confidence``), there is no such interval and the CI is null: at 95 % a median needs n >= 6, a
p95 n >= 59 and a p99 n >= 299. The mean keeps a bootstrap interval (``bootstrap`` replicates).

By default the model may use one thread (``threads: 1``), as a single-threaded serving worker:
the numbers are then comparable across hosts and stable on a busy machine, where OpenMP
spin-waiting can make a multi-threaded tree ensemble 100x slower per row. ``threads: 0`` times
with the thread counts the run chose for the machine (``audit.threads``).

Peak memory (of one call on the largest batch, of the same kind of input as the timings) is the
larger of two measurements, both recorded in the ``memory`` table:
``tracemalloc`` (Python and numpy allocations, exact, but blind to torch's C++ allocator) and
the growth of the process's peak resident set size (``resource.ru_maxrss``; sees every
allocation, but only when the call pushes the process past its previous high-water mark, so it is
often 0 in a long run). Treat the value as a lower bound for torch models.

This check calls the model directly instead of ``ctx.predict``: timing needs real calls, so it is
the one deliberate exception to "predict once".

Metric paths: ``latency/p50_ms``, ``p95_ms``, ``p99_ms``, ``mean_ms`` (ms, lower is better),
``throughput_rps[batch=<size>]`` (rows/s, higher), ``model_size_bytes`` and ``peak_memory_bytes``
(bytes, lower).
"""

from __future__ import annotations

import functools
import gc
import math
import os
import sys
import time
import tracemalloc
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import Field, field_validator

from audit.checks.base import Check, CheckParams, CheckResult, MetricSpec
from audit.data.base import take
from audit.metrics.binary import bootstrap_indices, percentile_ci

if TYPE_CHECKING:
    from audit.context import Context
    from audit.models.base import ModelAdapter

PERCENTILES = {"p50_ms": 50.0, "p95_ms": 95.0, "p99_ms": 99.0}
# timed single-row calls each percentile needs (declared as MetricSpec.min_n, enforced by the engine)
MIN_CALLS_FOR = {"p50_ms": 5, "p95_ms": 20, "p99_ms": 100}
MIN_CALLS = 5  # single-row calls timed even when the budget is spent
WARMUP_SHARE = 0.1  # warm-up allowance, outside the budget, as a share of max_seconds
THROUGHPUT_SHARE = 0.4  # throughput allowance after the single-row loop, as a share of max_seconds
ENCODE_CALLS = 20  # one-row raw calls of the model's encoder, for the 'encoding' table


class LatencyParams(CheckParams):
    repeats: int = Field(200, ge=1, le=100_000, description="Timed single-row predictions (p99 needs at least 100, p95 20, p50 5).")
    warmup: int = Field(10, ge=0, le=10_000, description="Untimed calls before timing (caches, lazy init, JIT); outside the budget.")
    batch_sizes: list[int] = Field(default_factory=lambda: [1, 32, 256, 1000], min_length=1, max_length=20,
                                   description="Batch sizes for throughput; capped at the test-set size.")
    batch_repeats: int = Field(10, ge=1, le=10_000, description="Timed calls per batch size.")
    max_seconds: float = Field(2.0, gt=0, le=3600, description="Soft time budget of the single-row timing loop (warm-up excluded); it stops "
                               "early once spent. Throughput gets a further 0.4 x this.")
    threads: int = Field(1, ge=0, le=1024, description="BLAS / OpenMP / torch threads while timed; 0: the run's setting (audit.threads).")
    encoded_rows: bool = Field(False, description="true: time models that have an encoder on their encoded input (scoring only; the "
                               "encoding cost is reported in the 'encoding' table); false (default): raw rows through predict_proba, "
                               "what a caller holding raw rows pays.")
    bootstrap: int = Field(1000, ge=0, le=20_000, description="Bootstrap replicates for the mean's interval (0: none); percentiles use order statistics.")
    confidence: float = Field(0.95, gt=0.5, lt=1.0)

    @field_validator("batch_sizes")
    @classmethod
    def _sizes(cls, value: list[int]) -> list[int]:
        if any(b < 1 or b > 1_000_000 for b in value):
            raise ValueError("every batch size must lie in [1, 1000000]")
        return sorted(set(value))

    def undefined_percentiles(self) -> list[str]:
        """The percentiles ``repeats`` is too small for, whatever the budget: known before timing."""
        return [m for m, need in MIN_CALLS_FOR.items() if self.repeats < need]


@functools.lru_cache(maxsize=512)
def quantile_ci_ranks(n: int, q: float, confidence: float) -> tuple[int, int, float] | None:
    """1-based ranks ``(l, u)`` of the distribution-free interval ``[x_(l), x_(u)]`` for the
    ``q``-quantile from ``n`` observations, and its coverage; None when no rank pair reaches
    ``confidence``.

    Coverage of ``[x_(l), x_(u)]`` is ``1 - P(K < l) - P(K >= u)`` with ``K ~ Binomial(n, q)``
    (see the module docstring); among the pairs reaching ``confidence`` the narrowest in ranks
    wins, ties going to the larger coverage.
    """
    if n < 1:
        return None
    if not 0.0 < q < 1.0 or not 0.0 < confidence < 1.0:
        raise ValueError("q and confidence must lie in (0, 1)")
    from scipy.stats import binom

    alpha = 1.0 - confidence
    k = np.arange(n)
    below = binom.cdf(k, n, q)  # below[l - 1] = P(K < l),  l = 1..n
    above = binom.sf(k, n, q)  # above[u - 1] = P(K >= u), u = 1..n (non-increasing)
    slack = alpha - below  # the most P(K >= u) may be for each l
    # for each l: the smallest u with P(K >= u) <= slack (u > l follows, since P(K >= l) > slack)
    j = np.searchsorted(-above, -slack, side="left")
    lows = np.arange(1, n + 1)
    ok = (slack >= 0) & (j < n)
    if not ok.any():
        return None
    lows, j = lows[ok], np.maximum(j[ok], lows[ok])
    ups = j + 1
    miss = below[lows - 1] + above[ups - 1]
    best = np.lexsort((miss, ups - lows))[0]  # narrowest, then the smallest miss probability
    return int(lows[best]), int(ups[best]), float(1.0 - miss[best])


def quantile_ci(values: Sequence[float] | np.ndarray, q: float, confidence: float = 0.95) -> tuple[float, float] | None:
    """Distribution-free ``confidence`` interval for the ``q``-quantile (``q`` in (0, 1)) of the
    population ``values`` were drawn from: ``[x_(l), x_(u)]`` with the ranks of
    :func:`quantile_ci_ranks`; None when ``values`` are too few for any such interval."""
    x = np.sort(np.asarray(values, dtype=np.float64).ravel())
    ranks = quantile_ci_ranks(int(x.size), float(q), float(confidence))
    if ranks is None:
        return None
    lo, hi, _ = ranks
    return float(x[lo - 1]), float(x[hi - 1])


class _Slices:
    """The one-row inputs of the timed loop, sliced from a pool on demand (inside the budget).

    ``pool`` holds each distinct drawn row once (a frame, an array or a list); entry ``k`` is the
    one-row slice of the pool at ``position[k]``.
    """

    def __init__(self, pool: Any, position: np.ndarray) -> None:
        self.pool, self.position = pool, position
        self._iloc = hasattr(pool, "iloc")

    def __len__(self) -> int:
        return len(self.position)

    def __getitem__(self, k: int) -> Any:
        i = int(self.position[k])
        return self.pool.iloc[i : i + 1] if self._iloc else self.pool[i : i + 1]

    def __iter__(self) -> Any:
        return (self[k] for k in range(len(self)))


def suggested_seconds(calls: int, seconds_per_call: float) -> float:
    """A ``max_seconds`` that times about ``calls`` calls: 25 % headroom, rounded up to 2 digits."""
    need = max(calls * seconds_per_call * 1.25, 0.01)
    scale = 10.0 ** (math.floor(math.log10(need)) - 1)
    return float(f"{math.ceil(need / scale) * scale:.3g}")


class _Timer:
    """Time calls with the garbage collector paused; stop once a deadline passes."""

    def __init__(self, fn: Any) -> None:
        self.fn = fn

    def run(self, inputs: list[Any], deadline_ns: int, minimum: int = 1) -> np.ndarray:
        samples = []
        enabled = gc.isenabled()
        gc.disable()
        try:
            for i, x in enumerate(inputs):
                if i >= minimum and time.perf_counter_ns() > deadline_ns:
                    break
                start = time.perf_counter_ns()
                self.fn(x)
                samples.append(time.perf_counter_ns() - start)
        finally:
            if enabled:
                gc.enable()
        return np.asarray(samples, dtype=np.float64)


class LatencyCheck(Check):
    name = "latency"
    Params = LatencyParams
    modalities = ("tabular", "image", "text")
    metrics = (
        *(MetricSpec(m, "lower", "ms", min_n) for m, min_n in MIN_CALLS_FOR.items()),
        MetricSpec("mean_ms", "lower", "ms"),
        MetricSpec("throughput_rps", "higher", "rows/s"),
        MetricSpec("peak_memory_bytes", "lower", "bytes"),
        MetricSpec("model_size_bytes", "lower", "bytes"),
    )

    def run(self, ctx: Context, model: ModelAdapter) -> CheckResult:
        from audit.attacks import limit_threads

        with limit_threads(self.params.threads or None):
            return self._run(ctx, model)

    def _run(self, ctx: Context, model: ModelAdapter) -> CheckResult:
        p: LatencyParams = self.params
        result = CheckResult(self.name, model.name)
        test = ctx.data.test
        n = len(test)
        rng = ctx.rng(self.name, model.name)
        budget = int(p.max_seconds * 1e9)
        timer = _Timer(model.predict_proba)
        undefined = p.undefined_percentiles()
        if undefined:
            result.warn(f"repeats={p.repeats} is too few for "
                        + ", ".join(f"{m} (needs {MIN_CALLS_FOR[m]} timed calls)" for m in undefined)
                        + f": reported as undefined; set repeats to at least {MIN_CALLS_FOR[undefined[-1]]}, with a "
                        f"max_seconds that allows them, to measure {'it' if len(undefined) == 1 else 'them'}")

        # the pools are built before any clock starts; one-row slices of them inside the loop
        picks = rng.integers(0, n, size=p.repeats)
        distinct, position = np.unique(picks, return_inverse=True)
        sizes = sorted({min(b, n) for b in p.batch_sizes})
        capped = [b for b in p.batch_sizes if b > n]
        batch_rows = {b: np.sort(rng.choice(n, b, replace=False)) for b in sizes}
        raw_pool = take(test.X, distinct)
        encoding = self._encoder(model, test.X, raw_pool) if p.encoded_rows else None
        if encoding is not None:
            Z_test, encoding_row = encoding
            timer = _Timer(model.proba_from_encoded)
            singles = _Slices(Z_test[distinct], position.ravel())
            batches = {b: Z_test[rows] for b, rows in batch_rows.items()}
        else:
            singles = _Slices(raw_pool, position.ravel())
            batches = {b: take(test.X, rows) for b, rows in batch_rows.items()}
        warm = [singles[i % len(singles)] for i in range(p.warmup)] if len(singles) else []

        warmed = timer.run(warm, time.perf_counter_ns() + int(budget * WARMUP_SHARE), minimum=min(p.warmup, 1))
        start = time.perf_counter_ns()
        single_ns = timer.run(singles, start + budget, minimum=min(p.repeats, MIN_CALLS))
        elapsed = time.perf_counter_ns() - start
        self._latency(result, single_ns, elapsed, rng)

        throughput = self._throughput(result, timer, batches, time.perf_counter_ns() + int(budget * THROUGHPUT_SHARE))
        memory = self._memory(timer.fn, batches[sizes[-1]])
        result.table("memory", [memory])
        result.add("peak_memory_bytes", memory["peak_bytes"], n=sizes[-1], direction="lower", unit="bytes")
        size = model_size(model)
        if size is not None:
            result.add("model_size_bytes", size, direction="lower", unit="bytes")
        result.table("setup", [{
            "rows_requested": p.repeats, "rows_timed": int(single_ns.size), "timing_seconds": elapsed / 1e9,
            "budget_seconds": p.max_seconds, "stopped_by_budget": bool(single_ns.size < p.repeats),
            "warmup_calls": int(warmed.size), "test_rows": n,
            "batch_sizes": sizes, "capped_batch_sizes": capped, "model_size_bytes": size,
            "threads": p.threads or "the run's setting", "cpu_count": os.cpu_count(), "torch_threads": _torch_threads(),
            "input": "encoded rows (proba_from_encoded)" if encoding is not None else "raw rows (predict_proba)",
            "note": "measured in-process on this machine; compare runs only on the same hardware and load",
        }])
        if encoding is not None:
            result.table("encoding", [encoding_row])
        self._figures(result, single_ns, throughput)
        return result

    def _latency(self, result: CheckResult, ns: np.ndarray, elapsed_ns: int, rng: np.random.Generator) -> None:
        """Percentiles with order-statistic intervals, each null below its minimum sample, and the mean."""
        p: LatencyParams = self.params
        ms = np.sort(ns / 1e6)
        count = int(ms.size)
        per_call = elapsed_ns / 1e9 / max(count, 1)  # seconds per call as the budget sees it
        for metric, q in PERCENTILES.items():
            need = MIN_CALLS_FOR[metric]
            if count >= need:
                result.add(metric, float(np.percentile(ms, q)), ci=quantile_ci(ms, q / 100, p.confidence), n=count,
                           direction="lower", unit="ms")
            elif p.repeats < need:  # warned before timing
                result.add(metric, None, n=count, direction="lower", unit="ms",
                           reason=f"needs at least {need} timed calls; repeats is {p.repeats}")
            else:  # the budget stopped the loop short of the minimum
                result.add(metric, None, n=count, direction="lower", unit="ms",
                           reason=f"needs at least {need} timed calls; the {p.max_seconds:g} s budget allowed {count}")
                result.warn(f"{metric} needs {need} timed calls; the {p.max_seconds:g} s budget allowed {count} "
                            f"({per_call * 1e3:.3g} ms per call): raise max_seconds to about "
                            f"{suggested_seconds(need, per_call):g} s ({suggested_seconds(p.repeats, per_call):g} s for all "
                            f"{p.repeats} repeats) or lower repeats below {need} to leave {metric} out")
        boots = ms[bootstrap_indices(count, p.bootstrap, rng)] if p.bootstrap and count > 1 else None
        ci = percentile_ci(boots.mean(axis=1), p.confidence) if boots is not None else None
        result.add("mean_ms", float(ms.mean()) if count else None, ci=ci, n=count, direction="lower", unit="ms")

    def _throughput(self, result: CheckResult, timer: _Timer, batches: dict[int, Any], deadline: int) -> list[dict[str, Any]]:
        p: LatencyParams = self.params
        rows = []
        sizes = list(batches)
        for i, b in enumerate(sizes):
            timer.fn(batches[b])  # warm-up for this shape
            share = (deadline - time.perf_counter_ns()) // (len(sizes) - i)
            ns = timer.run([batches[b]] * p.batch_repeats, time.perf_counter_ns() + max(share, 0))
            median_s = float(np.median(ns)) / 1e9
            rps = b / median_s if median_s > 0 else None
            result.add("throughput_rps", rps, n=int(ns.size), group=f"batch={b}", direction="higher", unit="rows/s")
            rows.append({"batch_size": b, "calls": int(ns.size), "median_ms": median_s * 1e3,
                         "min_ms": float(ns.min()) / 1e6, "throughput_rps": rps})
        result.table("throughput", rows)
        return rows

    def _encoder(self, model: ModelAdapter, test_X: Any, raw_pool: Any) -> tuple[np.ndarray, dict[str, Any]] | None:
        """(the whole test set encoded, the 'encoding' table row), or None when the model has no
        encoder of its own (then it is timed on raw rows)."""
        if not callable(getattr(model, "proba_from_encoded", None)):
            return None
        try:
            start = time.perf_counter_ns()
            Z = model.transform(test_X)
            whole_ns = time.perf_counter_ns() - start
        except NotImplementedError:
            return None
        Z = np.asarray(Z)
        if Z.ndim != 2 or len(Z) != len(test_X):
            return None
        calls = min(ENCODE_CALLS, len(raw_pool))
        one_row = _Timer(model.transform).run(
            _Slices(raw_pool, np.arange(calls)), time.perf_counter_ns() + int(self.params.max_seconds * 1e9 * WARMUP_SHARE)
        )
        row = {
            "encode_row_p50_ms": float(np.median(one_row)) / 1e6 if one_row.size else None,
            "encode_row_calls": int(one_row.size),
            "encode_batch_rows": int(len(test_X)),
            "encode_batch_ms": whole_ns / 1e6,
            "note": "the model's transform on raw rows, not included in the single-row timings; "
            "raw-row latency is about encode_row_p50_ms + p50_ms",
        }
        return Z, row

    def _memory(self, fn: Any, batch: Any) -> dict[str, Any]:
        gc.collect()
        rss_before = _max_rss_bytes()
        was_tracing = tracemalloc.is_tracing()
        if not was_tracing:
            tracemalloc.start()
        try:
            tracemalloc.reset_peak()
            base, _ = tracemalloc.get_traced_memory()
            fn(batch)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            if not was_tracing:
                tracemalloc.stop()
        rss_after = _max_rss_bytes()
        traced = int(peak - base)
        rss_delta = int(rss_after - rss_before) if rss_before is not None and rss_after is not None else None
        return {"batch_size": len(batch), "tracemalloc_peak_bytes": traced, "max_rss_growth_bytes": rss_delta,
                "peak_bytes": max(traced, rss_delta or 0), "process_max_rss_bytes": rss_after}

    def _figures(self, result: CheckResult, ns: np.ndarray, throughput: list[dict[str, Any]]) -> None:
        ms = ns / 1e6
        metrics = {m.metric: m for m in result.metrics if m.metric in PERCENTILES}
        result.figure("bar", title=f"Single-row latency over {ms.size} calls (ms)", labels=["p50", "p95", "p99"],
                      values=[metrics[k].value for k in PERCENTILES],
                      ci=[list(metrics[k].ci) if metrics[k].ci else None for k in PERCENTILES], x_label="milliseconds",
                      horizontal=True)
        result.figure("line", title="Throughput by batch size (rows per second)",
                      series={"throughput": [[r["batch_size"] for r in throughput], [r["throughput_rps"] for r in throughput]]},
                      x_label="batch size (rows, log scale)", y_label="rows / s", log_x=True)


def model_size(model: ModelAdapter) -> int | None:
    """Bytes of the saved artefact: a folder's files, or a single file."""
    if model.artefact is not None and model.artefact.is_file():
        return model.artefact.stat().st_size
    return model.size_bytes()


def _max_rss_bytes() -> int | None:
    try:
        import resource
    except ImportError:  # Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)  # macOS reports bytes, Linux KiB


def _torch_threads() -> int | None:
    torch = sys.modules.get("torch")
    return int(torch.get_num_threads()) if torch is not None else None

"""``latency``: how fast and how heavy a model is at prediction time (any modality).

Measured on this machine, in this process, with ``time.perf_counter_ns`` and the garbage
collector paused during timed calls:

* single-row latency: ``repeats`` calls of ``predict_proba`` on one test row each (rows drawn with
  a seeded generator, after ``warmup`` untimed calls); p50 / p95 / p99 / mean in milliseconds with
  bootstrap intervals;
* throughput: rows per second for each batch size (sizes above the test-set size are capped to
  it), from the median of ``batch_repeats`` timed calls;
* model size on disk (the saved artefact) and peak memory of one prediction on the largest batch.

By default the model may use one thread (``threads: 1``), as a single-threaded serving worker:
the numbers are then comparable across hosts and stable on a busy machine, where OpenMP
spin-waiting can make a multi-threaded tree ensemble 100x slower per row. ``threads: 0`` times
the libraries' defaults instead.

Peak memory is the larger of two measurements, both recorded in the ``memory`` table:
``tracemalloc`` (Python and numpy allocations, exact, but blind to torch's C++ allocator) and
the growth of the process's peak resident set size (``resource.ru_maxrss``; sees every
allocation, but only when the call pushes the process past its previous high-water mark, so it is
often 0 in a long run). Treat the value as a lower bound for torch models.

This check calls the model directly instead of ``ctx.predict``: timing needs real calls, so it is
the one deliberate exception to "predict once". A soft ``max_seconds`` budget stops the repeats
early on slow models; ``n`` of each metric says how many calls were timed.

Metric paths: ``latency/p50_ms``, ``p95_ms``, ``p99_ms``, ``mean_ms`` (lower is better),
``throughput_rps[batch=<size>]`` (higher), ``model_size_bytes`` and ``peak_memory_bytes`` (lower).
"""

from __future__ import annotations

import gc
import os
import sys
import time
import tracemalloc
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import Field, field_validator

from audit.checks.base import Check, CheckParams, CheckResult
from audit.data.base import take
from audit.metrics.binary import bootstrap_indices, percentile_ci

if TYPE_CHECKING:
    from audit.engine import Context
    from audit.models.base import ModelAdapter

PERCENTILES = {"p50_ms": 50.0, "p95_ms": 95.0, "p99_ms": 99.0}
MIN_CALLS = 5  # single-row calls timed even when the budget is spent


class LatencyParams(CheckParams):
    repeats: int = Field(200, ge=1, le=100_000, description="Timed single-row predictions.")
    warmup: int = Field(10, ge=0, le=10_000, description="Untimed calls before timing (caches, lazy init, JIT).")
    batch_sizes: list[int] = Field(default_factory=lambda: [1, 32, 256, 1000], min_length=1, max_length=20,
                                   description="Batch sizes for throughput; capped at the test-set size.")
    batch_repeats: int = Field(10, ge=1, le=10_000, description="Timed calls per batch size.")
    max_seconds: float = Field(2.0, gt=0, le=3600, description="Soft time budget per model; repeats stop early once it is spent.")
    threads: int = Field(1, ge=0, le=1024, description="BLAS / OpenMP / torch threads while timed; 0: the libraries' defaults.")
    bootstrap: int = Field(1000, ge=0, le=20_000, description="Bootstrap replicates for the percentile intervals (0: none).")
    confidence: float = Field(0.95, gt=0.5, lt=1.0)

    @field_validator("batch_sizes")
    @classmethod
    def _sizes(cls, value: list[int]) -> list[int]:
        if any(b < 1 or b > 1_000_000 for b in value):
            raise ValueError("every batch size must lie in [1, 1000000]")
        return sorted(set(value))


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
    metrics = (*PERCENTILES, "mean_ms", "throughput_rps", "peak_memory_bytes", "model_size_bytes")

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
        start = time.perf_counter_ns()
        budget = int(p.max_seconds * 1e9)
        timer = _Timer(model.predict_proba)

        picks = rng.integers(0, n, size=p.repeats)
        singles = [take(test.X, picks[i : i + 1]) for i in range(p.repeats)]
        warm = [singles[i % len(singles)] for i in range(p.warmup)]
        warmed = timer.run(warm, start + budget // 10, minimum=min(p.warmup, 1))
        single_ns = timer.run(singles, start + budget * 45 // 100, minimum=min(p.repeats, MIN_CALLS))
        self._latency(result, single_ns, rng)

        sizes = sorted({min(b, n) for b in p.batch_sizes})
        capped = [b for b in p.batch_sizes if b > n]
        batches = {b: take(test.X, np.sort(rng.choice(n, b, replace=False))) for b in sizes}
        throughput = self._throughput(result, timer, batches, start + budget * 85 // 100)  # the rest: memory, bootstrap
        memory = self._memory(model, batches[sizes[-1]])
        result.table("memory", [memory])
        result.add("peak_memory_bytes", memory["peak_bytes"], n=sizes[-1], direction="lower")
        size = model_size(model)
        if size is not None:
            result.add("model_size_bytes", size, direction="lower")
        result.table("setup", [{
            "rows_timed": int(single_ns.size), "warmup_calls": int(warmed.size), "test_rows": n,
            "batch_sizes": sizes, "capped_batch_sizes": capped, "model_size_bytes": size,
            "threads": p.threads or "library defaults", "cpu_count": os.cpu_count(), "torch_threads": _torch_threads(),
            "note": "measured in-process on this machine; compare runs only on the same hardware and load",
        }])
        self._figures(result, single_ns, throughput)
        return result

    def _latency(self, result: CheckResult, ns: np.ndarray, rng: np.random.Generator) -> None:
        p: LatencyParams = self.params
        ms = ns / 1e6
        boots = None
        if p.bootstrap and ms.size > 1:
            boots = ms[bootstrap_indices(ms.size, p.bootstrap, rng)]
        for metric, q in PERCENTILES.items():
            ci = percentile_ci(np.percentile(boots, q, axis=1), p.confidence) if boots is not None else None
            result.add(metric, float(np.percentile(ms, q)), ci=ci, n=int(ms.size), direction="lower")
        ci = percentile_ci(boots.mean(axis=1), p.confidence) if boots is not None else None
        result.add("mean_ms", float(ms.mean()), ci=ci, n=int(ms.size), direction="lower")

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
            result.add("throughput_rps", rps, n=int(ns.size), group=f"batch={b}", direction="higher")
            rows.append({"batch_size": b, "calls": int(ns.size), "median_ms": median_s * 1e3,
                         "min_ms": float(ns.min()) / 1e6, "throughput_rps": rps})
        result.table("throughput", rows)
        return rows

    def _memory(self, model: ModelAdapter, batch: Any) -> dict[str, Any]:
        gc.collect()
        rss_before = _max_rss_bytes()
        was_tracing = tracemalloc.is_tracing()
        if not was_tracing:
            tracemalloc.start()
        try:
            tracemalloc.reset_peak()
            base, _ = tracemalloc.get_traced_memory()
            model.predict_proba(batch)
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

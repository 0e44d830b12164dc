"""``latency`` for language models: time to first token, decoding speed, peak memory.

Measured in this process with ``time.perf_counter_ns``, the garbage collector paused, on prompts
cut from seeded test documents to exactly ``prompt_tokens`` tokens (so batches need no padding):

* **time to first token** (TTFT): one prompt, the forward pass over it and the choice of the
  first token, ``repeats`` times; p50 / p95 (``ttft_p50_ms``, ``ttft_p95_ms``);
* **per-token latency**: greedy decoding of ``max_new_tokens`` tokens one at a time with the KV
  cache (``past_key_values``), each step timed; p50 / p95 over all timed steps
  (``token_p50_ms``, ``token_p95_ms``);
* **throughput**: ``generate`` with the KV cache (greedy, exactly ``max_new_tokens`` new tokens)
  at each batch size (default 1, 8, 32): new tokens per second from the median of
  ``batch_repeats`` calls (``tokens_per_second[batch=<b>]``);
* **peak memory** of the largest batch's generation, as the tabular latency check measures it
  (tracemalloc and the growth of the peak resident set size; a lower bound for torch), and the
  model's size on disk.

The minimum-n rule of the tabular check holds: p50 needs 5 timings and p95 20 (``MetricSpec``
``min_n``, enforced by the engine); intervals are distribution-free order-statistic intervals
(:func:`audit.checks.latency.quantile_ci`), null when the sample is too small for one.
"""

from __future__ import annotations

import gc
import os
import time
import tracemalloc
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import Field, field_validator

from audit.checks.base import Check, CheckParams, CheckResult, MetricSpec
from audit.checks.latency import MIN_CALLS_FOR, _max_rss_bytes, quantile_ci
from audit.modalities.generation.scoring import encode_documents

if TYPE_CHECKING:
    from audit.context import Context

PERCENTILES = {"p50": 50.0, "p95": 95.0}


class GenerationLatencyParams(CheckParams):
    repeats: int = Field(30, ge=1, le=10_000, description="Timed first-token calls (p95 needs 20, p50 5).")
    warmup: int = Field(3, ge=0, le=1000, description="Untimed calls first.")
    prompt_tokens: int = Field(16, ge=1, le=4096, description="Tokens of every prompt (cut from test documents that have as many).")
    max_new_tokens: int = Field(16, ge=2, le=1024, description="Tokens decoded per prompt for the per-token and throughput timings.")
    batch_sizes: list[int] = Field(default_factory=lambda: [1, 8, 32], min_length=1, max_length=10)
    batch_repeats: int = Field(3, ge=1, le=1000, description="Timed generate calls per batch size (the median is reported).")
    threads: int = Field(1, ge=0, le=1024, description="Torch threads while timed; 0: the run's setting.")
    confidence: float = Field(0.95, gt=0.5, lt=1.0)

    @field_validator("batch_sizes")
    @classmethod
    def _sizes(cls, value: list[int]) -> list[int]:
        if any(b < 1 or b > 4096 for b in value):
            raise ValueError("every batch size must lie in [1, 4096]")
        return sorted(set(value))


class GenerationLatencyCheck(Check):
    name = "generation_latency"
    pillar = "latency"
    Params = GenerationLatencyParams
    modalities = ("generation",)
    metrics = (
        MetricSpec("ttft_p50_ms", "lower", "ms", MIN_CALLS_FOR["p50_ms"]),
        MetricSpec("ttft_p95_ms", "lower", "ms", MIN_CALLS_FOR["p95_ms"]),
        MetricSpec("token_p50_ms", "lower", "ms", MIN_CALLS_FOR["p50_ms"]),
        MetricSpec("token_p95_ms", "lower", "ms", MIN_CALLS_FOR["p95_ms"]),
        MetricSpec("tokens_per_second", "higher", "tokens/s"),
        MetricSpec("peak_memory_bytes", "lower", "bytes"),
        MetricSpec("model_size_bytes", "lower", "bytes"),
    )

    def run(self, ctx: Context, model: Any) -> CheckResult:
        from audit.attacks import limit_threads

        with limit_threads(self.params.threads or None):
            return self._run(ctx, model)

    def _run(self, ctx: Context, model: Any) -> CheckResult:
        import torch

        p: GenerationLatencyParams = self.params
        result = CheckResult(self.check_name, model.name)
        if p.prompt_tokens + p.max_new_tokens > model.max_length:
            raise ValueError(f"prompt_tokens + max_new_tokens ({p.prompt_tokens + p.max_new_tokens}) exceed the model's context ({model.max_length} tokens)")
        seqs = [s[: p.prompt_tokens] for s in encode_documents(model, [str(t) for t in ctx.data.test.X]) if len(s) >= p.prompt_tokens]
        if not seqs:
            raise ValueError(f"no test document has {p.prompt_tokens} tokens; lower prompt_tokens")
        rng = ctx.rng(self.name)
        need = max(p.repeats, max(p.batch_sizes))
        prompts = torch.tensor([seqs[i] for i in rng.choice(len(seqs), size=need, replace=len(seqs) < need)])
        module = model.torch_module
        pad = model.tokenizer.pad_token_id
        with torch.inference_mode():
            for i in range(p.warmup):
                module(input_ids=prompts[i % len(prompts)][None])
            ttft = self._timed([lambda i=i: int(module(input_ids=prompts[i][None]).logits[0, -1].argmax()) for i in range(p.repeats)])
            steps = self._decode_steps(module, prompts[: max(1, min(p.repeats, 5))], p.max_new_tokens)
            self._percentiles(result, "ttft", ttft)
            self._percentiles(result, "token", steps)
            throughput = []
            for b in p.batch_sizes:
                batch = prompts[:b] if b <= len(prompts) else prompts[rng.integers(0, len(prompts), size=b)]
                call = lambda batch=batch: module.generate(input_ids=batch, attention_mask=torch.ones_like(batch), max_new_tokens=p.max_new_tokens, min_new_tokens=p.max_new_tokens,  # noqa: E731
                                                           do_sample=False, use_cache=True, pad_token_id=pad, top_k=None, top_p=None, temperature=None)
                call()  # warm-up of this shape
                ns = self._timed([call] * p.batch_repeats)
                tps = b * p.max_new_tokens / (float(np.median(ns)) / 1e9)
                result.add("tokens_per_second", tps, n=int(ns.size), group=f"batch={b}", direction="higher", unit="tokens/s")
                throughput.append({"batch_size": b, "tokens_per_second": tps, "median_ms": float(np.median(ns)) / 1e6, "calls": int(ns.size)})
            memory = self._memory(call)
        result.add("peak_memory_bytes", memory["peak_bytes"], n=p.batch_sizes[-1], direction="lower", unit="bytes")
        size = model.size_bytes() if hasattr(model, "size_bytes") else _folder_size(model.artefact)
        if size is not None:
            result.add("model_size_bytes", size, direction="lower", unit="bytes")
        result.table("throughput", throughput)
        result.table("memory", [memory])
        result.table("setup", [{"prompt_tokens": p.prompt_tokens, "max_new_tokens": p.max_new_tokens, "ttft_calls": int(ttft.size), "decode_steps_timed": int(steps.size),
                                "kv_cache": True, "threads": p.threads or "the run's setting", "torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count(),
                                "parameters": int(sum(t.numel() for t in module.parameters())),
                                "note": "measured in-process on this machine; compare runs only on the same hardware and load"}])
        result.figure("line", title="Decoding throughput by batch size (new tokens per second, KV cache)",
                      series={"tokens/s": [[r["batch_size"] for r in throughput], [r["tokens_per_second"] for r in throughput]]},
                      x_label="batch size (prompts, log scale)", y_label="tokens / s", log_x=True)
        return result

    @staticmethod
    def _timed(calls: list[Any]) -> np.ndarray:
        enabled = gc.isenabled()
        gc.disable()
        try:
            out = []
            for call in calls:
                start = time.perf_counter_ns()
                call()
                out.append(time.perf_counter_ns() - start)
        finally:
            if enabled:
                gc.enable()
        return np.asarray(out, dtype=np.float64)

    @staticmethod
    def _decode_steps(module: Any, prompts: Any, new_tokens: int) -> np.ndarray:
        """Wall time of each one-token decoding step after the prompt (KV cache), for each prompt."""
        out = []
        for prompt in prompts:
            step = module(input_ids=prompt[None], use_cache=True)
            past, token = step.past_key_values, step.logits[:, -1:].argmax(-1)
            for _ in range(new_tokens - 1):
                start = time.perf_counter_ns()
                step = module(input_ids=token, past_key_values=past, use_cache=True)
                past, token = step.past_key_values, step.logits[:, -1:].argmax(-1)
                out.append(time.perf_counter_ns() - start)
        return np.asarray(out, dtype=np.float64)

    def _percentiles(self, result: CheckResult, what: str, ns: np.ndarray) -> None:
        ms = ns / 1e6
        for name, q in PERCENTILES.items():
            ci = quantile_ci(ms, q / 100, self.params.confidence) if ms.size else None
            result.add(f"{what}_{name}_ms", float(np.percentile(ms, q)) if ms.size else None, ci=ci, n=int(ms.size), direction="lower", unit="ms",
                       reason=None if ms.size else "nothing timed")

    @staticmethod
    def _memory(call: Any) -> dict[str, Any]:
        gc.collect()
        before = _max_rss_bytes()
        tracing = tracemalloc.is_tracing()
        if not tracing:
            tracemalloc.start()
        try:
            tracemalloc.reset_peak()
            base, _ = tracemalloc.get_traced_memory()
            call()
            _, peak = tracemalloc.get_traced_memory()
        finally:
            if not tracing:
                tracemalloc.stop()
        after = _max_rss_bytes()
        growth = int(after - before) if before is not None and after is not None else None
        return {"tracemalloc_peak_bytes": int(peak - base), "max_rss_growth_bytes": growth, "peak_bytes": max(int(peak - base), growth or 0), "process_max_rss_bytes": after}


def _folder_size(path: Any) -> int | None:
    if path is None or not path.exists():
        return None
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.is_dir() else path.stat().st_size

"""``explain`` for language models: which prompt tokens a continuation rests on, and whether that holds.

For prompts cut from a seeded sample of test documents (their first ``prompt_words`` words,
opened by the end-of-text token, which is never attributed), the target is the model's own
greedy continuation of ``target_tokens`` tokens. Attributions of the target's log-probability to
each prompt token come from captum's LLM attribution (captum 0.9):

* ``feature_ablation``: ``LLMAttribution(FeatureAblation)``, each token replaced by the
  end-of-text token in turn;
* ``integrated_gradients``: ``LLMGradientAttribution(LayerIntegratedGradients)`` on the token
  embedding layer (``n_steps`` steps), summed over the embedding and the target tokens.

**Faithfulness** (deletion test): replacing the ``top_k`` most-attributed prompt tokens with the
end-of-text token should lower the target's log-probability more than replacing ``top_k`` random
ones (mean of ``random_draws`` draws). ``deletion_drop[<method>]`` and ``random_drop`` are the
mean drops (nats), ``faithfulness_gap[<method>]`` their difference per prompt averaged, with a
bootstrap interval over prompts (above 0: the attributions point at tokens that matter), and
``top_beats_random[<method>]`` the share of prompts where the top tokens' drop is larger.
``method_agreement`` is the mean Spearman correlation of the two methods' token attributions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import Field

from audit.checks.base import Check, CheckParams, CheckResult, MetricSpec
from audit.metrics.binary import bootstrap_indices, percentile_ci
from audit.modalities.generation.common import document_sample
from audit.modalities.generation.scoring import generate_ids

if TYPE_CHECKING:
    from audit.context import Context

METHODS = ("feature_ablation", "integrated_gradients")


class GenerationExplainParams(CheckParams):
    methods: list[Literal["feature_ablation", "integrated_gradients"]] = Field(default_factory=lambda: list(METHODS), min_length=1)
    max_prompts: int = Field(10, ge=2, le=1000, description="Prompts explained (seeded sample of test documents).")
    prompt_words: int = Field(10, ge=2, le=200)
    target_tokens: int = Field(6, ge=1, le=64, description="Tokens of the greedy continuation explained.")
    n_steps: int = Field(16, ge=2, le=300, description="Integrated-gradients steps.")
    top_k: int = Field(3, ge=1, le=100, description="Prompt tokens removed in the deletion test.")
    random_draws: int = Field(10, ge=1, le=1000, description="Random removals averaged per prompt.")
    bootstrap: int = Field(1000, ge=0, le=20_000)
    confidence: float = Field(0.95, gt=0.5, lt=1.0)


class GenerationExplainCheck(Check):
    name = "generation_explain"
    pillar = "explain"
    Params = GenerationExplainParams
    modalities = ("generation",)
    metrics = (
        MetricSpec("deletion_drop", "higher", "nats"),
        MetricSpec("random_drop", None, "nats"),
        MetricSpec("faithfulness_gap", "higher", "nats"),
        MetricSpec("top_beats_random", "higher"),
        MetricSpec("method_agreement", "higher"),
    )

    def run(self, ctx: Context, model: Any) -> CheckResult:
        from scipy.stats import spearmanr

        p: GenerationExplainParams = self.params
        result = CheckResult(self.check_name, model.name)
        tok, module = model.tokenizer, model.torch_module
        eos = tok.eos_token_id
        sample = document_sample(ctx, ctx.data.test, p.max_prompts * 3, "generation.explain")
        room = int(model.max_length) - p.target_tokens
        prompts = []
        for text in sample.X:
            ids = [eos, *tok(" ".join(str(text).split()[: p.prompt_words]), add_special_tokens=False)["input_ids"]][:room]
            if len(ids) - 1 > p.top_k:  # enough tokens to remove top_k of them
                prompts.append(ids)
            if len(prompts) == p.max_prompts:
                break
        if len(prompts) < 2:
            raise ValueError(f"fewer than 2 test documents give prompts longer than top_k={p.top_k} tokens")
        targets = generate_ids(model, prompts, p.target_tokens)
        rng = ctx.rng(self.name, model.name)
        attributions: dict[str, list[np.ndarray]] = {m: [] for m in p.methods}
        drops: dict[str, list[float]] = {m: [] for m in p.methods}
        randoms: list[float] = []
        rows = []
        for ids, target in zip(prompts, targets, strict=True):
            base = _target_logprob(module, ids, target)
            positions = np.arange(1, len(ids))  # the opening end-of-text token is context, not a feature
            random_drop = float(np.mean([base - _target_logprob(module, _removed(ids, rng.choice(positions, p.top_k, replace=False), eos), target) for _ in range(p.random_draws)]))
            randoms.append(random_drop)
            row: dict[str, Any] = {"prompt": tok.decode(ids[1:]), "target": tok.decode(target), "target_logprob": base, "random_drop": random_drop}
            for method in p.methods:
                attr = _attribute(method, module, tok, ids, target, p.n_steps)
                attributions[method].append(attr)
                top = positions[np.argsort(-attr, kind="stable")[: p.top_k]]
                drops[method].append(base - _target_logprob(module, _removed(ids, top, eos), target))
                row[f"{method}_top_tokens"] = " | ".join(tok.decode([ids[i]]) for i in top)
                row[f"{method}_drop"] = drops[method][-1]
            rows.append(row)
        n = len(prompts)
        idx = bootstrap_indices(n, p.bootstrap, rng) if p.bootstrap else None
        rand = np.asarray(randoms)
        result.add("random_drop", float(rand.mean()), n=n, unit="nats")
        for method in p.methods:
            d = np.asarray(drops[method])
            gap = d - rand
            result.add("deletion_drop", float(d.mean()), ci=percentile_ci(d[idx].mean(axis=1), p.confidence) if idx is not None else None, n=n, group=method, direction="higher", unit="nats")
            result.add("faithfulness_gap", float(gap.mean()), ci=percentile_ci(gap[idx].mean(axis=1), p.confidence) if idx is not None else None, n=n, group=method, direction="higher", unit="nats")
            result.add("top_beats_random", float((gap > 0).mean()), n=n, group=method, direction="higher")
        if len(p.methods) == 2:
            rhos = [spearmanr(a, b).statistic for a, b in zip(*attributions.values(), strict=True) if len(a) > 2 and np.ptp(a) > 0 and np.ptp(b) > 0]
            rhos = [r for r in rhos if np.isfinite(r)]
            result.add("method_agreement", float(np.mean(rhos)) if rhos else None, n=len(rhos), direction="higher",
                       reason=None if rhos else "no prompt with non-constant attributions under both methods")
        result.table("attributions", rows)
        first = attributions[p.methods[0]][0]
        result.figure("bar", title=f"{p.methods[0].replace('_', ' ')}: prompt tokens behind '{tok.decode(targets[0])}'",
                      labels=[f"{i}:{tok.decode([t])}" for i, t in enumerate(prompts[0][1:], start=1)], values=[float(v) for v in first],
                      x_label="attribution to the target's log-probability", horizontal=True)
        return result


def _removed(ids: list[int], positions: Any, replacement: int) -> list[int]:
    out = list(ids)
    for i in positions:
        out[int(i)] = replacement
    return out


def _target_logprob(module: Any, ids: list[int], target: list[int]) -> float:
    import torch

    with torch.inference_mode():
        full = torch.tensor([ids + target])
        logp = torch.log_softmax(module(input_ids=full).logits[0, len(ids) - 1 : -1].double(), dim=-1)
        return float(logp.gather(1, torch.tensor(target)[:, None]).sum())


def _attribute(method: str, module: Any, tok: Any, ids: list[int], target: list[int], n_steps: int) -> np.ndarray:
    """Attribution of the target's log-probability to each prompt token after the first."""
    import torch
    from captum.attr import (
        FeatureAblation,
        LayerIntegratedGradients,
        LLMAttribution,
        LLMGradientAttribution,
        TextTokenInput,
    )

    text = tok.decode(ids)
    inp = TextTokenInput(text, tok, baselines=tok.eos_token_id, skip_tokens=[tok.eos_token_id])
    if inp.inp_tensor.tolist()[0] != ids:  # captum re-tokenises the text; attribute our ids
        inp.inp_tensor = torch.tensor([ids])
    if method == "feature_ablation":
        res = LLMAttribution(FeatureAblation(module), tok).attribute(inp, target=torch.tensor(target))
    else:
        res = LLMGradientAttribution(LayerIntegratedGradients(module, module.transformer.wte), tok).attribute(inp, target=torch.tensor(target), n_steps=n_steps)
    out = res.seq_attr.detach().double().numpy()
    if out.shape[0] != len(ids) - 1:
        raise ValueError(f"captum returned {out.shape[0]} attributions for {len(ids) - 1} prompt tokens")
    return out

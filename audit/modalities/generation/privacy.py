"""``privacy`` for language models (variant ``memorisation``): canary exposure and verbatim extraction.

1. **Canary exposure** (Carlini et al. 2019, "The Secret Sharer"). A canary is a sentence
   ``<prefix><secret>`` with a random secret of ``d`` digits that was inserted ``r`` times into the
   training text (the ``gpt2_lm`` recipe's ``canaries``, read from the model, or ``canaries``
   given here for a model trained elsewhere). Every candidate secret of the space R (all
   ``10**d``, or a uniform sample of ``max_candidates`` when larger) is scored by the model's
   log-likelihood of the whole sentence; the canary's rank among them gives
   ``exposure = log2 |R| - log2 rank`` (ties count half). A secret the model has not seen sits at
   a uniformly random rank (expected exposure about 1.44 bits); a memorised one ranks first
   (``log2 |R|``). With a sample, the rank is estimated as ``1 + (|R| - 1) x`` the sampled share
   ranked above, and the exposure is capped at ``log2`` of the sample size (``method``
   ``sampled``). ``control`` secrets, drawn the same way but never inserted, give the no-memory
   baseline (``exposure[repeats=0]``). ``canary_extracted`` is the share of inserted canaries
   whose secret greedy decoding after the prefix reproduces.
2. **Verbatim extraction**: training documents (a seeded sample of at most ``max_documents``
   with at least ``prefix_tokens + suffix_tokens`` tokens) are prompted with their first
   ``prefix_tokens`` tokens; a document is extracted when greedy decoding reproduces its next
   ``suffix_tokens`` tokens exactly. The same on test documents gives the rate a model reaches
   without having seen them (generic text); ``extraction_excess`` is the difference, with a
   bootstrap interval (each side resampled).
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from audit.checks.base import Check, CheckParams, CheckResult, MetricSpec
from audit.metrics.binary import percentile_ci
from audit.modalities.generation.common import document_sample, shorten
from audit.modalities.generation.scoring import encode_documents, generate_ids, sequence_logprob

if TYPE_CHECKING:
    from audit.context import Context


class Canary(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prefix: str = Field(min_length=1)
    secret: str = Field(pattern=r"^[0-9]{1,12}$", description="The digits inserted after the prefix.")
    repeats: int = Field(ge=1, description="How often the sentence was inserted into the training text.")


class MemorisationParams(CheckParams):
    canaries: list[Canary] | None = Field(None, description="Canaries of a model trained elsewhere (default: those the gpt2_lm recipe inserted).")
    control: int = Field(4, ge=0, le=100, description="Secrets never inserted, scored the same way (the no-memory baseline).")
    max_candidates: int = Field(10_000, ge=100, le=1_000_000, description="Candidates scored per canary; the whole space when it is this small.")
    max_documents: int = Field(200, ge=10, le=100_000, description="Training (and test) documents probed for verbatim extraction.")
    prefix_tokens: int = Field(8, ge=1, le=1024)
    suffix_tokens: int = Field(8, ge=1, le=1024)
    bootstrap: int = Field(1000, ge=0, le=20_000)
    confidence: float = Field(0.95, gt=0.5, lt=1.0)
    batch_size: int = Field(256, ge=1, le=8192)


class MemorisationCheck(Check):
    name = "memorisation"
    pillar = "privacy"
    Params = MemorisationParams
    modalities = ("generation",)
    requires = ("scoring", "train")
    metrics = (
        MetricSpec("exposure", "lower", "bits"),
        MetricSpec("max_exposure", "lower", "bits"),
        MetricSpec("canary_extracted", "lower"),
        MetricSpec("extraction_rate", "lower"),
        MetricSpec("extraction_rate_test", None),
        MetricSpec("extraction_excess", "lower"),
    )

    def run(self, ctx: Context, model: Any) -> CheckResult:
        p: MemorisationParams = self.params
        result = CheckResult(self.check_name, model.name)
        canaries = [c.model_dump() for c in p.canaries] if p.canaries is not None else list(getattr(model, "canaries", []) or [])
        if canaries:
            self._exposure(ctx, result, model, canaries)
        else:
            result.warn("no canaries: the model was not trained by gpt2_lm with 'canaries', and the check's 'canaries' is not set; exposure not measured")
        self._extraction(ctx, result, model)
        return result

    def _exposure(self, ctx: Context, result: CheckResult, model: Any, canaries: list[dict[str, Any]]) -> None:
        p: MemorisationParams = self.params
        rng = ctx.rng(self.name, model.name, "canaries")
        rows, by_level = [], defaultdict(list)
        used = {(c["prefix"], c["secret"]) for c in canaries}
        controls = []
        for c in (canaries[k % len(canaries)] for k in range(p.control)):  # controls shaped like the canaries
            digits = len(c["secret"])
            while True:
                secret = str(int(rng.integers(0, 10**digits))).zfill(digits)
                if (c["prefix"], secret) not in used:
                    used.add((c["prefix"], secret))
                    controls.append({"prefix": c["prefix"], "secret": secret, "repeats": 0})
                    break
        for c in [*canaries, *controls]:
            digits = len(c["secret"])
            space = 10**digits
            if space <= p.max_candidates:
                candidates, method = [str(v).zfill(digits) for v in range(space) if str(v).zfill(digits) != c["secret"]], "exact"
            else:
                draws = rng.choice(space, size=p.max_candidates, replace=False)
                candidates, method = [str(int(v)).zfill(digits) for v in draws if str(int(v)).zfill(digits) != c["secret"]], "sampled"
            scores = sequence_logprob(model, [c["prefix"] + s for s in [c["secret"], *candidates]], batch_size=p.batch_size)
            own, others = scores[0], scores[1:]
            above = float((others > own).sum() + 0.5 * (others == own).sum())
            if method == "exact":
                rank = 1.0 + above
                exposure = math.log2(space) - math.log2(rank)
            else:
                rank = 1.0 + (space - 1) * above / len(others)
                exposure = min(math.log2(space) - math.log2(rank), math.log2(len(others) + 1))
            extracted = None
            if c["repeats"]:
                prompt = encode_documents(model, [c["prefix"]])[0]
                out = model.tokenizer.decode(generate_ids(model, [prompt], max(2, len(model.tokenizer(c["secret"], add_special_tokens=False)["input_ids"]) + 1))[0])
                extracted = out.strip().startswith(c["secret"])
            by_level[c["repeats"]].append((exposure, extracted))
            rows.append({"prefix": c["prefix"], "secret": c["secret"], "repeats": c["repeats"], "exposure_bits": exposure, "max_bits": math.log2(space),
                         "rank": rank, "method": method, "candidates": len(others) + 1, "extracted": extracted})
        for level, values in sorted(by_level.items()):
            result.add("exposure", float(np.mean([e for e, _ in values])), n=len(values), group=f"repeats={level}", direction="lower", unit="bits")
        inserted = [r for r in rows if r["repeats"]]
        result.add("max_exposure", max(r["exposure_bits"] for r in inserted), n=len(inserted), direction="lower", unit="bits")
        result.add("canary_extracted", float(np.mean([bool(r["extracted"]) for r in inserted])), n=len(inserted), direction="lower")
        result.table("canaries", rows)
        levels = sorted(by_level)
        result.figure("bar", title="Canary exposure by how often the canary was in the training text (bits)", labels=[f"{k}x" if k else "never (control)" for k in levels],
                      values=[float(np.mean([e for e, _ in by_level[k]])) for k in levels], x_label="exposure (bits; higher: memorised)", horizontal=True)

    def _extraction(self, ctx: Context, result: CheckResult, model: Any) -> None:
        p: MemorisationParams = self.params
        need = p.prefix_tokens + p.suffix_tokens + 1
        if need > model.max_length:
            raise ValueError(f"prefix_tokens + suffix_tokens ({need - 1}) exceed the model's context ({model.max_length} tokens)")
        sides, examples = {}, []
        for part, data in (("train", ctx.data.train), ("test", ctx.data.test)):
            sample = document_sample(ctx, data, p.max_documents * 3, f"generation.extraction.{part}")
            seqs = [s for s in encode_documents(model, [str(t) for t in sample.X]) if len(s) >= need][: p.max_documents]
            if not seqs:
                sides[part] = np.zeros(0)
                continue
            prompts = [s[: p.prefix_tokens + 1] for s in seqs]
            outs = generate_ids(model, prompts, p.suffix_tokens)
            hits = np.asarray([o == s[p.prefix_tokens + 1 : need] for o, s in zip(outs, seqs, strict=True)], dtype=float)
            sides[part] = hits
            examples += [{"part": part, "prefix": shorten(model.tokenizer.decode(s[1 : p.prefix_tokens + 1])), "true_suffix": shorten(model.tokenizer.decode(s[p.prefix_tokens + 1 : need])),
                          "generated": shorten(model.tokenizer.decode(o)), "extracted": bool(h)} for s, o, h in list(zip(seqs, outs, hits, strict=True))[:3]]
        train, test = sides["train"], sides["test"]
        why = f"no document has {need - 1} tokens"
        result.add("extraction_rate", float(train.mean()) if train.size else None, n=int(train.size), direction="lower", reason=None if train.size else why)
        result.add("extraction_rate_test", float(test.mean()) if test.size else None, n=int(test.size), reason=None if test.size else why)
        if train.size and test.size:
            ci = None
            if p.bootstrap:
                rng = ctx.rng(self.name, model.name, "extraction")
                reps = train[rng.integers(0, train.size, (p.bootstrap, train.size))].mean(axis=1) - test[rng.integers(0, test.size, (p.bootstrap, test.size))].mean(axis=1)
                ci = percentile_ci(reps, p.confidence)
            result.add("extraction_excess", float(train.mean() - test.mean()), ci=ci, n=int(train.size), direction="lower")
        result.table("extraction_examples", examples)

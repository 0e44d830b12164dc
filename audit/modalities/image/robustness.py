"""``image_robustness``: accuracy under L-inf adversarial perturbations of growing budget.

FGSM and PGD are the attacks every modality shares (``audit.attacks.gradient``), run on the
adapter's ``torch_module`` (class logits) in the ``PixelDomain``: every pixel may move, eps in
pixel units, pixels clipped to [0, 1]. They ascend the logit margin (best other logit minus the
true one, which does not saturate like the cross-entropy), and PGD counts an image as broken if
any of its iterates is misclassified, over ``pgd_restarts`` walks from uniform random points of
the ball (``random_start``). The pixel logistic-regression baseline exposes an exactly equivalent
torch linear layer, so it is attacked with exact gradients too. A model without a torch module
gets a model-agnostic, seeded random-sign search in the eps-ball instead (a weaker attack: its
robust accuracy is an upper bound) and a warning; its fgsm / pgd metrics are recorded as null
with the reason, so a gate on them does not silently judge the other models only.

The eps-balls nest, so an example counts as robust at budget eps only if the attack found no
adversarial example at any budget <= eps: the reported curves cannot rise with the budget.
Every adversarial set is scored through the prediction cache, so the numbers come from the
adapter's own ``predict_proba``, not from the torch module the attack used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import numpy as np
from pydantic import Field, field_validator

from audit.attacks.domain import Domain
from audit.checks.base import Check, CheckParams, CheckResult, seeded_sample
from audit.errors import CheckError
from audit.metrics.binary import bootstrap_indices, percentile_ci
from audit.modalities.image.png import BAD, GOOD, grid, heat_overlay, to_rgb, write_png

if TYPE_CHECKING:
    from audit.context import Context
    from audit.models.base import ModelAdapter


class ImageRobustnessParams(CheckParams):
    epsilons: list[float] = Field(default_factory=lambda: [0.02, 0.05, 0.1, 0.15, 0.2, 0.3], min_length=1, description="L-inf budgets in pixel units ([0, 1] images).")
    attacks: list[Literal["fgsm", "pgd"]] = Field(default_factory=lambda: ["fgsm", "pgd"], min_length=1)
    pgd_steps: int = Field(20, ge=1, le=1000, description="PGD iterations.")
    pgd_step_ratio: float = Field(2.5, gt=0, le=100, description="PGD step size = ratio * eps / steps (Madry et al. use 2.5).")
    random_start: bool = Field(True, description="Start PGD from a uniform point in the eps-ball (seeded).")
    pgd_restarts: int = Field(1, ge=1, le=100, description="PGD walks per budget; an image is broken if any walk breaks it "
                              "(with random_start and several walks, the first starts at the clean image).")
    n_samples: int = Field(300, ge=10, le=100_000, description="Test images attacked (seeded sample).")
    random_trials: int = Field(50, ge=1, le=10_000, description="Random-search tries per budget for models without a torch module.")
    bootstrap: int = Field(200, ge=0, le=20_000)
    confidence: float = Field(0.95, gt=0.5, lt=1.0)
    n_examples: int = Field(8, ge=1, le=32, description="Adversarial examples shown in the figure.")

    @field_validator("epsilons")
    @classmethod
    def _budgets(cls, value: list[float]) -> list[float]:
        if any(not 0.0 < e <= 1.0 for e in value):
            raise ValueError("every epsilon must be in (0, 1] (pixel units)")
        return sorted(set(value))


def area_under(xs: list[float], ys: list[float]) -> float:
    """Trapezoid area under ``ys`` over ``xs`` divided by the x range (the curve's mean height)."""
    x, y = np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.float64)
    return float(((y[1:] + y[:-1]) / 2 * np.diff(x)).sum() / (x[-1] - x[0]))


class PixelDomain(Domain):
    """Images with pixels in [0, 1]: every pixel may move, eps in pixel units, then clipped to [0, 1]."""

    def __init__(self) -> None:
        super().__init__(mask=None, lower=0.0, upper=1.0)


PIXELS = PixelDomain()


def gradient_attack(model: ModelAdapter, X: np.ndarray, y: np.ndarray, attack: str, eps: float, p: ImageRobustnessParams, seed: int) -> np.ndarray:
    """FGSM or PGD adversarial images against the model's logits (margin loss) in the pixel domain."""
    from audit.attacks import limit_threads
    from audit.attacks.gradient import fgsm, pgd

    X = np.asarray(X, dtype=np.float32)
    with limit_threads(1):
        if attack == "fgsm":
            return fgsm(model.torch_module, X, y, eps, PIXELS)
        return pgd(model.torch_module, X, y, eps, PIXELS, steps=p.pgd_steps, step_size=p.pgd_step_ratio * eps / p.pgd_steps,
                   restarts=p.pgd_restarts, random_start=p.random_start, seed=seed)


def random_search(model: ModelAdapter, X: np.ndarray, y: np.ndarray, eps: float, trials: int, rng: np.random.Generator) -> np.ndarray:
    """Model-agnostic attack: random corners of the eps-ball; keep the first that flips the label."""
    adv = X.copy()
    open_rows = np.arange(len(X))
    for _ in range(trials):
        if not len(open_rows):
            break
        cand = np.clip(X[open_rows] + eps * rng.choice(np.array([-1.0, 1.0], dtype=np.float32), size=X[open_rows].shape), 0.0, 1.0).astype(np.float32)
        flipped = model.predict_proba(cand).argmax(axis=1) != y[open_rows]
        adv[open_rows[flipped]] = cand[flipped]
        open_rows = open_rows[~flipped]
    return adv


class ImageRobustnessCheck(Check):
    name = "image_robustness"  # implementation id (also the key of its seeded RNG streams)
    pillar = "robustness"
    Params = ImageRobustnessParams
    modalities = ("image",)
    metrics = ("clean_accuracy", "robust_accuracy", "attack_success_rate", "robust_accuracy_auc")

    def _not_applicable(self, result: CheckResult, model: ModelAdapter) -> None:
        """Null fgsm / pgd metrics, with the reason, for a model without gradients."""
        p: ImageRobustnessParams = self.params
        reason = f"not applicable: {model.name} has no gradients (gradient attacks need a torch model)"
        for attack in p.attacks:
            for eps in p.epsilons:
                result.add("robust_accuracy", None, group=f"{attack}@{eps:g}", direction="higher", reason=reason)
                result.add("attack_success_rate", None, group=f"{attack}@{eps:g}", direction="lower", reason=reason)
            result.add("robust_accuracy_auc", None, group=attack, direction="higher", reason=reason)

    def run(self, ctx: Context, model: ModelAdapter) -> CheckResult:
        p: ImageRobustnessParams = self.params
        result = CheckResult(self.check_name, model.name)
        test = ctx.data.test
        sample = seeded_sample(ctx, test, p.n_samples, self.name)
        X, y = np.asarray(sample.X, dtype=np.float32), sample.y
        clean_ok = ctx.predict(model, sample).pred == y
        attacks = list(p.attacks)
        if model.torch_module is None:
            attacks = ["random"]
            result.warn(f"model '{model.name}' has no torch module: FGSM/PGD need gradients, so a seeded random-sign search "
                        f"({p.random_trials} tries per budget) ran instead; its robust accuracy is an upper bound, and the "
                        f"{'/'.join(p.attacks)} metrics are recorded as null (not applicable)")
            self._not_applicable(result, model)
        idx = bootstrap_indices(len(y), p.bootstrap, ctx.rng(self.name, "bootstrap")) if p.bootstrap else None
        result.add("clean_accuracy", float(clean_ok.mean()), ci=percentile_ci(clean_ok[idx].mean(axis=1), p.confidence) if idx is not None else None, n=len(y), direction="higher")
        series, table, adversarial = {}, [], {}
        for attack in attacks:
            robust, ys = clean_ok.copy(), [float(clean_ok.mean())]
            for eps in p.epsilons:
                seed = int(ctx.rng(self.name, model.name, attack, eps).integers(2**31))
                if attack == "random":
                    adv = random_search(model, X, y, eps, p.random_trials, np.random.default_rng(seed))
                else:
                    adv = gradient_attack(model, X, y, attack, eps, p, seed)
                linf = float(np.abs(adv - X).max(initial=0.0))
                problems = PIXELS.violations(adv, X, eps)
                if problems:
                    raise CheckError(f"{self.check_name}: internal error: {attack} at eps={eps:g} {'; '.join(problems)}")
                adv_set = sample.with_features(adv, f"{sample.name}~{model.name}~{attack}@{eps:g}")
                adv_pred = ctx.predict(model, adv_set).pred
                robust &= adv_pred == y
                adversarial[(attack, eps)] = (adv, adv_pred)
                group = f"{attack}@{eps:g}"
                acc = float(robust.mean())
                success = float((clean_ok & ~robust).sum() / max(clean_ok.sum(), 1))
                boot_acc = robust[idx].mean(axis=1) if idx is not None else None
                result.add("robust_accuracy", acc, ci=percentile_ci(boot_acc, p.confidence) if idx is not None else None, n=len(y), group=group, direction="higher")
                result.add("attack_success_rate", success, n=int(clean_ok.sum()), group=group, direction="lower")
                table.append({"attack": attack, "epsilon": eps, "robust_accuracy": acc, "attack_success_rate": success, "max_linf": linf})
                ys.append(acc)
            xs = [0.0, *p.epsilons]
            series[attack] = (xs, ys)
            result.add("robust_accuracy_auc", area_under(xs, ys), n=len(y), group=attack, direction="higher")
        result.table("curve", table)
        result.figure("line", title="Robust accuracy vs L-inf budget (pixels in [0, 1]; 0 = clean)", series=series,
                      x_label="epsilon (L-inf)", y_label="robust accuracy", value_range=(0.0, 1.0))
        self._examples(ctx, result, model, sample, clean_ok, attacks[-1], adversarial)
        return result

    def _examples(self, ctx: Context, result: CheckResult, model: ModelAdapter, sample, clean_ok: np.ndarray, attack: str, adversarial: dict) -> None:  # noqa: ANN001
        """Originals, adversarial images and perturbations at the smallest budget that flips half the samples."""
        p: ImageRobustnessParams = self.params
        labels = [str(c) for c in ctx.schema.classes]
        chosen = next((e for e in p.epsilons if (clean_ok & (adversarial[(attack, e)][1] != sample.y)).mean() >= 0.5 * clean_ok.mean()), p.epsilons[-1])
        adv, adv_pred = adversarial[(attack, chosen)]
        flipped = np.flatnonzero(clean_ok & (adv_pred != sample.y))[: p.n_examples]
        if not len(flipped):
            result.warn(f"{attack} flipped no sample up to eps {chosen:g}: no adversarial examples to show")
            return
        originals = [to_rgb(sample.X[i]) for i in flipped]
        attacked = [to_rgb(adv[i]) for i in flipped]
        deltas = [heat_overlay(sample.X[i], adv[i] - sample.X[i]) for i in flipped]
        borders = [[GOOD] * len(flipped), [BAD] * len(flipped), [None] * len(flipped)]
        path = write_png(ctx.artefact_dir(model.name, self.check_name) / f"adversarial_{attack}.png", grid([originals, attacked, deltas], borders))
        result.artefacts.append(ctx.relpath(path))
        changes = ", ".join(f"{labels[sample.y[i]]}\u2192{labels[adv_pred[i]]}" for i in flipped)
        result.figure("image", path=ctx.relpath(path), title=f"{attack.upper()} adversarial examples at eps {chosen:g}",
                      caption=f"Top row: originals (correctly classified); middle: adversarial images; bottom: perturbation "
                      f"(red brighter, blue darker). True \u2192 predicted label per column: {changes}.")

"""``image_explain``: Captum attributions for test images and a deletion test of their faithfulness.

Integrated Gradients (with its convergence delta), Saliency (|gradient|) and Occlusion explain
the logit of the true class on a seeded sample of test images, through the adapter's
``torch_module`` (the pixel logistic regression exposes an exact linear equivalent). Models
without a torch module get Occlusion only, through ``predict_proba``.

Faithfulness (the deletion test of Petsiuk et al., 2018): pixels are set to the baseline 0 in
order of decreasing attribution, and the mean true-class probability and the accuracy are
measured after each step; the same is done in random order. A faithful explanation makes the
curve fall faster than random: ``deletion_auc[ig]`` (area under the probability curve, lower is
better) should sit below ``deletion_auc[random]``; ``deletion_gain[ig]`` is their difference.
Every deletion step is a uniquely named dataset scored once through the prediction cache.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import Field

from audit.checks.base import Check, CheckParams, CheckResult, seeded_sample
from audit.modalities.image.png import BAD, GOOD, grid, heat_overlay, to_rgb, write_png
from audit.modalities.image.robustness import area_under

if TYPE_CHECKING:
    from audit.context import Context
    from audit.models.base import ModelAdapter

Method = Literal["ig", "saliency", "occlusion"]
TITLES = {"ig": "Integrated Gradients", "saliency": "Saliency", "occlusion": "Occlusion", "random": "random order"}


class ImageExplainParams(CheckParams):
    methods: list[Method] = Field(default_factory=lambda: ["ig", "saliency", "occlusion"], min_length=1)
    n_samples: int = Field(200, ge=4, le=100_000, description="Test images explained for the deletion test (seeded sample).")
    n_show: int = Field(8, ge=1, le=32, description="Images drawn in the heatmap grid.")
    ig_steps: int = Field(32, ge=2, le=1000, description="Integration steps of Integrated Gradients.")
    occlusion_window: int | None = Field(None, ge=1, description="Side of the occluding square in pixels (default: a quarter of the image side).")
    deletion_steps: int = Field(16, ge=2, le=256, description="Points of the deletion curve between 0 and all pixels.")


def attributions(model: ModelAdapter, X: np.ndarray, target: np.ndarray, method: str, p: ImageExplainParams) -> tuple[np.ndarray, np.ndarray | None]:
    """(n, C, H, W) attributions of ``method`` for the ``target`` class, and IG's convergence deltas."""
    import torch
    from captum.attr import IntegratedGradients, Occlusion, Saliency

    from audit.models.cnn import torch_threads

    module = model.torch_module
    if module is None:
        def forward(x: torch.Tensor) -> torch.Tensor:
            return torch.as_tensor(model.predict_proba(x.detach().numpy()), dtype=torch.float32)
    else:
        forward = module
    x, t = torch.as_tensor(X, dtype=torch.float32), torch.as_tensor(target, dtype=torch.long)
    with torch_threads(1), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Input Tensor .* did not already require gradients")
        if method == "ig":
            attr, delta = IntegratedGradients(forward).attribute(x, baselines=torch.zeros_like(x), target=t, n_steps=p.ig_steps, return_convergence_delta=True)
            return attr.detach().numpy(), delta.detach().numpy()
        if method == "saliency":
            return Saliency(forward).attribute(x, target=t, abs=True).detach().numpy(), None
        c, h, _ = X.shape[1:]
        side = p.occlusion_window or max(1, h // 4)
        stride = max(1, side // 2)
        attr = Occlusion(forward).attribute(x, sliding_window_shapes=(c, side, side), strides=(c, stride, stride), baselines=0.0, target=t, perturbations_per_eval=8)
        return attr.detach().numpy(), None


def deletion_order(attr: np.ndarray) -> np.ndarray:
    """Per image, pixel positions (flattened H*W, channels summed) from most to least attributed."""
    scores = attr.sum(axis=1).reshape(len(attr), -1)
    return np.argsort(-scores, axis=1, kind="stable")


def delete_pixels(X: np.ndarray, order: np.ndarray, k: int) -> np.ndarray:
    """Copies of ``X`` with each image's first ``k`` pixels of ``order`` set to the baseline 0."""
    n, c, h, w = X.shape
    mask = np.zeros((n, h * w), dtype=bool)
    np.put_along_axis(mask, order[:, :k], True, axis=1)
    return np.where(mask.reshape(n, 1, h, w), 0.0, X).astype(np.float32)


class ImageExplainCheck(Check):
    name = "image_explain"  # implementation id (also the key of its seeded RNG streams)
    pillar = "explain"
    Params = ImageExplainParams
    modalities = ("image",)
    metrics = ("ig_convergence_delta", "ig_convergence_delta_max", "deletion_auc", "deletion_accuracy_auc", "deletion_gain")

    def run(self, ctx: Context, model: ModelAdapter) -> CheckResult:
        p: ImageExplainParams = self.params
        result = CheckResult(self.check_name, model.name)
        test = ctx.data.test
        sample = seeded_sample(ctx, test, p.n_samples, self.name)
        X, y = np.asarray(sample.X, dtype=np.float32), sample.y
        methods = list(p.methods)
        if model.torch_module is None:
            methods = ["occlusion"]
            result.warn(f"model '{model.name}' has no torch module: Integrated Gradients and Saliency need gradients; only Occlusion ran")
        attrs: dict[str, np.ndarray] = {}
        for method in methods:
            attrs[method], delta = attributions(model, X, y, method, p)
            if delta is not None:
                result.add("ig_convergence_delta", float(np.abs(delta).mean()), n=len(y), direction="lower")
                result.add("ig_convergence_delta_max", float(np.abs(delta).max()), n=len(y), direction="lower")
        pixels = int(np.prod(X.shape[2:]))
        orders = {m: deletion_order(a) for m, a in attrs.items()}
        orders["random"] = np.argsort(ctx.rng(self.name, "random").random((len(X), pixels)), axis=1)
        fractions = np.linspace(0.0, 1.0, p.deletion_steps + 1)
        prob_series, acc_series, table = {}, {}, []
        for method, order in orders.items():
            probs, accs = [], []
            for j, f in enumerate(fractions):
                k = int(round(f * pixels))
                deleted = ctx.derive(sample, f"{model.name}~delete~{method}~{j}", X=delete_pixels(X, order, k))
                proba = ctx.predict(model, deleted).proba
                probs.append(float(proba[np.arange(len(y)), y].mean()))
                accs.append(float((proba.argmax(axis=1) == y).mean()))
            prob_series[TITLES[method]], acc_series[TITLES[method]] = (fractions.tolist(), probs), (fractions.tolist(), accs)
            auc, acc_auc = area_under(fractions.tolist(), probs), area_under(fractions.tolist(), accs)
            result.add("deletion_auc", auc, n=len(y), group=method, direction="lower")
            result.add("deletion_accuracy_auc", acc_auc, n=len(y), group=method, direction="lower")
            table.append({"method": method, "deletion_auc": auc, "deletion_accuracy_auc": acc_auc, **{f"prob@{f:.2f}": v for f, v in zip(fractions[::4], probs[::4], strict=True)}})
        random_auc = next(r["deletion_auc"] for r in table if r["method"] == "random")
        for row in table[:-1]:
            result.add("deletion_gain", random_auc - row["deletion_auc"], n=len(y), group=row["method"], direction="higher")
        result.table("deletion", table)
        result.figure("line", title="Deletion test: mean true-class probability as the most-attributed pixels are set to 0",
                      series=prob_series, x_label="share of pixels deleted", y_label="mean true-class probability", value_range=(0.0, 1.0))
        result.figure("line", title="Deletion test: accuracy as the most-attributed pixels are set to 0",
                      series=acc_series, x_label="share of pixels deleted", y_label="accuracy", value_range=(0.0, 1.0))
        self._heatmaps(ctx, result, model, sample, attrs)
        return result

    def _heatmaps(self, ctx: Context, result: CheckResult, model: ModelAdapter, sample: Any, attrs: dict[str, np.ndarray]) -> None:
        p: ImageExplainParams = self.params
        labels = [str(c) for c in ctx.schema.classes]
        show = np.arange(min(p.n_show, len(sample)))
        pred = ctx.predict(model, sample).pred
        cells = [[to_rgb(sample.X[i]) for i in show]] + [[heat_overlay(sample.X[i], a[i]) for i in show] for a in attrs.values()]
        borders = [[GOOD if pred[i] == sample.y[i] else BAD for i in show]] + [[None] * len(show) for _ in attrs]
        path = write_png(ctx.artefact_dir(model.name, self.check_name) / "attributions.png", grid(cells, borders))
        result.artefacts.append(ctx.relpath(path))
        names = ", ".join(TITLES[m] for m in attrs)
        result.figure("image", path=ctx.relpath(path), title=f"Attributions for the true class ({names})",
                      caption=f"Top row: test images (labels {', '.join(labels[sample.y[i]] for i in show)}; green border: predicted "
                      f"correctly). Rows below: {names}; red pixels raise the true class's logit, blue lower it.")

"""Captum attributions for a tabular model's torch module, on its positive-class logit.

Integrated Gradients integrates the gradient along the straight path from a baseline (the mean
of the encoded training rows, or zeros) to each row; its convergence delta
``sum(attr) - (f(x) - f(baseline))`` measures how well ``ig_steps`` approximate the integral.
GradientShap averages IG-like gradients over a seeded sample of training baselines (captum
draws its random baselines and path points from numpy's and torch's global RNGs: both are
seeded here and restored afterwards). Saliency and
InputXGradient are single-gradient methods (cheap, no completeness guarantee).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from audit.explain.shap_tab import numpy_global_seed, torch_global_seed

METHODS = ("integrated_gradients", "gradient_shap", "saliency", "input_x_gradient")
SHORT = {  # metric names: captum_<short>_importance
    "integrated_gradients": "ig",
    "gradient_shap": "gradient_shap",
    "saliency": "saliency",
    "input_x_gradient": "input_x_gradient",
}
LABEL = {  # figure legends
    "integrated_gradients": "Captum IG",
    "gradient_shap": "Captum GradientShap",
    "saliency": "Captum Saliency",
    "input_x_gradient": "Captum InputXGradient",
}


@dataclass
class CaptumAttribution:
    method: str
    values: np.ndarray  # (n_rows, n_columns)
    delta: np.ndarray | None  # convergence delta per row (IG, GradientShap)
    seconds: float


def positive_logit(module: Any) -> Any:
    """forward_func giving one score per row: the single logit, or the last of several outputs."""

    def forward(z: Any) -> Any:
        out = module(z)
        return out.reshape(len(z), -1)[:, -1]

    return forward


def captum_attributions(
    module: Any,
    Ztr: np.ndarray,
    Z: np.ndarray,
    *,
    methods: list[str],
    ig_steps: int,
    baseline: str,
    background_size: int,
    rng: np.random.Generator,
) -> list[CaptumAttribution]:
    """Attributions of every requested method on rows ``Z`` (encoded), in the module's dtype."""
    import torch
    from captum.attr import GradientShap, InputXGradient, IntegratedGradients, Saliency

    module = module.eval()
    dtype = next(module.parameters()).dtype
    x = torch.as_tensor(np.asarray(Z), dtype=dtype)
    train = torch.as_tensor(np.asarray(Ztr), dtype=dtype)
    forward = positive_logit(module)
    seed = int(rng.integers(2**31 - 1))
    out: list[CaptumAttribution] = []
    for method in methods:
        start = time.perf_counter()
        delta = None
        if method == "integrated_gradients":
            base = (
                train.mean(dim=0, keepdim=True) if baseline == "train_mean" else torch.zeros(1, x.shape[1], dtype=dtype)
            )
            batch = max(len(x), 200_000 // max(1, x.shape[1]))
            attr, delta = IntegratedGradients(forward).attribute(
                x, baselines=base, n_steps=ig_steps, internal_batch_size=batch, return_convergence_delta=True
            )
        elif method == "gradient_shap":
            rows = np.sort(rng.choice(len(train), size=min(background_size, len(train)), replace=False))
            with numpy_global_seed(seed), torch_global_seed(seed):  # captum draws from both global RNGs
                attr, delta = GradientShap(forward).attribute(
                    x, baselines=train[rows], n_samples=20, stdevs=0.0, return_convergence_delta=True
                )
            delta = delta.reshape(len(x), -1).mean(dim=1)  # one delta per (row, sample): average per row
        elif method == "saliency":
            attr = Saliency(forward).attribute(x.clone().requires_grad_(), abs=True)
        else:
            attr = InputXGradient(forward).attribute(x.clone().requires_grad_())
        out.append(
            CaptumAttribution(
                method=method,
                values=attr.detach().double().numpy(),
                delta=None if delta is None else delta.detach().double().numpy().reshape(-1),
                seconds=time.perf_counter() - start,
            )
        )
    return out

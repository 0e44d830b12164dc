"""FGSM and PGD (L-infinity) on a differentiable model, built on ``captum.robust``.

captum's ``FGSM`` / ``PGD`` take a feature ``mask``, which is what tabular attacks need: only the
mutable numeric columns move, one-hot and immutable columns stay bit-for-bit equal.

The loss the attacks ascend is the *margin* ``max_{c != y} logit_c - logit_y`` rather than the
cross-entropy: for a confidently classified row the cross-entropy gradient underflows (a float32
sigmoid saturates at 1.0) and captum treats gradients below 1e-6 as zero, so such rows would
never move. The margin's gradient does not vanish. A module with one output (a binary logit
``l``) is lifted to the two-class logits ``[0, l]``, which give the same probabilities.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np


def two_class_forward(module: Any) -> Any:
    """A forward function giving (n, n_classes) logits, lifting a single binary logit to [0, l]."""
    import torch

    def forward(z: Any) -> Any:
        out = module(z)
        if out.ndim == 1 or out.shape[-1] == 1:
            logit = out.reshape(-1)
            return torch.stack([torch.zeros_like(logit), logit], dim=1)
        return out

    return forward


def margin_loss(outputs: Any, target: Any) -> Any:
    """Per-row ``best other logit - true logit``: positive exactly when the row is misclassified."""
    import torch

    true = outputs.gather(1, target.reshape(-1, 1)).reshape(-1)
    others = outputs.masked_fill(torch.nn.functional.one_hot(target, outputs.shape[1]).bool(), float("-inf"))
    return others.max(dim=1).values - true


def _tensors(Z: np.ndarray, y: np.ndarray, mask: np.ndarray) -> tuple[Any, Any, Any]:
    import torch

    z = torch.as_tensor(np.asarray(Z, dtype=np.float32))
    target = torch.as_tensor(np.asarray(y, dtype=np.int64))
    m = torch.as_tensor(np.broadcast_to(np.asarray(mask, dtype=np.float32), z.shape).copy())
    return z, target, m


def fgsm(module: Any, Z: np.ndarray, y: np.ndarray, eps: float, mask: np.ndarray) -> np.ndarray:
    """One signed-gradient step of size ``eps`` on the masked columns (untargeted)."""
    from captum.robust import FGSM

    if eps == 0:
        return np.asarray(Z, dtype=np.float32).copy()
    z, target, m = _tensors(Z, y, mask)
    attack = FGSM(two_class_forward(module), loss_func=margin_loss)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*did not already require gradients.*")
        return attack.perturb(z, epsilon=float(eps), target=target, mask=m).detach().numpy()


def pgd(module: Any, Z: np.ndarray, y: np.ndarray, eps: float, mask: np.ndarray, *, steps: int = 20,
        step_size: float | None = None, restarts: int = 1, random_start: bool = True, seed: int = 0) -> np.ndarray:
    """Projected gradient ascent inside the L-inf ball of radius ``eps`` on the masked columns.

    This is ``captum.robust.PGD`` (captum's FGSM step, projection onto the ball, uniform random
    start on the masked columns) with two additions: each row keeps the first iterate that is
    misclassified, so a row broken midway is not lost when the walk moves on (captum returns the
    last iterate), and ``restarts`` walks are run, a row counting as broken when any walk breaks
    it. With ``random_start`` the first walk starts at the clean row when ``restarts > 1`` and
    every other walk at a uniform random point; without it every walk starts at the clean row.
    The step defaults to ``2.5 * eps / steps`` (Madry et al., 2018). Random starts use their own
    seeded generator, never torch's global one.
    """
    import torch

    if eps == 0:
        return np.asarray(Z, dtype=np.float32).copy()
    z, target, m = _tensors(Z, y, mask)
    step = float(step_size) if step_size is not None else 2.5 * float(eps) / steps
    generator = torch.Generator().manual_seed(int(seed))
    best, found = z.clone(), torch.zeros(len(z), dtype=torch.bool)
    for restart in range(restarts):
        start = z
        if random_start and (restart > 0 or restarts == 1):
            start = z + (torch.rand(z.shape, generator=generator) * 2 - 1) * float(eps) * m
        adv, broken = _walk(module, z, target, m, start, float(eps), step, steps)
        new = broken & ~found
        best[new] = adv[new]
        found |= new
        if restart == restarts - 1:
            best[~found] = adv[~found]
    return best.numpy()


def _walk(module: Any, z: Any, target: Any, m: Any, start: Any, eps: float, step: float, steps: int) -> tuple[Any, Any]:
    """One PGD walk from ``start``: (per row the first misclassified iterate, else the last; broken)."""
    import torch
    from captum.robust import FGSM

    forward = two_class_forward(module)
    fgsm_step = FGSM(forward, loss_func=margin_loss)
    x, best = start, z.clone()
    found = torch.zeros(len(z), dtype=torch.bool)
    for _ in range(steps):
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*did not already require gradients.*")
            x = fgsm_step.perturb(x, epsilon=step, target=target, mask=m)
        x = (z + torch.clamp(x - z, -eps, eps)).detach()
        with torch.no_grad():
            broken = (forward(x).argmax(dim=1) != target) & ~found
        best[broken] = x[broken]
        found |= broken
    return torch.where(found[:, None], best, x), found

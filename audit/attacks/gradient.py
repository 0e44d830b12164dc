"""FGSM and PGD (L-infinity) on a differentiable model: the one gradient attack of every modality.

Both attacks ascend a per-example loss of the model's class logits with signed-gradient steps
inside a ``Domain`` (``audit.attacks.domain``): the modality's part, which says which entries may
move, which box they live in and which points are valid (e.g. whole numbers for integer tabular
features). Images use ``Domain(lower=0, upper=1)``, eps in pixel units; tabular models a
``TabularDomain`` on their encoded rows, eps in standard deviations.

* **Loss.** ``margin`` (Carlini & Wagner's): ``max_{c != y} logit_c - logit_y``, positive
  exactly when the example is misclassified. Unlike the cross-entropy (``ce``), its gradient does
  not vanish for a confidently classified example (a float32 softmax saturates, so the
  cross-entropy gradient underflows to 0 and such examples never move); on the other hand, with
  more than two classes the cross-entropy sometimes finds an example the margin misses. PGD
  therefore runs both by default (``loss=("margin", "ce")``, the pairing AutoAttack uses) and an
  example counts as broken if either walk breaks it; with two classes both losses are monotone in
  the one logit difference, their walks coincide, and one walk is run. FGSM takes its one step on
  the margin (``loss="ce"`` gives the textbook step, which stalls on saturated examples and, with
  more than two classes, heads for no particular class).
* **Outputs.** ``outputs="logits"`` (default): the module gives class logits, or one binary logit
  ``l`` which is lifted to the two-class logits ``[0, l]`` (same probabilities).
  ``outputs="probabilities"``: the module gives class probabilities (or one positive-class
  probability ``p``); they are turned into logits first (``log p``, or ``[0, log p - log(1-p)]``),
  which the margin needs to be meaningful.
* **FGSM**: one step of size ``eps`` from the clean example, then the domain's projection and
  finalisation.
* **PGD**: ``steps`` steps of ``step_size`` (default ``2.5 * eps / steps``, Madry et al. 2018),
  each followed by the projection onto the domain. Every iterate is finalised and checked, and an
  example keeps its *first misclassified iterate*: it counts as broken if any iterate breaks it,
  not only the last. ``restarts`` walks are run; with ``random_start`` the first walk starts at
  the clean example when ``restarts > 1`` and every other walk at a uniform random point of the
  ball (a single walk starts at a random point); without it every walk starts at the clean
  example. Random starts use their own seeded generator, never torch's global one.

Each step is one batched forward and backward pass over all examples (plus one forward pass on
the finalised points when the domain rounds); a walk stops early once every example is broken.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import numpy as np

from audit.attacks.domain import Domain, as_domain

Loss = Literal["margin", "ce"]
Outputs = Literal["logits", "probabilities"]


def class_logits(out: Any, outputs: Outputs = "logits") -> Any:
    """(n, n_classes) logits from a module's output: one binary logit ``l`` becomes ``[0, l]``."""
    import torch

    if outputs not in ("logits", "probabilities"):
        raise ValueError(f"outputs must be 'logits' or 'probabilities', not {outputs!r}")
    binary = out.ndim == 1 or out.shape[-1] == 1
    if outputs == "probabilities":
        tiny = torch.finfo(out.dtype).tiny
        if binary:
            p = out.reshape(-1).clamp(tiny, 1 - torch.finfo(out.dtype).eps)
            out = torch.log(p) - torch.log1p(-p)
        else:
            return torch.log(out.clamp_min(tiny))
    if binary:
        logit = out.reshape(-1)
        return torch.stack([torch.zeros_like(logit), logit], dim=1)
    return out


def two_class_forward(module: Any, outputs: Outputs = "logits") -> Callable[[Any], Any]:
    """A forward function giving (n, n_classes) logits (see ``class_logits``)."""

    def forward(z: Any) -> Any:
        return class_logits(module(z), outputs)

    return forward


def margin_loss(logits: Any, target: Any) -> Any:
    """Per example ``best other logit - true logit``: positive exactly when it is misclassified."""
    import torch

    true = logits.gather(1, target.reshape(-1, 1)).reshape(-1)
    others = logits.masked_fill(torch.nn.functional.one_hot(target, logits.shape[1]).bool(), float("-inf"))
    return others.max(dim=1).values - true


def ce_loss(logits: Any, target: Any) -> Any:
    """Per example cross-entropy of the softmax of ``logits``."""
    import torch

    return torch.nn.functional.cross_entropy(logits, target, reduction="none")


LOSSES: dict[str, Callable[[Any, Any], Any]] = {"margin": margin_loss, "ce": ce_loss}


def fgsm(module: Any, X: np.ndarray, y: np.ndarray, eps: float, domain: Domain | np.ndarray | None = None, *,
         loss: Loss = "margin", outputs: Outputs = "logits") -> np.ndarray:
    """One signed-gradient step of size ``eps`` from each example, projected onto ``domain``.

    ``domain``: a ``Domain``, a 0/1 mask of the entries that may move, or None (no constraint).
    """
    return pgd(module, X, y, eps, domain, steps=1, step_size=eps, restarts=1, random_start=False, loss=loss, outputs=outputs)


def pgd(module: Any, X: np.ndarray, y: np.ndarray, eps: float, domain: Domain | np.ndarray | None = None, *,
        steps: int = 20, step_size: float | None = None, restarts: int = 1, random_start: bool = True, seed: int = 0,
        loss: Loss | tuple[Loss, ...] = ("margin", "ce"), outputs: Outputs = "logits") -> np.ndarray:
    """Projected gradient ascent of each ``loss`` inside ``domain``'s eps-ball (see the module docstring).

    Returns float32 adversarial examples of ``X``'s shape: per example its first misclassified
    iterate over all walks (every restart of every loss), else the last walk's last iterate.
    """
    import torch

    losses = (loss,) if isinstance(loss, str) else tuple(loss)
    unknown = [name for name in losses if name not in LOSSES]
    if unknown or not losses:
        raise ValueError(f"loss must be one or more of {', '.join(LOSSES)}, not {loss!r}")
    if steps < 1 or restarts < 1:
        raise ValueError("steps and restarts must be at least 1")
    X = np.asarray(X, dtype=np.float32)
    if eps == 0 or len(X) == 0:
        return X.copy()
    domain = as_domain(domain)
    x0 = torch.as_tensor(X)
    target = torch.as_tensor(np.asarray(y, dtype=np.int64))
    step = float(step_size) if step_size is not None else 2.5 * float(eps) / steps
    forward = two_class_forward(module, outputs)
    if len(losses) > 1:
        with torch.no_grad():
            two_classes = forward(x0[:1]).shape[1] == 2
        if two_classes:  # both losses order examples by the one logit difference: same walk
            losses = ("margin",) if "margin" in losses else losses[:1]
    generator = torch.Generator().manual_seed(int(seed))
    best, found = x0.clone(), torch.zeros(len(x0), dtype=torch.bool)
    walks = [(restart, name) for restart in range(restarts) for name in losses]
    for i, (restart, name) in enumerate(walks):
        from_random = random_start and (restart > 0 or restarts == 1)
        start = domain.random_start(x0, float(eps), generator) if from_random else x0
        adv, broken = _walk(forward, LOSSES[name], domain, x0, target, start, float(eps), step, steps, check_start=from_random)
        new = broken & ~found
        best[new] = adv[new]
        found |= new
        if i == len(walks) - 1 or bool(found.all()):
            best[~found] = adv[~found]
            break
    return best.numpy()


def _walk(forward: Callable[[Any], Any], loss_fn: Callable[[Any, Any], Any], domain: Domain, x0: Any, target: Any,
          start: Any, eps: float, step: float, steps: int, *, check_start: bool) -> tuple[Any, Any]:
    """One walk from ``start``: (per example its first misclassified finalised iterate, else the last; broken)."""
    import torch

    movable = domain.movable(x0)
    best, found = x0.clone(), torch.zeros(len(x0), dtype=torch.bool)
    x = start
    for t in range(steps + 1):
        last = t == steps
        with torch.set_grad_enabled(not last):
            xg = x.detach().requires_grad_(not last)
            logits = forward(xg)
        if t > 0 or check_start:  # the clean start needs no check: its prediction is known
            if domain.discrete:
                candidate = domain.finalize(x, x0, eps)
                with torch.no_grad():
                    pred = forward(candidate).argmax(dim=1)
            else:
                candidate, pred = x, logits.detach().argmax(dim=1)
            new = (pred != target) & ~found
            best[new] = candidate[new]
            found |= new
        if last or bool(found.all()):
            break
        (grad,) = torch.autograd.grad(loss_fn(logits, target).sum(), xg)
        x = domain.project(x + step * torch.sign(grad) * movable, x0, eps).detach()
    final = domain.finalize(x, x0, eps)
    keep = found.reshape(-1, *([1] * (x0.ndim - 1)))
    return torch.where(keep, best, final), found

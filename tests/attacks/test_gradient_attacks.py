"""The shared FGSM / PGD against models whose exact robustness is known.

* a binary linear model ``w.x + b``: the smallest L-inf budget that flips ``x`` is
  ``|w.x + b| / ||w_movable||_1`` when the box does not bind, so both attacks must break exactly
  the examples closer than eps, in an image-like domain and in a masked tabular one;
* an example broken by an early iterate and repaired by the last must count as broken;
* on a trained binary MLP the margin loss is at least as strong as the cross-entropy, and
  strictly stronger once the sigmoid saturates (multiclass: no order in general, but the
  cross-entropy stalls on a saturated softmax and the margin does not).
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

from audit.attacks.domain import Domain, TabularDomain
from audit.attacks.gradient import class_logits, fgsm, margin_loss, pgd

torch = pytest.importorskip("torch")


class Flat(torch.nn.Module):
    """(n, ...) -> the given head on the flattened input."""

    def __init__(self, head: torch.nn.Module) -> None:
        super().__init__()
        self.head = head

    def forward(self, x):  # noqa: ANN001, ANN201
        return self.head(x.reshape(len(x), -1))


def linear_head(w: np.ndarray, b: float, head: str) -> torch.nn.Module:
    """A model whose positive-class logit is ``w.x + b``, as one logit, two logits or two probabilities."""
    d = len(w)
    if head == "one_logit":
        layer = torch.nn.Linear(d, 1)
        with torch.no_grad():
            layer.weight[:] = torch.as_tensor(w, dtype=torch.float32)[None]
            layer.bias[:] = b
        return Flat(layer)
    layer = torch.nn.Linear(d, 2)
    with torch.no_grad():  # logit_1 - logit_0 = w.x + b
        layer.weight[:] = torch.as_tensor(np.stack([-w / 2, w / 2]), dtype=torch.float32)
        layer.bias[:] = torch.as_tensor([-b / 2, b / 2])
    if head == "two_logits":
        return Flat(layer)
    return Flat(torch.nn.Sequential(layer, torch.nn.Softmax(dim=1)))


def predict(module: torch.nn.Module, X: np.ndarray, outputs: str = "logits") -> np.ndarray:
    with torch.no_grad():
        return class_logits(module(torch.as_tensor(X)), outputs).argmax(dim=1).numpy()


def image_case(n: int = 300, seed: int = 0):
    """Images (n, 1, 4, 4) with pixels in [0.3, 0.7]: budgets up to 0.3 never meet the [0, 1] box."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(0.3, 0.7, size=(n, 1, 4, 4)).astype(np.float32)
    w = rng.normal(size=16)
    b = -float(np.median(X.reshape(n, -1) @ w))
    return X, w, b, Domain(lower=0.0, upper=1.0), np.ones(16, dtype=bool), (0.005, 0.01, 0.02, 0.04)


def tabular_case(n: int = 300, seed: int = 1):
    """Encoded rows: 3 movable columns, an immutable one and a one-hot pair (frozen)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6)).astype(np.float32)
    X[:, 4] = rng.integers(0, 2, n)
    X[:, 5] = 1 - X[:, 4]
    w = np.array([1.5, -0.5, 1.0, 3.0, 0.7, -0.7])
    mask = np.array([1, 1, 1, 0, 0, 0], dtype=bool)
    return X, w, 0.2, TabularDomain(mask), mask, (0.05, 0.2, 0.5, 1.0)


@pytest.mark.parametrize("head", ["one_logit", "two_logits", "probabilities"])
@pytest.mark.parametrize("case", [image_case, tabular_case], ids=["image", "tabular"])
@pytest.mark.parametrize("attack", ["fgsm", "pgd"])
def test_a_linear_model_loses_exactly_the_examples_closer_than_eps(attack, case, head):
    X, w, b, domain, mask, budgets = case()
    outputs = "probabilities" if head == "probabilities" else "logits"
    module = linear_head(w.astype(np.float32), b, head)
    logit = X.reshape(len(X), -1).astype(np.float64) @ w + b
    y = (logit > 0).astype(int)
    y[::7] = 1 - y[::7]  # some examples are misclassified to begin with: never "broken"
    correct = predict(module, X, outputs) == y
    distance = np.abs(logit) / np.abs(w * mask).sum()  # the closed-form minimal L-inf budget
    for eps in budgets:
        if attack == "fgsm":
            adv = fgsm(module, X, y, eps, domain, outputs=outputs)
        else:
            adv = pgd(module, X, y, eps, domain, steps=20, seed=3, outputs=outputs)
        assert domain.violations(adv, X, eps) == []
        broken = correct & (predict(module, adv, outputs) != y)
        clear = np.abs(distance - eps) > 1e-4  # leave out examples on the boundary itself
        np.testing.assert_array_equal(broken[clear], (correct & (distance < eps))[clear], err_msg=f"{attack}@{eps}")
    assert 0.2 * correct.sum() < (correct & (distance < budgets[-1])).sum() < correct.sum()  # the test has teeth


def test_fgsm_takes_one_signed_step_of_eps_on_the_movable_entries():
    X, w, b, domain, mask, _ = tabular_case(50)
    y = np.arange(50) % 2
    adv = fgsm(linear_head(w.astype(np.float32), b, "one_logit"), X, y, 0.1, domain)
    # margin loss: y = 1 ascends -(w.x + b), gradient -w; y = 0 ascends w.x + b, gradient w
    expected = 0.1 * np.where(y[:, None] == 1, -np.sign(w), np.sign(w)) * mask
    np.testing.assert_allclose(adv - X, expected, atol=1e-6)
    assert np.array_equal(adv[:, ~mask], X[:, ~mask])  # bit for bit
    assert np.array_equal(fgsm(linear_head(w, b, "one_logit"), X, y, 0.0, domain), X)


class Band(torch.nn.Module):
    """One logit on a 1-d input: positive (class 1) only for x in [0.15, 0.45], and a gradient of +1
    everywhere (straight-through), so a walk from 0 crosses the band and leaves it again."""

    def forward(self, x):  # noqa: ANN001, ANN201
        x = x.reshape(len(x))
        inside = ((x >= 0.15) & (x <= 0.45)).float() * 2 - 1
        return (inside + (x - x.detach())).reshape(-1, 1)


def test_an_example_broken_by_an_earlier_iterate_counts_as_broken():
    # two examples at 0 and one at -5, which never reaches the band, so the walk runs to its end
    X, y = np.array([[0.0], [0.0], [-5.0]], dtype=np.float32), np.zeros(3, dtype=int)
    module = Band()
    # ten steps of 0.1 from 0: iterates 0.1, 0.2 (class 1: broken), ..., 1.0 (class 0 again)
    adv = pgd(module, X, y, 1.0, None, steps=10, step_size=0.1, random_start=False)
    np.testing.assert_array_equal(predict(module, adv), [1, 1, 0])
    np.testing.assert_allclose(adv[:, 0], [0.2, 0.2, -4.0], atol=1e-6)  # the first misclassified iterate; the last
    # the last iterate alone would say "robust"
    assert (predict(module, X + 1.0) == 0).all()
    # FGSM's single step jumps over the band: not broken
    assert (predict(module, fgsm(module, X, y, 1.0, None)) == 0).all()


def test_an_example_counts_as_broken_when_any_restart_breaks_it():
    X, y = np.zeros((40, 1), dtype=np.float32), np.zeros(40, dtype=int)
    module = Band()
    # one step of 0.1 from a random start in [-0.5, 0.5]: only starts in [0.05, 0.35] land in the band
    single = [predict(module, pgd(module, X, y, 0.5, None, steps=1, step_size=0.1, seed=s)) == 1 for s in range(4)]
    several = predict(module, pgd(module, X, y, 0.5, None, steps=1, step_size=0.1, restarts=4, seed=0)) == 1
    assert 0 < single[0].sum() < 40
    assert several.sum() > single[0].sum()


def test_margin_loss_sign_and_binary_lift():
    logits = torch.tensor([[2.0, 1.0, -1.0], [0.0, 3.0, 1.0]])
    np.testing.assert_allclose(margin_loss(logits, torch.tensor([0, 0])).numpy(), [-1.0, 3.0])
    lifted = class_logits(torch.tensor([[-2.0], [0.5]]))
    np.testing.assert_allclose(lifted.numpy(), [[0.0, -2.0], [0.0, 0.5]])
    p = torch.sigmoid(torch.tensor([-2.0, 0.5]))
    np.testing.assert_allclose(class_logits(p, "probabilities").numpy(), [[0.0, -2.0], [0.0, 0.5]], atol=1e-5)


@functools.lru_cache(maxsize=4)
def trained_mlp(classes: int = 3, seed: int = 0):
    """A 2-16-k MLP trained on overlapping blobs (one logit when k = 2, like the credit MLP)."""
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0], [2.0, 0.5], [0.8, 2.0]])[:classes]
    y = rng.integers(0, classes, 300)
    X = (centres[y] + rng.normal(scale=0.6, size=(300, 2))).astype(np.float32)
    torch.manual_seed(seed)
    module = torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.ReLU(), torch.nn.Linear(16, 1 if classes == 2 else classes))
    opt = torch.optim.Adam(module.parameters(), lr=0.05)
    xt, yt = torch.as_tensor(X), torch.as_tensor(y)
    for _ in range(150):
        opt.zero_grad()
        logits = class_logits(module(xt))
        torch.nn.functional.cross_entropy(logits, yt).backward()
        opt.step()
    return module.eval(), X, y


class Scaled(torch.nn.Module):
    """The same classifier with its logits multiplied: identical predictions, saturated softmax."""

    def __init__(self, module: torch.nn.Module, factor: float) -> None:
        super().__init__()
        self.module, self.factor = module, factor

    def forward(self, x):  # noqa: ANN001, ANN201
        return self.module(x) * self.factor


def robust_accuracy(net: torch.nn.Module, X: np.ndarray, y: np.ndarray, eps: float, loss: str) -> float:
    correct = predict(net, X) == y
    return float((correct & (predict(net, pgd(net, X, y, eps, None, steps=10, seed=0, loss=loss)) == y)).mean())


def test_margin_loss_is_at_least_as_strong_as_cross_entropy_on_a_trained_binary_mlp():
    """Binary: both losses step along the sign of -+grad(logit), so the walks agree wherever the
    cross-entropy gradient is representable, and the margin wins where it underflows."""
    module, X, y = trained_mlp(classes=2)
    assert (predict(module, X) == y).mean() > 0.8
    saturated = Scaled(module, 200.0)  # same predictions; the float32 sigmoid saturates
    for eps in (0.1, 0.3, 0.6):
        margin, ce = robust_accuracy(module, X, y, eps, "margin"), robust_accuracy(module, X, y, eps, "ce")
        assert margin == ce, (eps, margin, ce)
        margin_s, ce_s = robust_accuracy(saturated, X, y, eps, "margin"), robust_accuracy(saturated, X, y, eps, "ce")
        assert margin_s == margin  # the margin's steps only see the sign of the gradient: scale-free
        assert margin_s < ce_s, (eps, margin_s, ce_s)
    assert robust_accuracy(saturated, X, y, 0.6, "margin") < robust_accuracy(saturated, X, y, 0.6, "ce") - 0.1


def test_cross_entropy_stalls_on_a_saturated_multiclass_mlp_but_the_margin_does_not():
    module, X, y = trained_mlp(classes=3)
    saturated = Scaled(module, 200.0)
    for eps in (0.3, 0.6):
        assert robust_accuracy(saturated, X, y, eps, "margin") < robust_accuracy(saturated, X, y, eps, "ce") - 0.1


def test_pgd_is_seeded_and_leaves_the_global_torch_rng_alone():
    module, X, y = trained_mlp()
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = pgd(module, X, y, 0.3, None, steps=3, seed=7)
    assert torch.rand(1) == before
    assert np.array_equal(a, pgd(module, X, y, 0.3, None, steps=3, seed=7))
    assert not np.array_equal(a, pgd(module, X, y, 0.3, None, steps=3, seed=8))


def test_bad_arguments_are_refused():
    X, w, b, _, _, _ = tabular_case(10)
    module, y = linear_head(w.astype(np.float32), b, "one_logit"), np.zeros(10, dtype=int)
    with pytest.raises(ValueError, match="loss must be one or more of margin, ce"):
        pgd(module, X, y, 0.1, None, loss="hinge")
    with pytest.raises(ValueError, match="outputs must be 'logits' or 'probabilities'"):
        fgsm(module, X, y, 0.1, None, outputs="scores")


def test_pgd_breaks_the_union_of_what_its_two_losses_break_on_a_multiclass_model():
    """Default PGD walks the margin and the cross-entropy (AutoAttack's pairing): from the clean
    example each walk is deterministic, so the broken set is exactly the union of the two."""
    import torch

    from audit.attacks.gradient import pgd

    torch.manual_seed(3)
    module = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.Tanh(), torch.nn.Linear(16, 4))
    X = np.random.default_rng(3).normal(size=(300, 6)).astype(np.float32)
    with torch.no_grad():
        y = module(torch.as_tensor(X)).argmax(dim=1).numpy()

    def broken(adv):
        with torch.no_grad():
            return module(torch.as_tensor(adv)).argmax(dim=1).numpy() != y

    keys = {"steps": 10, "random_start": False}
    both = broken(pgd(module, X, y, 0.3, **keys))
    margin = broken(pgd(module, X, y, 0.3, loss="margin", **keys))
    ce = broken(pgd(module, X, y, 0.3, loss="ce", **keys))
    assert np.array_equal(both, margin | ce)
    assert 0 < both.sum() < len(X)

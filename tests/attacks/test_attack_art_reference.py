"""Cross-check against the Adversarial Robustness Toolbox (ART), a reference implementation.

FGSM is deterministic: with the cross-entropy loss ours must give ART's FastGradientMethod
adversarial examples (norm=inf), with and without a [0, 1] clip. Our PGD (margin loss, best
iterate) must leave no more examples robust than ART's ProjectedGradientDescent (cross-entropy,
last iterate) with the same budget, steps and step size.
"""

from __future__ import annotations

import numpy as np
import pytest

from audit.attacks.domain import Domain
from audit.attacks.gradient import fgsm, pgd

torch = pytest.importorskip("torch")
art = pytest.importorskip("art")


def models():
    torch.manual_seed(0)
    linear = torch.nn.Linear(8, 2)
    mlp = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))
    return {"linear": (linear.eval(), 2), "mlp": (mlp.eval(), 3)}


def classifier(module, classes: int, clip: tuple[float, float] | None):  # noqa: ANN001, ANN201
    from art.estimators.classification import PyTorchClassifier

    return PyTorchClassifier(module, loss=torch.nn.CrossEntropyLoss(), input_shape=(8,), nb_classes=classes,
                             clip_values=clip, device_type="cpu")


def data(classes: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.uniform(0.0, 1.0, size=(200, 8)).astype(np.float32), rng.integers(0, classes, 200)


@pytest.mark.parametrize("name", ["linear", "mlp"])
@pytest.mark.parametrize("clip", [None, (0.0, 1.0)], ids=["no-clip", "clip"])
def test_fgsm_with_cross_entropy_matches_art(name, clip):
    from art.attacks.evasion import FastGradientMethod

    module, classes = models()[name]
    X, y = data(classes)
    domain = Domain(lower=clip[0], upper=clip[1]) if clip else None
    for eps in (0.05, 0.2):
        reference = FastGradientMethod(classifier(module, classes, clip), norm=np.inf, eps=eps, targeted=False).generate(X, y=y)
        ours = fgsm(module, X, y, eps, domain, loss="ce")
        np.testing.assert_allclose(ours, reference, atol=1e-6)
        assert np.abs(ours - X).max() > 0.9 * eps  # something moved


@pytest.mark.parametrize("name", ["linear", "mlp"])
def test_pgd_with_margin_and_best_iterate_is_at_least_as_strong_as_art(name):
    from art.attacks.evasion import ProjectedGradientDescent

    module, classes = models()[name]
    X, y = data(classes, seed=1)
    with torch.no_grad():
        y = module(torch.as_tensor(X)).argmax(dim=1).numpy()  # attack correctly classified points
    steps = 10
    for eps in (0.05, 0.1, 0.2):
        step = 2.5 * eps / steps
        attack = ProjectedGradientDescent(classifier(module, classes, (0.0, 1.0)), norm=np.inf, eps=eps, eps_step=step,
                                          max_iter=steps, targeted=False, num_random_init=0, verbose=False)
        reference = attack.generate(X, y=y)
        ours = pgd(module, X, y, eps, Domain(lower=0.0, upper=1.0), steps=steps, step_size=step, random_start=False)
        with torch.no_grad():
            robust_ours = (module(torch.as_tensor(ours)).argmax(dim=1).numpy() == y).mean()
            robust_art = (module(torch.as_tensor(reference)).argmax(dim=1).numpy() == y).mean()
        assert robust_ours <= robust_art, (eps, robust_ours, robust_art)

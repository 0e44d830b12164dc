"""Known answer for the privacy pillar's two halves together: an MLP that memorises its training
rows leaks membership, and the same MLP trained with DP-SGD at epsilon = 1 does not."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("opacus", reason="the privacy extra (opacus) is not installed: pip install -e '.[privacy]'")


@pytest.mark.slow
def test_an_overfit_mlp_leaks_membership_and_dp_at_epsilon_one_does_not(suite_writer):
    from audit.engine import run_suite

    rng = np.random.default_rng(0)
    n = 600
    X = rng.normal(size=(n, 8))
    y = ((X[:, 0] + rng.normal(scale=1.5, size=n)) > 0).astype(int)  # noisy labels: memorising them is the only way to fit
    frame = pd.DataFrame(X, columns=[f"x{j}" for j in range(8)]).assign(y=y)
    big = {"hidden": [128, 128], "epochs": 300, "batch_size": 32, "learning_rate": 0.003}
    path = suite_writer(
        frame,
        data={"split": {"test_size": 0.5, "stratify": True}},
        models=[
            {"name": "overfit", "recipe": "credit_mlp", "params": big},
            {"name": "private", "recipe": "credit_mlp", "params": {**big, "epochs": 20, "dp": {"epsilon": 1.0}}},
        ],
        checks=[{"name": "privacy", "params": {"bootstrap": 200}}],
    )
    outcome = run_suite(path, log=None)
    m = {x.path: x for x in outcome.results.metrics}
    overfit, private = m["overfit/privacy/mia_auc"], m["private/privacy/mia_auc"]
    assert overfit.value > 0.65 and overfit.ci[0] > 0.6, overfit  # measured 0.697 [0.649, 0.735]
    assert abs(private.value - 0.5) < 0.06 and private.ci[0] < 0.5 < private.ci[1], private
    spent = outcome.results.models["private"]["dp"]["epsilon_spent"]
    assert 0.5 < spent <= 1.0 + 1e-6

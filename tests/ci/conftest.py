"""Fixtures for the CI tests: a small synthetic credit-like suite that runs in a few seconds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml


def _synthetic_frame(n: int = 600, seed: int = 0) -> pd.DataFrame:
    """Two numeric features, a categorical one, a sensitive group that shifts the odds."""
    rng = np.random.default_rng(seed)
    g = rng.choice(["a", "b"], n, p=[0.6, 0.4])
    region = rng.choice(["north", "south", "east"], n)
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    logit = 1.2 * x1 - 0.8 * x2 + 0.5 * (g == "a") + 0.3 * (region == "east")
    y = np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), "yes", "no")
    return pd.DataFrame({"x1": x1.round(4), "x2": x2.round(4), "region": region, "g": g, "y": y})


def write_small_suite(
    folder: Path,
    *,
    gates: list | None = None,
    models: list | None = None,
    bootstrap: int = 200,
    frame: pd.DataFrame | None = None,
    name: str = "small",
    **extra,
) -> Path:
    """A suite over the synthetic frame; ``gates`` default to one that passes."""
    folder.mkdir(parents=True, exist_ok=True)
    (frame if frame is not None else _synthetic_frame()).to_csv(folder / "data.csv", index=False)
    suite = {
        "version": 1,
        "name": name,
        "description": "Synthetic approvals for CI tests.",
        "seed": 3,
        "data": {"path": "data.csv", "target": "y", "positive_label": "yes", "sensitive": ["g", "region"]},
        "models": models
        or [
            {"name": "lr", "recipe": "logistic_regression"},
            {"name": "gbm", "recipe": "hist_gradient_boosting", "params": {"max_iter": 30}},
        ],
        "checks": [
            {"name": "performance", "params": {"bootstrap": bootstrap}},
            {"name": "fairness", "params": {"bootstrap": bootstrap}},
        ],
        "gates": gates if gates is not None else ["*/performance/roc_auc >= 0.6"],
        "output": {"dir": str(folder / "reports")},
        "integrity": False,  # the implicit integrity pillar would add steps these CI tests count
        **extra,
    }
    path = folder / "suite.yaml"
    path.write_text(yaml.safe_dump(suite, sort_keys=False))
    return path


@pytest.fixture
def synthetic_frame():
    """The frame builder itself: ``synthetic_frame(n=..., seed=...)``."""
    return _synthetic_frame


@pytest.fixture
def small_suite(tmp_path: Path):
    """``small_suite(**keys)`` -> path of a small synthetic suite in a temp folder."""

    def make(sub: str = "suite", **keys) -> Path:
        return write_small_suite(tmp_path / sub, **keys)

    return make


@pytest.fixture(scope="session")
def small_run(tmp_path_factory: pytest.TempPathFactory):
    """One finished run of the small suite (gates: roc_auc >= 0.6 passes, a warn gate breaches)."""
    from audit.engine import run_suite

    folder = tmp_path_factory.mktemp("small-run")
    gates = [
        "*/performance/roc_auc >= 0.6",
        {"metric": "*/fairness/demographic_parity_difference[g]", "op": "<=", "threshold": 0.05, "severity": "warn"},
    ]
    suite = write_small_suite(folder, gates=gates)
    return run_suite(suite, log=None)

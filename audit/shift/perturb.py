"""Covariate perturbations of a tabular test set at a severity in [0, 1].

* ``noise``: Gaussian noise on numeric features, standard deviation = severity x ``scale`` x
  the feature's sample standard deviation on train (features with zero spread are left alone).
* ``missing``: each cell of the chosen features becomes missing with probability
  severity x ``rate`` (the models' preprocessor imputes it as it would any missing value).
* ``resample``: each categorical cell is replaced, with probability severity x ``rate``, by a
  draw from that feature's train marginal (missing values excluded).

The random numbers of one perturbation do not depend on the severity (common random numbers):
the same standard normals are scaled, and a cell hit at one rate is hit at every higher rate. So
severities are nested, curves over severity are smooth, and severity 0 returns the data unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from audit.lazy import pandas as pd  # imported on first use (audit validate stays light)

KINDS = ("noise", "missing", "resample")


@dataclass(frozen=True)
class Draws:
    """Severity-independent random numbers for one perturbation of one data frame."""

    normal: np.ndarray  # (n, k) standard normals
    uniform: np.ndarray  # (n, k) uniforms in [0, 1)
    choices: dict[str, np.ndarray]  # categorical feature -> n draws from its train marginal


def perturb_columns(kind: str, features: list[str], numeric: tuple[str, ...], categorical: tuple[str, ...]) -> list[str]:
    """The features a perturbation touches: numeric ones for noise, categorical for resample, all for missing."""
    if kind == "noise":
        return [f for f in features if f in numeric]
    if kind == "resample":
        return [f for f in features if f in categorical]
    return list(features)


def draw(kind: str, train: pd.DataFrame, n: int, columns: list[str], rng: np.random.Generator) -> Draws:
    """All random numbers ``kind`` needs for ``n`` rows, drawn in a fixed order."""
    k = len(columns)
    normal = rng.standard_normal((n, k)) if kind == "noise" else np.zeros((n, 0))
    uniform = rng.random((n, k)) if kind in ("missing", "resample") else np.zeros((n, 0))
    choices: dict[str, np.ndarray] = {}
    if kind == "resample":
        for column in columns:
            present = train[column].dropna()
            if pd.api.types.infer_dtype(present, skipna=True) != "string":  # numbers, mixed: str per cell
                present = present.astype(object).map(str)
            marginal = present.value_counts(normalize=True, sort=False)
            categories = marginal.index.to_numpy(dtype=object)
            choices[column] = categories[rng.choice(len(categories), size=n, p=marginal.to_numpy())] if len(categories) else np.full(n, np.nan, dtype=object)
    return Draws(normal, uniform, choices)


def apply(kind: str, X: pd.DataFrame, severity: float, *, columns: list[str], draws: Draws, spread: dict[str, float], strength: float) -> pd.DataFrame:
    """A perturbed copy of ``X``; ``strength`` is the noise scale or the rate at severity 1."""
    out = X.copy()
    amount = severity * strength
    for j, column in enumerate(columns):
        if kind == "noise":
            std = spread.get(column, 0.0)
            if np.isfinite(std) and std > 0:
                out[column] = X[column].astype(np.float64) + draws.normal[:, j] * (amount * std)
        elif kind == "missing":
            out[column] = X[column].mask(draws.uniform[:, j] < amount)
        elif kind == "resample":
            hit = draws.uniform[:, j] < amount
            values = X[column].astype(object).to_numpy(copy=True)
            values[hit] = draws.choices[column][hit]
            out[column] = pd.Series(values, index=X.index, dtype=X[column].dtype)
        else:
            raise ValueError(f"unknown perturbation {kind!r}; known: {', '.join(KINDS)}")
    return out


def train_spread(train: pd.DataFrame, columns: list[str]) -> dict[str, float]:
    """Sample standard deviation (ddof=1) of each numeric column on train, ignoring missing values."""
    return {c: float(train[c].astype(np.float64).std()) for c in columns}

"""The what-if's permutation Shapley values: known answers and a cross-check against shap."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from audit.dashboard.shapley import permutation_shapley


def _frame(rng: np.random.Generator, n: int, m: int) -> pd.DataFrame:
    return pd.DataFrame(rng.normal(size=(n, m)), columns=[f"x{j}" for j in range(m)])


def test_additive_model_gets_its_exact_terms() -> None:
    """For f(x) = sum w_j x_j + g(colour), interventional Shapley is w_j (x_j - mean_b x_j)."""
    rng = np.random.default_rng(0)
    background = _frame(rng, 30, 3)
    background["colour"] = rng.choice(["red", "green", "blue"], size=30).astype(object)
    w = np.array([1.5, -2.0, 0.5])
    bonus = {"red": 1.0, "green": -0.5, "blue": 0.0}

    def f(X: pd.DataFrame) -> np.ndarray:
        return X[["x0", "x1", "x2"]].to_numpy(dtype=float) @ w + X["colour"].map(bonus).to_numpy(dtype=float)

    row = pd.DataFrame({"x0": [1.0], "x1": [2.0], "x2": [-1.0], "colour": ["red"]})
    expected = np.append(
        w * (row[["x0", "x1", "x2"]].to_numpy()[0] - background[["x0", "x1", "x2"]].mean().to_numpy()),
        bonus["red"] - background["colour"].map(bonus).mean(),
    )
    every = permutation_shapley(f, row, background, n_permutations=12)
    sampled = permutation_shapley(f, row, background, n_permutations=3)  # additive: any order gives the answer
    assert (every.exact, every.n_orders, sampled.exact, sampled.n_orders) == (True, 24, False, 6)
    for out in (every, sampled):
        np.testing.assert_allclose(out.values, expected, atol=1e-12)
        assert out.score == pytest.approx(f(row)[0]) and out.base == pytest.approx(f(background).mean())


@pytest.mark.slow  # importing shap takes seconds
def test_exact_values_match_shap_exact_explainer() -> None:
    """A non-additive model with interactions, 4 features: every order enumerated = shap's Exact."""
    shap = pytest.importorskip("shap")
    rng = np.random.default_rng(1)
    background = _frame(rng, 20, 4)
    row = _frame(rng, 1, 4)

    def f(X: pd.DataFrame) -> np.ndarray:
        a = np.asarray(X, dtype=float)
        return 1 / (1 + np.exp(-(a[:, 0] * a[:, 1] + np.sin(a[:, 2]) - 0.5 * a[:, 3] ** 2)))

    ours = permutation_shapley(f, row, background, n_permutations=12)
    masker = shap.maskers.Independent(background.to_numpy(), max_samples=len(background))
    reference = shap.explainers.Exact(lambda a: f(pd.DataFrame(a, columns=background.columns)), masker)(row.to_numpy())
    assert ours.exact
    np.testing.assert_allclose(ours.values, reference.values[0], atol=1e-10)
    assert ours.base == pytest.approx(float(reference.base_values[0]))


def test_sampled_orders_keep_efficiency_and_are_seeded() -> None:
    rng = np.random.default_rng(2)
    background, row = _frame(rng, 25, 8), _frame(rng, 1, 8)

    def f(X: pd.DataFrame) -> np.ndarray:
        a = np.asarray(X, dtype=float)
        return np.tanh(a[:, 0] * a[:, 1] + a[:, 2:].sum(axis=1))

    a = permutation_shapley(f, row, background, n_permutations=6, seed=3)
    b = permutation_shapley(f, row, background, n_permutations=6, seed=3)
    c = permutation_shapley(f, row, background, n_permutations=6, seed=4)
    assert not a.exact and a.n_orders == 12
    assert a.values.sum() == pytest.approx(f(row)[0] - f(background).mean(), abs=1e-12)
    np.testing.assert_array_equal(a.values, b.values)
    assert not np.allclose(a.values, c.values)


def test_integer_columns_take_fractional_edits() -> None:
    background = pd.DataFrame({"n": np.arange(10, dtype=np.int64), "k": np.ones(10, dtype=np.int64)})
    row = pd.DataFrame({"n": [2.5], "k": [1]})
    out = permutation_shapley(lambda X: X["n"].to_numpy(dtype=float), row, background)
    np.testing.assert_allclose(out.values, [2.5 - 4.5, 0.0], atol=1e-12)


def test_one_row_at_a_time() -> None:
    background = pd.DataFrame({"a": [1.0, 2.0]})
    with pytest.raises(ValueError, match="one row at a time"):
        permutation_shapley(lambda X: X["a"].to_numpy(), background, background)

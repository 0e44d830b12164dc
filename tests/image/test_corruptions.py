"""Corruption ladders: identity at severity 0, known answers, seeded, and harder as severity grows."""

from __future__ import annotations

import numpy as np
import pytest

from audit.modalities.image.corruptions import CORRUPTIONS, LADDERS, SEVERITIES, corrupt


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    raw = load_digits()
    return (raw.images / 16.0).astype(np.float32)[:, None], raw.target


@pytest.mark.parametrize("name", CORRUPTIONS)
def test_severity_zero_is_the_identity_and_outputs_stay_in_range(name: str, digits: tuple) -> None:
    X = digits[0][:50]
    np.testing.assert_array_equal(corrupt(X, name, 0, np.random.default_rng(0)), X)
    for severity in SEVERITIES:
        out = corrupt(X, name, severity, np.random.default_rng(0))
        assert out.shape == X.shape and out.dtype == np.float32
        assert out.min() >= 0.0 and out.max() <= 1.0
        assert not np.array_equal(out, X), (name, severity)
        np.testing.assert_array_equal(out, corrupt(X, name, severity, np.random.default_rng(0)))  # seeded


def test_known_answers() -> None:
    X = np.random.default_rng(2).random((3, 1, 10, 10)).astype(np.float32)
    mean = X.mean(axis=(1, 2, 3), keepdims=True)
    np.testing.assert_allclose(corrupt(X, "contrast", 3, np.random.default_rng(0)), (X - mean) * LADDERS["contrast"][2] + mean, rtol=1e-6)
    ones = np.ones((5, 1, 10, 10), dtype=np.float32)
    blanked = (corrupt(ones, "occlusion", 2, np.random.default_rng(0)) == 0).sum(axis=(1, 2, 3))
    np.testing.assert_array_equal(blanked, 9)  # a 0.3 * 10 = 3 pixel square
    dot = np.zeros((1, 1, 9, 9), dtype=np.float32)
    dot[0, 0, 4, 4] = 1.0
    rotated = corrupt(dot, "rotation", 5, np.random.default_rng(0))
    assert rotated[0, 0, 4, 4] == pytest.approx(1.0)  # the centre is a fixed point of rotation


def test_corruption_grows_with_severity(digits: tuple) -> None:
    X = digits[0][:200]
    for name in CORRUPTIONS:
        change = [np.abs(corrupt(X, name, s, np.random.default_rng(0)) - X).mean() for s in SEVERITIES]
        assert all(b > a for a, b in zip(change, change[1:], strict=False)), (name, change)


def test_accuracy_falls_with_noise_severity(digits: tuple) -> None:
    from sklearn.linear_model import LogisticRegression

    X, y = digits
    model = LogisticRegression(max_iter=2000).fit(X[:1200].reshape(1200, -1), y[:1200])
    test = X[1200:]
    acc = [(model.predict(corrupt(test, "gaussian_noise", s, np.random.default_rng(0)).reshape(len(test), -1)) == y[1200:]).mean()
           for s in (0, *SEVERITIES)]
    assert all(b <= a + 0.01 for a, b in zip(acc, acc[1:], strict=False)), acc
    assert acc[0] > 0.9 and acc[-1] < acc[0] - 0.1, acc


def test_bad_arguments() -> None:
    X = np.zeros((2, 1, 4, 4))
    with pytest.raises(ValueError, match="unknown corruption 'fog'"):
        corrupt(X, "fog", 1, np.random.default_rng(0))
    with pytest.raises(ValueError, match="severity must be 0 to 5; got 6"):
        corrupt(X, "blur", 6, np.random.default_rng(0))

"""Image corruptions at severities 1-5, in the spirit of MNIST-C (Mu & Gilmer, 2019).

Each corruption maps (n, C, H, W) pixels in [0, 1] to corrupted pixels in [0, 1]; severity 0
is the identity. The ladders below are the whole definition of each severity, written once so
results stay comparable across runs and models. Geometric amounts are fractions of the image
side, so an 8x8 digit and a 28x28 MNIST digit see the same relative shift, blur or occluder.
Randomness (noise, rotation sign, shift direction, occluder position) comes from the generator
the caller passes, so a corrupted set is reproducible from the run seed.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

SEVERITIES = (1, 2, 3, 4, 5)
LADDERS: dict[str, tuple[float, ...]] = {
    "gaussian_noise": (0.08, 0.16, 0.24, 0.32, 0.40),  # std of additive noise, in pixel units
    "blur": (0.05, 0.075, 0.10, 0.125, 0.15),  # Gaussian sigma / image side (8 px: 0.4 .. 1.2 px)
    "rotation": (8.0, 16.0, 24.0, 32.0, 40.0),  # degrees, clockwise or anticlockwise at random
    "translation": (0.0625, 0.125, 0.1875, 0.25, 0.3125),  # shift / image side, random direction
    "contrast": (0.7, 0.5, 0.35, 0.2, 0.1),  # factor pulling pixels towards the image mean
    "occlusion": (0.125, 0.25, 0.375, 0.5, 0.625),  # side of a blanked square / image side (8 px: 1 .. 5 px), random place
}
UNITS = {
    "gaussian_noise": "noise std",
    "blur": "sigma / side",
    "rotation": "degrees",
    "translation": "shift / side",
    "contrast": "contrast factor",
    "occlusion": "square / side",
}
CORRUPTIONS = tuple(LADDERS)


def _noise(X: np.ndarray, amount: float, rng: np.random.Generator) -> np.ndarray:
    return X + rng.normal(0.0, amount, size=X.shape)


def _blur(X: np.ndarray, amount: float, rng: np.random.Generator) -> np.ndarray:
    from scipy import ndimage

    sigma = amount * X.shape[-1]
    return ndimage.gaussian_filter(X, sigma=(0, 0, sigma, sigma), mode="constant", cval=0.0)


def _rotate(X: np.ndarray, amount: float, rng: np.random.Generator) -> np.ndarray:
    from scipy import ndimage

    sign = rng.choice(np.array([-1.0, 1.0]), size=len(X))
    out = np.empty_like(X)
    for s in (-1.0, 1.0):
        rows = sign == s
        if rows.any():
            out[rows] = ndimage.rotate(X[rows], s * amount, axes=(2, 3), reshape=False, order=1, mode="constant", cval=0.0)
    return out


def _translate(X: np.ndarray, amount: float, rng: np.random.Generator) -> np.ndarray:
    from scipy import ndimage

    angle = rng.uniform(0.0, 2.0 * np.pi, size=len(X))
    dy, dx = amount * X.shape[-2] * np.sin(angle), amount * X.shape[-1] * np.cos(angle)
    out = np.empty_like(X)
    for i in range(len(X)):
        out[i] = ndimage.shift(X[i], (0.0, dy[i], dx[i]), order=1, mode="constant", cval=0.0)
    return out


def _contrast(X: np.ndarray, amount: float, rng: np.random.Generator) -> np.ndarray:
    mean = X.mean(axis=(1, 2, 3), keepdims=True)
    return (X - mean) * amount + mean


def _occlude(X: np.ndarray, amount: float, rng: np.random.Generator) -> np.ndarray:
    h, w = X.shape[-2:]
    side_h, side_w = max(1, int(amount * h + 0.5)), max(1, int(amount * w + 0.5))
    top = rng.integers(0, h - side_h + 1, size=len(X))[:, None, None]
    left = rng.integers(0, w - side_w + 1, size=len(X))[:, None, None]
    rows, cols = np.arange(h)[None, :, None], np.arange(w)[None, None, :]
    inside = (rows >= top) & (rows < top + side_h) & (cols >= left) & (cols < left + side_w)
    return np.where(inside[:, None, :, :], 0.0, X)


FUNCTIONS: dict[str, Callable[[np.ndarray, float, np.random.Generator], np.ndarray]] = {
    "gaussian_noise": _noise,
    "blur": _blur,
    "rotation": _rotate,
    "translation": _translate,
    "contrast": _contrast,
    "occlusion": _occlude,
}


def corrupt(X: np.ndarray, name: str, severity: int, rng: np.random.Generator) -> np.ndarray:
    """``X`` (n, C, H, W) in [0, 1] under corruption ``name`` at ``severity`` (0 = unchanged)."""
    if name not in FUNCTIONS:
        raise ValueError(f"unknown corruption {name!r}; available: {', '.join(CORRUPTIONS)}")
    if severity not in (0, *SEVERITIES):
        raise ValueError(f"severity must be 0 to {SEVERITIES[-1]}; got {severity!r}")
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 4:
        raise ValueError(f"expected images shaped (n, C, H, W); got {X.shape}")
    if severity == 0:
        return X.astype(np.float32)
    out = FUNCTIONS[name](X, LADDERS[name][severity - 1], rng)
    return np.clip(out, 0.0, 1.0).astype(np.float32)

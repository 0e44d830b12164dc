"""Where an L-infinity attack may move an input: the part of an attack that depends on the modality.

The attacks (``audit.attacks.gradient``, ``audit.attacks.blackbox``) know nothing about pixels
or credit applications; they take a ``Domain`` that says which points are valid adversarial
inputs for a clean input ``x0`` at budget ``eps``:

* ``mask``: the entries that may move at all (None: every entry); the others stay bit for bit;
* ``lower`` / ``upper``: a box every entry must stay in (per entry or one scalar; None: no box).
  A clean entry outside the box widens it to include itself, so the clean input is always valid;
* ``project(x, x0, eps)``: the nearest point of the ball ``|x - x0|_inf <= eps`` intersected
  with the mask and the box (coordinate-wise clamps; continuous, so gradient steps can
  accumulate);
* ``finalize(x, x0, eps)``: a valid point of the domain near ``x`` (identity here; the tabular
  domain rounds integer features). An attack judges success on finalized points only;
* ``random_start(x0, eps, generator)``: a uniform point of the ball on the masked entries.

``Domain`` itself is the image case with ``lower=0, upper=1``; ``TabularDomain`` adds integer
features and derives everything from the training data. A new modality supplies a domain, not a
new attack.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np


def _array(value: Any) -> np.ndarray | None:
    return None if value is None else np.asarray(value, dtype=np.float64)


class Domain:
    """An L-inf ball around each clean input, restricted to ``mask`` and the box [lower, upper]."""

    def __init__(self, mask: Any = None, lower: Any = None, upper: Any = None) -> None:
        self.mask = None if mask is None else np.asarray(mask, dtype=bool)
        self.lower = _array(lower)
        self.upper = _array(upper)

    # whether ``finalize`` may move a point (then success is re-checked on the finalized point)
    discrete = False

    # -- helpers (torch) ---------------------------------------------------------------------------
    def movable(self, x0: Any) -> Any:
        """A 0/1 float tensor of ``x0``'s shape: 1 on the entries an attack may change."""
        import torch

        if self.mask is None:
            return torch.ones_like(x0)
        return torch.as_tensor(np.broadcast_to(self.mask, x0.shape[1:]).astype(np.float32), dtype=x0.dtype).expand_as(x0)

    def box(self, x0: Any) -> tuple[Any, Any]:
        """(lower, upper) tensors for each entry of ``x0``, widened to contain ``x0``; None where unbounded."""
        import torch

        lo = None if self.lower is None else torch.minimum(torch.as_tensor(self.lower, dtype=x0.dtype), x0)
        hi = None if self.upper is None else torch.maximum(torch.as_tensor(self.upper, dtype=x0.dtype), x0)
        return lo, hi

    def _clip(self, x: Any, x0: Any) -> Any:
        import torch

        lo, hi = self.box(x0)
        if lo is not None:
            x = torch.maximum(x, lo)
        if hi is not None:
            x = torch.minimum(x, hi)
        return x

    # -- the contract ------------------------------------------------------------------------------
    def project(self, x: Any, x0: Any, eps: float) -> Any:
        """The point of the feasible set nearest ``x`` (torch tensors of equal shape)."""
        import torch

        x = x0 + torch.clamp(x - x0, -eps, eps)
        if self.mask is not None:
            x = torch.where(self.movable(x0) > 0, x, x0)
        return self._clip(x, x0)

    def finalize(self, x: Any, x0: Any, eps: float) -> Any:
        """A valid input near ``x`` (``x`` already projected). Continuous domains return ``x``."""
        return x

    def random_start(self, x0: Any, eps: float, generator: Any) -> Any:
        """A uniform point of the ball on the movable entries (seeded by ``generator``), clipped to the box."""
        import torch

        noise = torch.rand(x0.shape, generator=generator, dtype=x0.dtype)
        return self._clip(x0 + (noise * 2 - 1) * float(eps) * self.movable(x0), x0)

    def repair(self, X: np.ndarray, X0: np.ndarray, eps: float) -> np.ndarray:
        """``finalize(project(X))`` for numpy rows (what a query-only attack scores)."""
        import torch

        X = np.array(X)  # copies: the inputs may be read-only views
        x, x0 = torch.from_numpy(X), torch.from_numpy(np.array(X0, dtype=X.dtype))
        return self.finalize(self.project(x, x0, eps), x0, eps).numpy()

    def violations(self, X: np.ndarray, X0: np.ndarray, eps: float, tol: float = 1e-5) -> list[str]:
        """What about adversarial inputs ``X`` breaks the domain (empty: all valid)."""
        adv, clean = np.asarray(X, dtype=np.float64), np.asarray(X0, dtype=np.float64)
        out = []
        delta = np.abs(adv - clean)
        if delta.max(initial=0.0) > eps * (1 + tol) + 1e-6:
            out.append(f"left the eps={eps:g} ball (max |delta| {delta.max():.6g})")
        if self.mask is not None and (adv != clean)[:, ~np.broadcast_to(self.mask, adv.shape[1:])].any():
            out.append("changed a frozen entry")
        if self.lower is not None and (adv < np.minimum(self.lower, clean) - tol).any():
            out.append("went below the lower bound")
        if self.upper is not None and (adv > np.maximum(self.upper, clean) + tol).any():
            out.append("went above the upper bound")
        return out


class TabularDomain(Domain):
    """Encoded tabular rows whose numeric columns keep their original-unit meaning.

    The attack works on the model's encoded row (standardised numeric columns, then one-hot
    columns), ``eps`` in encoded units (standard deviations). For an encoded numeric column ``j``
    with original value ``v``, ``encoded = scale[j] * v + offset[j]``. On top of ``Domain``:

    * ``integer[j]``: the feature takes whole values in original units; ``finalize`` rounds
      ``(x - offset) / scale`` to the nearest integer inside the feasible interval (the ball and
      the box, in original units), so a rounded row never leaves either. A column whose clean
      value stays the nearest feasible integer keeps its clean value bit for bit.

    One-hot columns are never in ``mask``: a gradient step would leave a fraction of a category.
    """

    def __init__(self, mask: Any, lower: Any = None, upper: Any = None, integer: Any = None,
                 scale: Any = None, offset: Any = None) -> None:
        super().__init__(mask, lower, upper)
        width = self.mask.shape[-1]
        self.integer = np.zeros(width, dtype=bool) if integer is None else np.asarray(integer, dtype=bool)
        self.scale = np.ones(width) if scale is None else np.asarray(scale, dtype=np.float64)
        self.offset = np.zeros(width) if offset is None else np.asarray(offset, dtype=np.float64)
        if ((self.scale == 0) & self.integer).any():
            raise ValueError("an integer column needs a non-zero scale")

    @property
    def discrete(self) -> bool:  # type: ignore[override]
        return bool((self.integer & self.mask).any())

    @classmethod
    def from_training(cls, Z_train: np.ndarray, numeric: Mapping[int, np.ndarray], mask: Any, *,
                      bounds: bool = True, integers: bool = True) -> tuple[TabularDomain, list[str]]:
        """A domain from encoded training rows and the original values of the numeric columns.

        ``numeric``: encoded column index -> the training values of its source feature in original
        units (same rows as ``Z_train``; NaN allowed). ``bounds``: each such column stays within its
        training [min, max]; ``integers``: a column whose training values are all whole numbers is
        rounded in original units. The encoding of such a column must be affine (checked on the
        training rows: a standardiser is); otherwise it is not rounded and a note says so.
        Returns (domain, notes).
        """
        Z = np.asarray(Z_train, dtype=np.float64)
        width = Z.shape[1]
        lower, upper = np.full(width, -np.inf), np.full(width, np.inf)
        integer, scale, offset = np.zeros(width, dtype=bool), np.ones(width), np.zeros(width)
        notes: list[str] = []
        for j, raw in numeric.items():
            z = Z[:, j]
            if bounds and np.isfinite(z).any():
                lower[j], upper[j] = np.nanmin(z), np.nanmax(z)
            x = np.asarray(raw, dtype=np.float64)
            ok = np.isfinite(x) & np.isfinite(z)
            if not integers or not ok.any() or not np.array_equal(x[ok], np.round(x[ok])):
                continue
            xm, zm = x[ok], z[ok]
            if xm.var() == 0:
                continue  # a constant column: its box pins it
            s = float(((xm - xm.mean()) * (zm - zm.mean())).mean() / xm.var())
            o = float(zm.mean() - s * xm.mean())
            if s == 0 or np.abs(s * xm + o - zm).max() > 1e-4 * max(1.0, np.abs(zm).max()):
                notes.append(f"encoded column {j} is not an affine function of its feature; it is not rounded")
                continue
            integer[j], scale[j], offset[j] = True, s, o
        domain = cls(mask, lower if bounds else None, upper if bounds else None, integer, scale, offset)
        return domain, notes

    def finalize(self, x: Any, x0: Any, eps: float) -> Any:
        import torch

        cols = torch.as_tensor(self.integer & self.mask)
        if not bool(cols.any()):
            return x
        s, o = torch.as_tensor(self.scale), torch.as_tensor(self.offset)
        xd, x0d = x.double(), x0.double()
        lo, hi = self.box(x0d)
        lo = x0d - eps if lo is None else torch.maximum(lo, x0d - eps)
        hi = x0d + eps if hi is None else torch.minimum(hi, x0d + eps)
        a, b = (lo - o) / s, (hi - o) / s  # the feasible interval in original units (s < 0 flips it)
        k_lo = torch.ceil(torch.minimum(a, b) - 1e-6)
        k_hi = torch.floor(torch.maximum(a, b) + 1e-6)
        k = torch.minimum(torch.maximum(torch.round((xd - o) / s), k_lo), k_hi)
        rounded = torch.where(k == torch.round((x0d - o) / s), x0d, s * k + o)
        take = cols & (k_lo <= k_hi)  # an empty set of feasible integers (a fractional clean value): keep x
        return torch.where(take, rounded, xd).to(x.dtype)

    def violations(self, X: np.ndarray, X0: np.ndarray, eps: float, tol: float = 1e-5) -> list[str]:
        out = super().violations(X, X0, eps, tol)
        adv, clean = np.asarray(X, dtype=np.float64), np.asarray(X0, dtype=np.float64)
        cols = np.flatnonzero(self.integer & self.mask)
        if cols.size:
            z, s, o = adv[:, cols], self.scale[cols], self.offset[cols]
            nearest = s * np.round((z - o) / s) + o  # compared in encoded units, where float32 rounding lives
            off_grid = (np.abs(z - nearest) > 1e-5 * (1 + np.abs(z))) & (z != clean[:, cols])
            if off_grid.any():
                out.append("left an integer feature between two whole values")
        return out


def as_domain(domain: Domain | Any | None) -> Domain:
    """A ``Domain`` from a domain, a 0/1 mask array (mask only) or None (unconstrained)."""
    if isinstance(domain, Domain):
        return domain
    return Domain(mask=domain)

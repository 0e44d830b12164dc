"""A query-only (black-box) L-infinity attack for any model with probabilities on encoded rows.

Why: tree ensembles and other sklearn models have no gradients, yet an audit should compare every
model on the same budget. The attack only calls ``proba(Z)``, so it also runs on the MLP for a
like-for-like comparison with PGD.

Per row, inside the ball ``|z' - z|_inf <= eps`` on the masked columns:

1. *random vertices*: ``n_random`` seeded sign patterns ``z + eps * s`` (s in {-1, +1}); keep the
   one with the lowest margin ``p_true - max p_other``;
2. *greedy coordinate search*: ``passes`` sweeps over the masked columns, trying each column at
   ``z_j + level * eps`` for every level in ``levels`` (fractions in [-1, 1]) and keeping a move
   when it lowers the margin.

A row stops at its first misclassification; ``queries`` counts the model evaluations the row
needed up to then (the clean one included), as if rows were attacked one at a time: batching is an
implementation detail. For a linear model one greedy sweep reaches the optimal vertex, so the
attack is exact there.

With a ``domain`` (``audit.attacks.domain``) every candidate is first repaired onto it (its box,
its integer grid: ``domain.repair``), so every row scored, and every row returned, is a valid
input; without one the candidates are the raw vertices and levels above.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from audit.attacks.domain import Domain

DEFAULT_LEVELS = (1.0, -1.0, 0.5, -0.5)
Proba = Callable[[np.ndarray], np.ndarray]


@dataclass
class BlackboxOutcome:
    Z: np.ndarray  # adversarial rows (the input row where nothing was found or it was not attacked)
    pred: np.ndarray  # predicted class of the returned rows
    queries: np.ndarray  # model evaluations per row, counting the clean one


def margin(proba: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``p_true - max p_other`` per row: negative when another class wins."""
    rows = np.arange(len(y))
    other = proba.copy()
    other[rows, y] = -np.inf
    return proba[rows, y] - other.max(axis=1)


@dataclass
class _Search:
    """The best row found so far for every input row, and what it cost."""

    best: np.ndarray
    best_margin: np.ndarray
    pred: np.ndarray
    queries: np.ndarray
    y: np.ndarray
    Z: np.ndarray
    eps: float
    domain: Domain | None = None

    def try_candidates(self, proba: Proba, cand: np.ndarray, active: np.ndarray) -> np.ndarray:
        """Score ``cand`` (k, len(active), d), tried in order k per row; return the rows not yet broken."""
        k, a, d = cand.shape
        if self.domain is not None:
            clean = np.broadcast_to(self.Z[active][None], cand.shape).reshape(-1, d)
            cand = self.domain.repair(cand.reshape(-1, d), clean, self.eps).reshape(k, a, d)
        flat = np.asarray(proba(cand.reshape(-1, d)), dtype=np.float64)
        y = self.y[active]
        m = margin(flat, np.tile(y, k)).reshape(k, a)
        labels = flat.argmax(axis=1).reshape(k, a)
        wins = labels != y
        success = wins.any(axis=0)
        pick = np.where(success, wins.argmax(axis=0), m.argmin(axis=0))
        self.queries[active] += np.where(success, pick + 1, k)
        at = (pick, np.arange(a))
        take = success | (m[at] < self.best_margin[active])
        self.best[active[take]] = cand[at][take]
        self.best_margin[active[take]] = m[at][take]
        self.pred[active[success]] = labels[at][success]
        return active[~success]


def blackbox_attack(proba: Proba, Z: np.ndarray, y: np.ndarray, eps: float, mask: np.ndarray,
                    rng: np.random.Generator, *, n_random: int = 20, passes: int = 2,
                    levels: tuple[float, ...] = DEFAULT_LEVELS, domain: Domain | None = None) -> BlackboxOutcome:
    """Attack the rows the model classifies correctly; see the module docstring for the search.

    ``mask`` says which columns the search moves; ``domain`` (optional) repairs every candidate.
    """
    Z = np.asarray(Z, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)
    cols = np.flatnonzero(np.asarray(mask, dtype=bool))
    p0 = np.asarray(proba(Z), dtype=np.float64)
    search = _Search(Z.copy(), margin(p0, y), p0.argmax(axis=1), np.ones(len(y), dtype=np.int64), y, Z, float(eps), domain)
    if eps <= 0 or cols.size == 0 or len(y) == 0:
        return BlackboxOutcome(search.best, search.pred, search.queries)
    active = np.flatnonzero(search.pred == y)
    if n_random and active.size:
        cand = np.repeat(Z[active][None], n_random, axis=0)
        cand[:, :, cols] += eps * rng.choice(np.array([-1.0, 1.0]), size=(n_random, active.size, cols.size))
        active = search.try_candidates(proba, cand, active)
    steps = np.asarray(levels, dtype=np.float64) * eps
    for _ in range(passes):
        for j in cols:
            if not active.size:
                break
            # every level of column j starts from the same row, so one batched call per column
            # is the same as trying the levels one after another
            cand = np.repeat(search.best[active][None], steps.size, axis=0)
            cand[:, :, j] = Z[active, j][None, :] + steps[:, None]
            active = search.try_candidates(proba, cand, active)
    return BlackboxOutcome(search.best, search.pred, search.queries)

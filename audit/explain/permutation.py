"""Permutation SHAP for any black box, one player per original feature, batched.

The game: ``v(S) = mean over background rows b of f(x_S, b_rest)`` (interventional, an
independent masker), where a player is one original feature; on an encoded matrix a player
owns all its columns (a one-hot feature moves as one). The estimator is the antithetic
permutation sampler of ``shap.PermutationExplainer``: for an order ``pi`` of the row's varying
players (those some background row differs on), switch them on one by one from the background
row to ``x`` and then off again in the same order; each player's two marginal contributions are
averaged over all (permutation, background row) pairs. Every pair's chain telescopes, so
``base + sum(values) = f(x)`` holds exactly whatever the number of permutations.

Pairing (``pairing``):
- ``"spread"`` (default): each permutation goes with its own background row(s). ``permutations``
  is rounded up to a multiple of the background size ``b`` when larger, so every background row
  is used equally often and the base value is exactly the mean of ``f`` over the background;
  when smaller, the background rows are dealt out over the permutations. Cost per row:
  ``2 d max(permutations, b)`` evaluations at most, the same as one shap permutation over the
  whole background, with ``b`` orders instead of one.
- ``"full"``: every permutation with every background row: shap.PermutationExplainer's estimate
  (same orders for the same per-row seed), ``2 d permutations b`` evaluations.

A step that switches a player on which the background row already equals ``x`` leaves the input
unchanged, so it is not evaluated again (shap does the same). The masked rows of many explained
rows go to the model in one call per row (or per block of ``rows_per_call`` rows, up to
``max_batch`` masked rows). Each row's orders come from its own seed, so a row gets the same
values alone or among others. That also makes the rows shards: when the run's backend can send
work elsewhere (``execution: {backend: ray}``), blocks of rows (one row per call) go through
``audit.execution.shard_map`` and give the same values bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from audit.execution.base import distributed
from audit.lazy import pandas as pd  # imported on first use (audit validate stays light)

Progress = Callable[[int, int], None]  # (rows done, rows in all)


@dataclass
class PermutationShap:
    values: np.ndarray  # (n_rows, n_players)
    base_values: np.ndarray  # (n_rows,) mean f over the background rows paired with the row
    output: np.ndarray  # (n_rows,) f(x)
    permutations: int  # antithetic permutations per row
    evaluations: int  # model rows evaluated, all rows together (background included)


def permutation_shap(
    f: Callable[[Any], np.ndarray],
    background: np.ndarray | pd.DataFrame,
    rows: np.ndarray | pd.DataFrame,
    *,
    row_seeds: Sequence[int],
    permutations: int | None = None,
    players: Sequence[Sequence[int]] | None = None,
    pairing: str = "spread",
    rows_per_call: int = 1,
    max_batch: int = 50_000,
    progress: Progress | None = None,
) -> PermutationShap:
    """Permutation SHAP values of ``f`` (a batch of rows -> one score per row) on ``rows``.

    ``background`` / ``rows``: a float matrix (then ``players`` lists each player's columns; by
    default each column is a player) or a DataFrame (each column a player, any dtypes).
    ``permutations``: per row (default: the background size). ``row_seeds``: one per row.
    ``rows_per_call``: explained rows whose masked rows share one call of ``f`` (up to
    ``max_batch`` masked rows). With 1, each row's values are bit-for-bit the same alone or among
    other rows; with more, only up to the model's float rounding (BLAS sums in a batch-dependent
    order), for fewer calls.
    """
    table = _Table(background, rows, players)
    b, n = table.n_background, table.n_rows
    if b < 1:
        raise ValueError("permutation SHAP needs at least one background row")
    if pairing not in ("spread", "full"):
        raise ValueError(f"pairing must be 'spread' or 'full'; got {pairing!r}")
    wanted = b if permutations is None else int(permutations)
    if wanted < 1:
        raise ValueError(f"permutations must be at least 1; got {wanted}")
    n_perm = -(-wanted // b) * b if pairing == "spread" and wanted > b else wanted
    if rows_per_call == 1 and n > 1 and distributed():
        values, base, evaluations = _by_blocks(f, background, rows, players, row_seeds, n_perm, pairing, max_batch)
        if progress is not None:
            progress(n, n)
    else:
        values, base, evaluations = _explain(f, table, row_seeds, n_perm, pairing, rows_per_call, max_batch, progress)
    output = _score(f, table.rows_only())
    return PermutationShap(values, base, output, n_perm, evaluations + n)


def _explain(f: Callable[[Any], np.ndarray], table: _Table, row_seeds: Sequence[int], n_perm: int, pairing: str,
             rows_per_call: int, max_batch: int, progress: Progress | None) -> tuple[np.ndarray, np.ndarray, int]:
    """(values, base values, model rows evaluated, the background's included) of ``table``'s rows."""
    b, n, p = table.n_background, table.n_rows, table.n_players
    f_background = _score(f, table.batch(np.tile(np.arange(b), (p, 1)).T))
    values, base = np.zeros((n, p)), np.zeros(n)
    pending: list[tuple[int, _Chains]] = []
    queued, evaluations, done = 0, b, 0

    def flush() -> None:
        nonlocal queued, evaluations, done
        if queued:
            scores = _score(f, table.batch(np.concatenate([c.sources for _, c in pending])))
            evaluations += len(scores)
        start = 0
        for i, chains in pending:
            values[i], base[i] = chains.finish(scores[start : start + chains.n_eval] if queued else None, f_background)
            start += chains.n_eval
        done += len(pending)
        pending.clear()
        queued = 0
        if progress is not None:
            progress(done, n)

    for i in range(n):
        chains = _Chains(table, i, int(row_seeds[i]), n_perm, pairing)
        pending.append((i, chains))
        queued += chains.n_eval
        if queued >= max_batch or len(pending) >= rows_per_call:
            flush()
    if pending:
        flush()
    return values, base, evaluations


BLOCKS = 32  # shards of explained rows when the backend can run them elsewhere


def _by_blocks(f: Callable[[Any], np.ndarray], background: Any, rows: Any, players: Sequence[Sequence[int]] | None,
               row_seeds: Sequence[int], n_perm: int, pairing: str, max_batch: int) -> tuple[np.ndarray, np.ndarray, int]:
    """``_explain`` over blocks of rows sent through ``shard_map``. With one row per model call a
    row's values do not depend on the other rows, so they equal the unsharded values bit for bit."""
    from audit.execution import shard_map

    n = len(rows)
    size = -(-n // BLOCKS)
    spans = [(start, min(start + size, n)) for start in range(0, n, size)]
    job = _RowBlock(f, background, rows, players, np.asarray(row_seeds), n_perm, pairing, max_batch)
    parts = shard_map(job, spans, label="permutation SHAP rows")
    values = np.concatenate([v for v, _, _ in parts])
    base = np.concatenate([bv for _, bv, _ in parts])
    evaluations = sum(e for _, _, e in parts) - (len(parts) - 1) * len(background)  # the background is scored once per block
    return values, base, evaluations


@dataclass
class _RowBlock:
    """Explain the rows ``[start, stop)``: one shard of ``_by_blocks``."""

    f: Callable[[Any], np.ndarray]
    background: Any
    rows: Any
    players: Sequence[Sequence[int]] | None
    row_seeds: np.ndarray
    n_perm: int
    pairing: str
    max_batch: int

    def __call__(self, span: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, int]:
        start, stop = span
        rows = self.rows.iloc[start:stop] if isinstance(self.rows, pd.DataFrame) else np.asarray(self.rows)[start:stop]
        table = _Table(self.background, rows, self.players)
        return _explain(self.f, table, self.row_seeds[start:stop], self.n_perm, self.pairing, 1, self.max_batch, None)


def _score(f: Callable[[Any], np.ndarray], batch: Any) -> np.ndarray:
    return np.asarray(f(batch), dtype=np.float64).reshape(-1)


class _Table:
    """Background rows then explained rows, and masked batches built by index: ``sources[k, j]``
    is the row (of the combined table) that player ``j`` takes its value(s) from in batch row ``k``."""

    def __init__(self, background: Any, rows: Any, players: Sequence[Sequence[int]] | None) -> None:
        self.frame = isinstance(background, pd.DataFrame)
        self.n_background, self.n_rows = len(background), len(rows)
        if self.frame:
            if list(rows.columns) != list(background.columns):
                raise ValueError("the explained rows and the background must have the same columns")
            self.data = pd.concat([background, rows], ignore_index=True)
            self.n_players = self.data.shape[1]
            self._equal = []
            for c in self.data.columns:
                v = self.data[c].to_numpy(dtype=object)
                missing = pd.isna(self.data[c]).to_numpy()
                self._equal.append((v, missing))
        else:
            self.data = np.vstack([np.asarray(background, dtype=np.float64), np.asarray(rows, dtype=np.float64)])
            groups = [[j] for j in range(self.data.shape[1])] if players is None else [list(g) for g in players]
            self.col_player = np.empty(self.data.shape[1], dtype=np.intp)
            self.col_player.fill(-1)
            for j, group in enumerate(groups):
                self.col_player[group] = j
            if (self.col_player < 0).any():
                raise ValueError("every column must belong to a player")
            self.n_players = len(groups)

    def differs(self, i: int) -> np.ndarray:
        """(n_background, n_players): background row r differs from explained row i on player j."""
        b, x = self.n_background, self.n_background + i
        if self.frame:
            out = np.empty((b, self.n_players), dtype=bool)
            for j, (v, missing) in enumerate(self._equal):
                if missing[x]:
                    out[:, j] = ~missing[:b]
                else:
                    out[:, j] = missing[:b] | (v[:b] != v[x])
            return out
        B, xv = self.data[:b], self.data[x]
        cols = (xv != B) & ~(np.isnan(B) & np.isnan(xv))
        out = np.zeros((b, self.n_players), dtype=bool)
        np.logical_or.at(out.T, self.col_player, cols.T)
        return out

    def batch(self, sources: np.ndarray) -> Any:
        if self.frame:
            return pd.DataFrame({c: self.data[c].array.take(sources[:, j]) for j, c in enumerate(self.data.columns)})
        return self.data[sources[:, self.col_player], np.arange(self.data.shape[1])]

    def rows_only(self) -> Any:
        if self.frame:
            return self.data.iloc[self.n_background :].reset_index(drop=True)
        return self.data[self.n_background :]


class _Chains:
    """One explained row's (permutation, background row) pairs and the masked rows they need."""

    def __init__(self, table: _Table, i: int, seed: int, n_perm: int, pairing: str) -> None:
        b, p = table.n_background, table.n_players
        D = table.differs(i)
        inds = np.flatnonzero(D.any(axis=0))
        rng = np.random.RandomState(seed % 2**32)  # shap shuffles with numpy's global RandomState
        perms = np.empty((n_perm, len(inds)), dtype=np.intp)
        for k in range(n_perm):
            rng.shuffle(inds)
            perms[k] = inds
        if pairing == "full":
            perm_of, bg_of = np.repeat(np.arange(n_perm), b), np.tile(np.arange(b), n_perm)
        elif n_perm >= b:
            perm_of, bg_of = np.arange(n_perm), np.arange(n_perm) % b
        else:
            perm_of, bg_of = np.arange(b) % n_perm, np.arange(b)
        self.p, self.d, self.bg_of = p, len(inds), bg_of
        self.n_eval = 0
        if not self.d:
            return
        d, U = self.d, len(bg_of)
        self.toggled = np.concatenate([perms[perm_of], perms[perm_of]], axis=1)  # (U, 2d): player switched at step t+1
        # steps 1..2d-1 that change the input (step 2d is the background row again)
        self.need = D[bg_of[:, None], self.toggled[:, : 2 * d - 1]]
        rank = np.zeros((U, p), dtype=np.intp)
        np.put_along_axis(rank, perms[perm_of], np.arange(1, d + 1)[None, :], axis=1)
        u, t = np.nonzero(self.need)
        step = t + 1
        r = rank[u]  # (m, p): position of each player in the pair's order (0: not varying)
        on = np.where(step[:, None] <= d, r <= step[:, None], r > (step - d)[:, None]) & (r > 0)
        self.sources = np.where(on, b + i, bg_of[u][:, None])
        self.n_eval = len(u)

    def finish(self, scores: np.ndarray | None, f_background: np.ndarray) -> tuple[np.ndarray, float]:
        start = f_background[self.bg_of]
        base = float(start.mean())
        values = np.zeros(self.p)
        if not self.d:
            return values, base
        d, U = self.d, len(self.bg_of)
        chain = np.empty((U, 2 * d + 1))
        chain[:, 0] = chain[:, 2 * d] = start
        filled = np.zeros((U, 2 * d), dtype=bool)
        filled[:, 0] = True
        filled[:, 1:] = self.need
        raw = np.zeros((U, 2 * d))
        raw[:, 0] = start
        raw[:, 1:][self.need] = scores
        last = np.maximum.accumulate(np.where(filled, np.arange(2 * d), 0), axis=1)  # unchanged input: reuse
        chain[:, : 2 * d] = np.take_along_axis(raw, last, axis=1)
        steps = np.diff(chain, axis=1)
        steps[:, d:] *= -1  # switching off in order pi = switching on in reverse order
        values = np.bincount(self.toggled.ravel(), weights=steps.ravel(), minlength=self.p) / (2 * U)
        return values, base

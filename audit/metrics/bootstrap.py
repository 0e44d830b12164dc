"""Bootstrap replicates from counts: multinomial draws over the cells of a table, in fixed blocks.

Why: resampling rows materialises a ``(B, n)`` index matrix (1.6 GB for B = 200 on 1M rows) and
re-sorts every replicate for ROC / PR-AUC. Every metric the performance and fairness checks
report depends on the rows only through how many rows fall in each *cell* (a group x label x
decision cell for the rates, a tie-block x label x decision cell for the ranking metrics), so a
replicate is fully described by its cell counts:

* **Stratified bootstrap of a count table** (fairness, class disparity): resampling the ``n_s``
  rows of stratum ``s`` with replacement puts a Multinomial(``n_s``, ``table[s] / n_s``) number of
  rows in its cells -- the same distribution, drawn directly (:func:`multinomial_table`). Memory
  is O(B x cells) instead of O(B x n).
* **Plain bootstrap with replicate weights** (performance): a replicate's row multiplicities are
  Multinomial(n, 1/n) (drawn as ``n`` uniform row indices, one replicate at a time). They are
  summed per cell of a :class:`BinaryTable` / :class:`MulticlassTable` and every metric follows
  from weighted sums; ROC-AUC and PR-AUC come from cumulative weighted TP / FP over *one*
  descending sort of the scores done once for the table, with tied scores forming one block
  (the tie blocks of :func:`audit.metrics.binary.tie_blocks`), so no replicate is re-sorted.
  Replicates are processed a few at a time so at most :data:`CHUNK_ELEMENTS` numbers per
  (replicates x cells) array are alive at once.

Blocks: the ``B`` replicates are split into blocks of :data:`BLOCK` (a constant, never derived
from the machine); block ``b`` draws from its own generator (``rng_of(b)``, in the checks
``ctx.rng(check, model, what, "block", b)``) and the blocks run through ``Context.map``, so the
numbers do not depend on the backend, the machine or the order the blocks run in.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from audit.metrics import multiclass as mc
from audit.metrics.binary import METRICS, _bin_ids, _div, _labels, _scores, count_metrics

BLOCK = 100  # replicates per block (a shard of ctx.map); fixed so numbers are machine-independent
CHUNK_ELEMENTS = 1 << 20  # at most this many numbers per (replicates x rows/cells) array at once


# ----------------------------------------------------------------------------- blocks


def blocks(n_boot: int, block: int = BLOCK) -> list[tuple[int, int]]:
    """``(block index, replicates in it)`` for ``n_boot`` replicates in blocks of ``block``."""
    return [(b, min(block, n_boot - b * block)) for b in range(-(-n_boot // block))] if n_boot > 0 else []


def run_blocks(
    ctx: Any, fn: Callable[[tuple[int, np.random.Generator]], Any], n_boot: int,
    rng_of: Callable[[int], np.random.Generator], label: str = "bootstrap",
) -> list[Any]:
    """``fn((size, rng_of(b)))`` for every block ``b``, through ``ctx.map`` when the context has one.

    ``fn`` must be picklable (a module-level function or a ``functools.partial`` of one) and use
    only the generator it is given. Returns the blocks' results in block order.
    """
    items = [(size, rng_of(b)) for b, size in blocks(n_boot)]
    mapper = getattr(ctx, "map", None)
    if mapper is None:
        return [fn(item) for item in items]
    return list(mapper(fn, items, label=label))


def concat_blocks(parts: Sequence[Any]) -> Any:
    """Concatenate block results along the replicate axis (arrays, or dicts of arrays)."""
    if parts and isinstance(parts[0], dict):
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    return np.concatenate(list(parts))


# ----------------------------------------------------------------------------- count tables


def multinomial_table(table: np.ndarray, n_rep: int, rng: np.random.Generator) -> np.ndarray:
    """``n_rep`` stratified-bootstrap replicates of a count table: shape ``(n_rep, *table.shape)``.

    Every stratum (all axes but the last) keeps its total and redistributes it over its cells
    (the last axis) as Multinomial(total, cells / total) -- in distribution, exactly what
    resampling the stratum's rows with replacement gives. Empty strata stay empty. One vectorised
    ``Generator.multinomial`` call draws every replicate and stratum.
    """
    t = np.asarray(table, dtype=np.int64)
    cells = t.shape[-1]
    flat = t.reshape(-1, cells)
    total = flat.sum(axis=1)
    p = np.full(flat.shape, 1.0 / cells)
    np.divide(flat, total[:, None], out=p, where=total[:, None] > 0)
    draws = rng.multinomial(total, p, size=(n_rep, flat.shape[0]))
    return draws.reshape(n_rep, *t.shape)


def _table_block(table: np.ndarray, item: tuple[int, np.random.Generator]) -> np.ndarray:
    size, rng = item
    return multinomial_table(table, size, rng)


def bootstrap_table(
    ctx: Any, table: np.ndarray, n_boot: int, rng_of: Callable[[int], np.random.Generator], label: str = "bootstrap"
) -> np.ndarray:
    """:func:`multinomial_table` over all ``n_boot`` replicates, drawn in shard-keyed blocks."""
    if n_boot <= 0:
        return np.zeros((0, *np.shape(table)), dtype=np.int64)
    fn = functools.partial(_table_block, np.asarray(table, dtype=np.int64))
    return concat_blocks(run_blocks(ctx, fn, n_boot, rng_of, label))


def _row_counts(row_cell: np.ndarray, n_cells: int, n_rep: int, rng: np.random.Generator) -> np.ndarray:
    """(n_rep, n_cells) cell counts of ``n_rep`` plain bootstrap replicates of the rows.

    Each replicate draws its own ``n`` row indices (one generator call per replicate, so the
    numbers do not depend on how replicates are grouped) and counts them per cell.
    """
    n = row_cell.size
    key = np.empty((n_rep, n), dtype=np.int64)
    for r in range(n_rep):
        key[r] = row_cell[rng.integers(0, n, size=n, dtype=np.int32)]
    key += (n_cells * np.arange(n_rep, dtype=np.int64))[:, None]
    return np.bincount(key.ravel(), minlength=n_rep * n_cells).reshape(n_rep, n_cells)


def _chunks(n_rep: int, width: int) -> list[int]:
    step = max(1, CHUNK_ELEMENTS // max(width, 1))
    return [min(step, n_rep - i) for i in range(0, n_rep, step)]


@dataclass(frozen=True)
class Ties:
    """The tie blocks spanning more than one cell, for :func:`_ranking` (cells sorted by
    descending score, negatives before positives within a block)."""

    cells: np.ndarray  # the cells that share their block with another cell, in order
    starts: np.ndarray  # where each such block starts within ``cells``
    ends: np.ndarray  # the last cell of each such block

    @classmethod
    def of(cls, block: np.ndarray) -> Ties | None:
        """From each cell's (non-decreasing) block id; None when every block is a single cell."""
        first = np.ones(block.size, dtype=bool)
        first[1:] = block[1:] != block[:-1]
        last = np.ones(block.size, dtype=bool)
        last[:-1] = first[1:]
        single = first & last
        if single.all():
            return None
        cells = np.flatnonzero(~single)
        return cls(cells, np.flatnonzero(first[cells]), np.flatnonzero(last & ~single))


def _ranking(w: np.ndarray, y: np.ndarray, ties: Ties | None) -> tuple[np.ndarray, np.ndarray]:
    """Tie-aware ROC-AUC and average precision from weights ``w`` (r, C) over cells sorted by
    descending score with negatives first within a tie block, ``y`` the cells' labels (C,).

    With per-block positives ``pos_k`` / negatives ``neg_k`` and cumulative TP / FP at the block
    ends: AUC = [P N - sum_k pos_k FP_k + sum_k pos_k neg_k / 2] / (P N) (Mann-Whitney with
    average ranks), AP = sum_k pos_k TP_k / (TP_k + FP_k) / P (sklearn's average_precision_score).
    Because negatives come first in a block, a positive cell's own cumulative FP is its block's
    FP_k, so both sums run over cells; only the blocks that span several cells (``ties``) need
    their block totals (their tied negatives, and AP's precision at the block end). Counts are
    integers, so every sum but AP's is exact in float64.
    """
    pos = w * y
    ctp = np.cumsum(pos, axis=1)
    ctot = np.cumsum(w, axis=1)
    n_pos, n_all = ctp[:, -1].copy(), ctot[:, -1].copy()
    n_neg = n_all - n_pos
    ctot -= ctp  # now the cumulative FP
    auc_num = n_pos * n_neg - np.einsum("ij,ij->i", pos, ctot)
    ctot += ctp  # back to the cumulative count
    np.maximum(ctot, 1.0, out=ctot)  # an empty prefix has TP = 0: 0 / 1, never 0 / 0
    np.divide(ctp, ctot, out=ctp)  # precision at each cell
    ap_num = np.einsum("ij,ij->i", pos, ctp)
    if ties is not None:  # blocks of several cells: tied negatives, and precision at the block end
        pos_k = np.add.reduceat(pos[:, ties.cells], ties.starts, axis=1)
        neg_k = np.add.reduceat(w[:, ties.cells], ties.starts, axis=1) - pos_k
        auc_num += 0.5 * np.einsum("ij,ij->i", pos_k, neg_k)
        ap_num += np.einsum("ij,ij->i", pos_k, ctp[:, ties.ends]) - np.einsum("ij,ij->i", pos[:, ties.cells], ctp[:, ties.cells])
    two_class = (n_pos > 0) & (n_neg > 0)
    auc = _div(auc_num, n_pos * n_neg, np.nan)
    ap = _div(ap_num, n_pos, np.nan)
    return np.where(two_class, auc, np.nan), np.where(two_class, ap, np.nan)


# ----------------------------------------------------------------------------- binary


@dataclass(frozen=True)
class BinaryTable:
    """The rows of a binary task as cells (score tie block, label, decision), sorted by
    descending score: every metric of :func:`audit.metrics.binary.binary_metrics` is a function
    of the cells' counts. Built with one sort of the scores (:meth:`build`); per cell it keeps
    1-D vectors only, so a replicate is a handful of passes over the cells."""

    row_cell: np.ndarray  # (n,) cell of each row
    counts: np.ndarray  # (C,) rows per cell in the sample
    linear: np.ndarray  # (5, C) per cell: label, decision, label * decision, log loss, squared error
    gap: np.ndarray  # (C,) label - score (the ECE's signed gap)
    bin_starts: np.ndarray  # first cell of each non-empty calibration bin (cells are score-sorted)
    ties: Ties | None  # tie blocks of several cells (None: none)

    @classmethod
    def build(cls, y_true: np.ndarray, y_pred: np.ndarray, score: np.ndarray, n_bins: int = 10) -> BinaryTable:
        y, p, s = _labels(y_true, "y_true"), _labels(y_pred, "y_pred"), _scores(score)
        if not y.size == p.size == s.size:
            raise ValueError("y_true, y_pred and score must have the same length")
        if y.size == 0:
            raise ValueError("no rows")
        order = np.argsort(-s, kind="stable")  # the one sort
        ss = s[order]
        new_block = np.ones(ss.size, dtype=bool)
        new_block[1:] = ss[1:] != ss[:-1]  # tie blocks exactly as tie_blocks() forms them
        block_score = ss[new_block]
        block = np.empty(ss.size, dtype=np.int64)
        block[order] = np.cumsum(new_block) - 1
        del order, ss, new_block
        key = 4 * block + 2 * y + p
        del block
        used = np.bincount(key, minlength=4 * block_score.size) > 0
        keys = np.flatnonzero(used)  # sorted: block (descending score), then label, decision
        cell_of_key = np.cumsum(used) - 1
        del used
        row_cell = cell_of_key[key].astype(np.int32 if keys.size < 2**31 else np.int64)
        del key, cell_of_key
        counts = np.bincount(row_cell, minlength=keys.size)
        block_of_cell = keys // 4
        cs = block_score[block_of_cell]
        cy = ((keys >> 1) & 1).astype(np.float64)
        cp = (keys & 1).astype(np.float64)
        eps = np.finfo(np.float64).eps
        ll = -np.log(np.clip(np.where(cy == 1, cs, 1.0 - cs), eps, 1.0 - eps))
        bins = _bin_ids(cs, n_bins)  # non-increasing along the cells
        bin_starts = np.flatnonzero(np.append(True, bins[1:] != bins[:-1]))
        linear = np.empty((5, keys.size))
        linear[0], linear[1], linear[2], linear[3], linear[4] = cy, cp, cy * cp, ll, (cy - cs) ** 2
        return cls(row_cell, counts, linear, cy - cs, bin_starts, Ties.of(block_of_cell))

    @property
    def n(self) -> int:
        return int(self.row_cell.size)

    def metrics(self, counts: np.ndarray) -> dict[str, np.ndarray]:
        """Every metric for cell counts of shape (C,) (scalars) or (r, C) (arrays over replicates)."""
        w = np.asarray(counts, dtype=np.float64)
        squeeze = w.ndim == 1
        w = np.atleast_2d(w)
        m = w.sum(axis=1)
        lin = w @ self.linear[:3].T  # integer-valued sums: exact whatever BLAS does
        n_pos, n_pp, tp = lin[:, 0], lin[:, 1], lin[:, 2]
        # non-integer sums row by row (not BLAS), so a replicate's value does not depend on how
        # many replicates are processed together
        ll_sum, sq_sum = np.einsum("ij,j->i", w, self.linear[3]), np.einsum("ij,j->i", w, self.linear[4])
        fn, fp = n_pos - tp, n_pp - tp
        tn = m - n_pos - fp
        auc, ap = _ranking(w, self.linear[0], self.ties)
        out = {
            **count_metrics(tp, fp, fn, tn, m),
            "roc_auc": auc,
            "pr_auc": ap,
            "log_loss": ll_sum / m,
            "brier": sq_sum / m,
            "ece": np.abs(np.add.reduceat(w * self.gap, self.bin_starts, axis=1)).sum(axis=1) / m,
        }
        return {k: (out[k][0] if squeeze else out[k]) for k in METRICS}

    def replicates(self, item: tuple[int, np.random.Generator]) -> dict[str, np.ndarray]:
        """Metrics of ``size`` plain bootstrap replicates drawn from ``rng`` (one block)."""
        size, rng = item
        parts = []
        for r in _chunks(size, max(self.n, self.counts.size)):
            parts.append(self.metrics(_row_counts(self.row_cell, self.counts.size, r, rng)))
        return concat_blocks(parts)


def bootstrap_binary(
    ctx: Any, y_true: np.ndarray, y_pred: np.ndarray, score: np.ndarray, n_boot: int,
    rng_of: Callable[[int], np.random.Generator], *, n_bins: int = 10, label: str = "bootstrap",
) -> dict[str, np.ndarray]:
    """``n_boot`` plain bootstrap replicates of every binary metric, arrays of shape (n_boot,)."""
    table = BinaryTable.build(y_true, y_pred, score, n_bins)
    return concat_blocks(run_blocks(ctx, table.replicates, n_boot, rng_of, label))


# ----------------------------------------------------------------------------- multiclass


@dataclass(frozen=True)
class MulticlassTable:
    """The rows of a multiclass task for replicate weights: each row is its own cell (a row's
    probabilities are a vector, so there is no shared tie structure across classes); the
    per-class ROC-AUC uses one descending sort per class, done once here."""

    cm_key: np.ndarray  # (n,) actual * K + predicted
    linear: np.ndarray  # (n, 2 + n_bins): log loss, Brier term, top-label ECE gap per bin
    orders: np.ndarray  # (K, n) rows by descending probability of class k
    ys: np.ndarray  # (K, n) 1.0 where the row (in that order) is of class k
    ties: tuple[Ties | None, ...]  # per class, the tie blocks spanning several rows
    n_classes: int

    @classmethod
    def build(cls, y_true: np.ndarray, y_pred: np.ndarray, proba: np.ndarray, n_bins: int = 10) -> MulticlassTable:
        s = np.asarray(proba, dtype=np.float64)
        if s.ndim != 2:
            raise ValueError("proba must be a 2-D (n, n_classes) array")
        k = s.shape[1]
        y, p = mc._codes(y_true, k, "y_true"), mc._codes(y_pred, k, "y_pred")
        if not y.size == p.size == s.shape[0] or y.size == 0:
            raise ValueError("y_true, y_pred and proba must have the same, non-zero number of rows")
        eps = np.finfo(np.float64).eps
        true_p = s[np.arange(y.size), y]
        conf = np.clip(s.max(axis=1), 0.0, 1.0)
        gap = np.zeros((y.size, n_bins))
        gap[np.arange(y.size), _bin_ids(conf, n_bins)] = (p == y) - conf
        linear = np.column_stack([-np.log(np.clip(true_p, eps, 1.0 - eps)), (s**2).sum(axis=1) - 2.0 * true_p + 1.0, gap])
        orders, ys, ties = [], [], []
        for c in range(k):
            order = np.lexsort((y == c, -s[:, c]))  # descending probability; negatives first in a tie
            sc = s[order, c]
            orders.append(order)
            ys.append((y[order] == c).astype(np.float64))
            ties.append(Ties.of(np.cumsum(np.append(True, sc[1:] != sc[:-1]))))
        return cls(k * y + p, linear, np.array(orders), np.array(ys), tuple(ties), k)

    def metrics(self, w: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Every metric and the confusion matrices (r, K, K) for row weights ``w`` (r, n)."""
        w = np.atleast_2d(np.asarray(w, dtype=np.float64))
        k, r = self.n_classes, w.shape[0]
        m = w.sum(axis=1)
        key = self.cm_key[None, :] + (k * k) * np.arange(r)[:, None]
        counts = np.bincount(key.ravel(), weights=w.ravel(), minlength=r * k * k).reshape(r, k, k)
        counts = np.rint(counts).astype(np.int64)
        per = mc.per_class_from_counts(counts)
        in_true, in_either = per["support"] > 0, (per["support"] + per["predicted"]) > 0
        lin = np.einsum("ij,jk->ik", w, self.linear)  # row by row, not BLAS (see BinaryTable.metrics)
        aucs = np.column_stack([_ranking(w[:, self.orders[c]], self.ys[c], self.ties[c])[0] for c in range(k)])
        with np.errstate(invalid="ignore"):
            roc_auc = np.where(np.isfinite(aucs).any(axis=1), np.nanmean(np.where(np.isfinite(aucs), aucs, np.nan), axis=1), np.nan)
        out = {
            "accuracy": np.trace(counts, axis1=-2, axis2=-1) / m,
            "balanced_accuracy": mc._macro(per["recall"], in_true),
            "macro_precision": mc._macro(per["precision"], in_either),
            "macro_recall": mc._macro(per["recall"], in_either),
            "macro_f1": mc._macro(per["f1"], in_either),
            "roc_auc": roc_auc,
            "log_loss": lin[:, 0] / m,
            "brier": lin[:, 1] / m,
            "ece": np.abs(lin[:, 2:]).sum(axis=1) / m,
        }
        return out, counts

    def replicates(self, item: tuple[int, np.random.Generator]) -> dict[str, np.ndarray]:
        """Metrics (and ``confusion``, (size, K, K)) of ``size`` plain bootstrap replicates."""
        size, rng = item
        n = self.cm_key.size
        parts = []
        for r in _chunks(size, n):
            w = _row_counts(np.arange(n), n, r, rng)
            out, counts = self.metrics(w)
            parts.append({**out, "confusion": counts})
        return concat_blocks(parts)


def bootstrap_multiclass(
    ctx: Any, y_true: np.ndarray, y_pred: np.ndarray, proba: np.ndarray, n_boot: int,
    rng_of: Callable[[int], np.random.Generator], *, n_bins: int = 10, label: str = "bootstrap",
) -> dict[str, np.ndarray]:
    """``n_boot`` plain bootstrap replicates of every multiclass metric (shape (n_boot,)) and
    their confusion matrices (``"confusion"``, shape (n_boot, K, K))."""
    table = MulticlassTable.build(y_true, y_pred, proba, n_bins)
    return concat_blocks(run_blocks(ctx, table.replicates, n_boot, rng_of, label))

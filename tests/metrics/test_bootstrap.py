"""Bootstrap from counts (audit.metrics.bootstrap): exact per replicate, equal in distribution to
row resampling, shard-keyed blocks whose numbers do not depend on how they are executed."""

from __future__ import annotations

import pickle
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import sklearn.metrics as skm

import audit.metrics.bootstrap as bs
from audit.metrics import multiclass as mc
from audit.metrics.binary import METRICS, binary_metrics, bootstrap_indices, percentile_ci, tie_blocks
from audit.metrics.bootstrap import (
    BLOCK,
    BinaryTable,
    MulticlassTable,
    blocks,
    bootstrap_binary,
    bootstrap_multiclass,
    bootstrap_table,
    multinomial_table,
)

TOL = 1e-12


def planted(seed: int, n: int, ties: str = "none") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scores informative of the label; ``ties``: 'round' (1 decimal), 'clip' (mass at 0 and 1)."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.4).astype(np.int64)
    s = rng.normal(0.35 + 0.3 * y, 0.2)
    s = np.round(np.clip(s, 0, 1), 1) if ties == "round" else np.clip(s, 0, 1) if ties == "clip" else 1 / (1 + np.exp(-4 * (s - 0.5)))
    return y, (s >= 0.5).astype(np.int64), s


class Ctx:
    """rng as audit.context.Context; ``map`` optional, recording its calls."""

    def __init__(self, mapper=None):
        self.calls = []
        if mapper is not None:
            def map_(fn, items, *, label=""):
                self.calls.append((label, len(items)))
                return mapper(fn, items)
            self.map = map_

    @staticmethod
    def rng(*keys):
        import hashlib

        digest = hashlib.sha256(repr(keys).encode()).digest()
        return np.random.default_rng([42, int.from_bytes(digest[:8], "little")])


def rng_of(b):
    return Ctx.rng("performance", "m", "overall", "block", b)


def cell_counts(table: BinaryTable, idx: np.ndarray) -> np.ndarray:
    return np.stack([np.bincount(table.row_cell[i], minlength=table.counts.size) for i in idx])


# ---------------------------------------------------------------------------- exact per replicate


@pytest.mark.parametrize("ties", ["none", "round", "clip"])
def test_binary_table_equals_binary_metrics_and_sklearn(ties):
    y, p, s = planted(0, 700, ties)
    table = BinaryTable.build(y, p, s)
    point = table.metrics(table.counts)
    ref = binary_metrics(y, p, s)
    for k in METRICS:
        assert point[k] == pytest.approx(ref[k], abs=TOL), k
    assert point["roc_auc"] == pytest.approx(skm.roc_auc_score(y, s), abs=TOL)
    assert point["pr_auc"] == pytest.approx(skm.average_precision_score(y, s), abs=TOL)
    assert point["brier"] == pytest.approx(skm.brier_score_loss(y, s), abs=TOL)
    # every replicate: the cell counts of resampled rows give binary_metrics on those rows
    idx = bootstrap_indices(y.size, 60, np.random.default_rng(1))
    ours, theirs = table.metrics(cell_counts(table, idx)), binary_metrics(y, p, s, idx)
    for k in METRICS:
        np.testing.assert_allclose(ours[k], theirs[k], rtol=0, atol=TOL, err_msg=k)


def test_tie_blocks_are_those_of_tie_blocks():
    y, p, s = planted(3, 300, "round")
    table = BinaryTable.build(y, p, s)
    t = tie_blocks(y, s, np.arange(y.size)[None])
    n_blocks = int(t["is_end"].sum())
    # cells of one block share their score: blocks = cells that start a new score
    assert table.ties is not None and n_blocks == np.unique(s).size
    per_cell_score = np.zeros(table.counts.size)
    per_cell_score[table.row_cell] = s
    assert np.all(np.diff(per_cell_score) <= 0)  # cells sorted by descending score


def test_degenerate_replicates_are_nan_like_binary_metrics():
    y = np.array([1] * 3 + [0] * 97)
    s = np.linspace(0, 1, 100)
    p = (s > 2).astype(int)  # no predicted positives
    table = BinaryTable.build(y, p, s)
    idx = bootstrap_indices(100, 300, np.random.default_rng(0))
    ours, theirs = table.metrics(cell_counts(table, idx)), binary_metrics(y, p, s, idx)
    assert np.isnan(theirs["roc_auc"]).any() and np.isnan(theirs["precision"]).all()
    for k in METRICS:
        np.testing.assert_array_equal(np.isnan(ours[k]), np.isnan(theirs[k]), err_msg=k)
        np.testing.assert_allclose(ours[k], theirs[k], rtol=0, atol=TOL, err_msg=k)


def test_multiclass_table_equals_multiclass_metrics():
    rng = np.random.default_rng(2)
    n, k = 400, 4
    proba = rng.dirichlet(np.ones(k), n)
    proba[:200] = np.round(proba[:200], 1)  # ties
    y = np.where(rng.random(n) < 0.5, proba.argmax(1), rng.integers(0, k, n))
    pred = proba.argmax(1)
    table = MulticlassTable.build(y, pred, proba)
    idx = bootstrap_indices(n, 40, rng)
    w = np.stack([np.bincount(i, minlength=n) for i in idx])
    ours, confusion = table.metrics(w)
    theirs = mc.multiclass_metrics(y, pred, proba, idx)
    for name in mc.METRICS:
        np.testing.assert_allclose(ours[name], theirs[name], rtol=0, atol=TOL, err_msg=name)
    np.testing.assert_array_equal(confusion, mc.confusion_matrices(y, pred, k, idx))
    point, _ = table.metrics(np.ones(n))
    reference = mc.multiclass_metrics(y, pred, proba)  # = sklearn (tests/image/test_multiclass_metrics.py)
    for name in mc.METRICS:
        assert point[name][0] == pytest.approx(reference[name], abs=TOL), name


# ---------------------------------------------------------------------------- count tables


def test_multinomial_table_keeps_strata_totals_and_matches_row_resampling_in_distribution():
    table = np.array([[[30, 10], [5, 55]], [[0, 0], [3, 1]], [[7, 0], [0, 0]]])  # (G, y, pred)
    draws = multinomial_table(table, 20_000, np.random.default_rng(0))
    assert draws.shape == (20_000, 3, 2, 2)
    np.testing.assert_array_equal(draws.sum(axis=-1), np.broadcast_to(table.sum(axis=-1), draws.shape[:-1]))
    assert (draws[:, 2, 0, 1] == 0).all() and (draws[:, 1, 0] == 0).all()  # a cell with no rows stays empty
    # the same table by resampling rows within each stratum
    g, y, p = (np.repeat(a, table.ravel()) for a in np.indices(table.shape).reshape(3, -1))
    idx = bootstrap_indices(g.size, 20_000, np.random.default_rng(1), strata=g * 2 + y)
    key = ((g * 2 + y) * 2 + p)[idx]  # (B, n): each drawn row's group x label x prediction cell
    rows = np.stack([np.bincount(k, minlength=12) for k in key]).reshape(-1, 3, 2, 2)
    for stat in (np.mean, np.var):
        np.testing.assert_allclose(stat(draws, axis=0), stat(rows, axis=0), rtol=0.05, atol=0.05)


def test_bootstrap_table_blocks_are_shard_keyed():
    table = np.array([[40, 10], [6, 44]])
    ctx = Ctx(mapper=lambda fn, items: [fn(i) for i in items])
    out = bootstrap_table(ctx, table, 250, lambda b: Ctx.rng("t", b))
    assert out.shape == (250, 2, 2) and ctx.calls == [("bootstrap", 3)] and blocks(250) == [(0, 100), (1, 100), (2, 50)]
    # block b is drawn from rng_of(b) alone: the first block equals a direct draw
    np.testing.assert_array_equal(out[:BLOCK], multinomial_table(table, BLOCK, Ctx.rng("t", 0)))


# ---------------------------------------------------------------------------- blocks and execution


def reversed_map(fn, items):
    return [fn(i) for i in items[::-1]][::-1]


def pickled_threads(fn, items):
    """What a distributed backend does: ship fn and items pickled, run them concurrently."""
    fn, items = pickle.loads(pickle.dumps(fn)), pickle.loads(pickle.dumps(items))
    with ThreadPoolExecutor(2) as pool:
        return list(pool.map(fn, items))


@pytest.mark.parametrize("mapper", [None, reversed_map, pickled_threads])
def test_numbers_do_not_depend_on_how_blocks_are_executed(mapper, monkeypatch):
    y, p, s = planted(4, 900, "clip")
    reference = bootstrap_binary(Ctx(), y, p, s, 230, rng_of)
    ctx = Ctx(mapper)
    if mapper is not None:
        monkeypatch.setattr(bs, "CHUNK_ELEMENTS", 2_000)  # replicates processed 2 at a time
    again = bootstrap_binary(ctx, y, p, s, 230, rng_of, label="x")
    for k in METRICS:
        np.testing.assert_array_equal(again[k], reference[k], err_msg=k)
    assert ctx.calls == ([] if mapper is None else [("x", 3)])
    rng = np.random.default_rng(5)
    proba = rng.dirichlet(np.ones(3), 300)
    yk = rng.integers(0, 3, 300)
    first = bootstrap_multiclass(Ctx(), yk, proba.argmax(1), proba, 150, rng_of)
    second = bootstrap_multiclass(ctx, yk, proba.argmax(1), proba, 150, rng_of)
    for k in first:
        np.testing.assert_array_equal(first[k], second[k], err_msg=k)


# ---------------------------------------------------------------------------- Monte-Carlo agreement


def test_performance_intervals_agree_with_row_resampling_within_monte_carlo_error():
    """B = 4000 on 1,000 planted rows: every 95% interval endpoint of the counts bootstrap lies
    within 0.01 of the previous row-index bootstrap's (different random draws, same law)."""
    y, p, s = planted(6, 1000)
    B = 4000
    new = bootstrap_binary(Ctx(), y, p, s, B, rng_of)
    old = binary_metrics(y, p, s, bootstrap_indices(y.size, B, np.random.default_rng(7)))
    point = binary_metrics(y, p, s)
    worst = 0.0
    for k in METRICS:
        lo_new, hi_new = percentile_ci(new[k])
        lo_old, hi_old = percentile_ci(old[k])
        worst = max(worst, abs(lo_new - lo_old), abs(hi_new - hi_old))
        assert abs(lo_new - lo_old) < 0.01 and abs(hi_new - hi_old) < 0.01, (k, (lo_new, hi_new), (lo_old, hi_old))
        assert lo_new <= point[k] <= hi_new, k
        assert np.std(new[k]) == pytest.approx(np.std(old[k]), rel=0.06), k  # same spread
    assert worst < 0.01


def test_multiclass_intervals_agree_with_row_resampling():
    rng = np.random.default_rng(8)
    n, k, B = 500, 3, 2000
    proba = rng.dirichlet(np.ones(k) * 2, n)
    y = np.where(rng.random(n) < 0.6, proba.argmax(1), rng.integers(0, k, n))
    new = bootstrap_multiclass(Ctx(), y, proba.argmax(1), proba, B, rng_of)
    old = mc.multiclass_metrics(y, proba.argmax(1), proba, bootstrap_indices(n, B, np.random.default_rng(9)))
    for name in mc.METRICS:
        for a, b in zip(percentile_ci(new[name]), percentile_ci(old[name]), strict=True):
            assert abs(a - b) < 0.015, name


def test_memory_is_bounded_by_the_chunk_not_by_replicates():
    import tracemalloc

    y, p, s = planted(10, 200_000)
    table = BinaryTable.build(y, p, s)
    tracemalloc.start()
    table.replicates((20, np.random.default_rng(0)))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 60 * 2**20  # a (20, 200k) index matrix alone would be 32 MB, its tie blocks ~10x that

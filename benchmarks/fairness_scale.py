"""Fairness and performance at scale: counts-based bootstrap against the bincount floor and fairlearn.

Generates ``--rows`` seeded rows (binary label, a score, one sensitive column with 4 groups of
unequal size: 50% / 30% / 15% / 5%) and prints

(a) the bincount floor: one ``np.bincount`` of group x label x decision on integer codes (the
    least any per-group confusion computation can do);
(b) ours: ``FairnessCheck.run`` on that one column with ``--replicates`` bootstrap replicates,
    through a minimal context (the same ``ctx.rng`` keys as the engine, no ``ctx.map``, so the
    blocks run in order in this process): point rates, disparities and intervals; the string
    group column is factorised inside the check, as in a real run;
(c) fairlearn ``MetricFrame`` with the same 6 group metrics (selection rate, TPR, FPR, FNR,
    precision, accuracy), point estimates only (``--skip-metricframe`` to leave it out: ~1 min);

with the ratios (ours / floor must be <= 50x) and peak memory (tracemalloc, a second run), then
the performance bootstrap (every binary metric, ``--replicates`` replicates) on the same rows.
``--old`` also times the previous row-index implementations on ``--old-rows`` rows.

    .venv/bin/python benchmarks/fairness_scale.py [--rows 1000000] [--replicates 200]
"""

from __future__ import annotations

import argparse
import hashlib
import time
import tracemalloc
import warnings
from types import SimpleNamespace

import numpy as np
import pandas as pd

from audit.checks.fairness import FairnessCheck, FairnessParams
from audit.metrics.binary import binary_metrics, bootstrap_indices
from audit.metrics.bootstrap import bootstrap_binary

GROUPS = np.array(["a", "b", "c", "d"])
SHARES = np.array([0.50, 0.30, 0.15, 0.05])


def make_rows(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(y, score, decision, group codes): the score is informative and shifted by group."""
    rng = np.random.default_rng(seed)
    g = rng.choice(4, size=n, p=SHARES)
    y = (rng.random(n) < np.array([0.55, 0.45, 0.40, 0.35])[g]).astype(np.int64)
    score = np.clip(rng.normal(0.35 + 0.3 * y + np.array([0.05, 0.0, -0.03, -0.08])[g], 0.2), 0.0, 1.0)
    return y, score, (score >= 0.5).astype(np.int64), g


class MiniContext:
    """What the fairness check reads: the schema, the test rows, predictions and seeded RNGs."""

    def __init__(self, y: np.ndarray, pred: np.ndarray, groups: np.ndarray, seed: int = 0) -> None:
        self.seed = seed
        self.schema = SimpleNamespace(classes=("0", "1"), group_columns=("group",))
        column = pd.Series(groups, name="group")  # built once, as a Dataset holds its sensitive columns
        self.data = SimpleNamespace(test=SimpleNamespace(y=y, groups=lambda c: column))
        self._pred = SimpleNamespace(pred=pred)

    def predict(self, model, dataset):  # noqa: ANN001, ANN201
        return self._pred

    def rng(self, *keys) -> np.random.Generator:  # noqa: ANN002 - as audit.context.Context.rng
        digest = hashlib.sha256(repr(keys).encode()).digest()
        return np.random.default_rng([self.seed, int.from_bytes(digest[:8], "little")])


def timed(fn, repeats: int = 1) -> tuple[float, object]:  # noqa: ANN001
    best, out = np.inf, None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def peak_mb(fn) -> float:  # noqa: ANN001
    tracemalloc.start()
    tracemalloc.reset_peak()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--replicates", type=int, default=200)
    ap.add_argument("--skip-metricframe", action="store_true")
    ap.add_argument("--old", action="store_true", help="also time the previous (B, n) index-matrix implementations")
    ap.add_argument("--old-rows", type=int, default=100_000)
    args = ap.parse_args()
    n, B = args.rows, args.replicates
    y, score, pred, g = make_rows(n)
    names = GROUPS[g]
    print(f"{n:,} rows, {B} bootstrap replicates, groups {dict(zip(GROUPS.tolist(), np.bincount(g).tolist(), strict=True))}")

    # (a) the floor: one bincount of group x label x decision on integer codes
    floor, _ = timed(lambda: np.bincount((g * 2 + y) * 2 + pred, minlength=16), repeats=5)
    factorise, _ = timed(lambda: pd.factorize(names, sort=True), repeats=3)

    # (b) ours: the whole check on one column, 200 replicates
    check = FairnessCheck(FairnessParams(bootstrap=B, min_group_size=30))
    model = SimpleNamespace(name="m")
    ours, result = timed(lambda: check.run(MiniContext(y, pred, names), model), repeats=3)
    ours_mem = peak_mb(lambda: check.run(MiniContext(y, pred, names), model))
    point_only, _ = timed(lambda: FairnessCheck(FairnessParams(bootstrap=0)).run(MiniContext(y, pred, names), model), repeats=3)
    dpd = next(m for m in result.metrics if m.metric == "demographic_parity_difference")
    print(f"(a) bincount floor (integer codes)            {floor * 1e3:9.1f} ms   (factorising the string column: {factorise * 1e3:.1f} ms)")
    print(f"(b) ours: fairness check, {B} replicates       {ours * 1e3:9.1f} ms   = {ours / floor:6.1f}x floor   peak {ours_mem:6.1f} MB (tracemalloc)")
    print(f"    ours, point estimates only                {point_only * 1e3:9.1f} ms   = {point_only / floor:6.1f}x floor")
    print(f"    demographic_parity_difference[group] = {dpd.value:.6f}  95% CI {dpd.ci}")
    print(f"    ours / floor <= 50x: {'yes' if ours / floor <= 50 else 'NO'}")

    # (c) fairlearn MetricFrame, point estimates only, same 6 metrics
    if not args.skip_metricframe:
        from fairlearn.metrics import (
            MetricFrame,
            false_negative_rate,
            false_positive_rate,
            selection_rate,
            true_positive_rate,
        )
        from sklearn.metrics import accuracy_score, precision_score

        metrics = {
            "selection_rate": selection_rate, "tpr": true_positive_rate, "fpr": false_positive_rate,
            "fnr": false_negative_rate, "precision": lambda a, b: precision_score(a, b, zero_division=0), "accuracy": accuracy_score,
        }
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mf_time, frame = timed(lambda: MetricFrame(metrics=metrics, y_true=y, y_pred=pred, sensitive_features=names).by_group)
        worst = max(
            abs(next(m.value for m in result.metrics if m.metric == k and m.group == f"group={grp}") - frame.loc[grp, k])
            for grp in GROUPS for k in metrics
        )
        print(f"(c) fairlearn MetricFrame, 6 metrics, point   {mf_time * 1e3:9.1f} ms   = {mf_time / floor:6.1f}x floor  ({mf_time / ours:.1f}x ours with {B} replicates)")
        print(f"    largest |ours - MetricFrame| over the 24 group rates: {worst:.2e}")

    # performance bootstrap on the same rows
    ctx = SimpleNamespace(rng=MiniContext(y, pred, names).rng)

    def rng_of(b: int) -> np.random.Generator:
        return ctx.rng("performance", "m", "overall", "block", b)

    perf_point, _ = timed(lambda: binary_metrics(y, pred, score))
    perf, boots = timed(lambda: bootstrap_binary(ctx, y, pred, score, B, rng_of))
    perf_mem = peak_mb(lambda: bootstrap_binary(ctx, y, pred, score, B, rng_of))
    auc = np.percentile(boots["roc_auc"], [2.5, 97.5])
    print(f"performance: point estimates (10 metrics)      {perf_point * 1e3:9.1f} ms")
    print(f"performance: bootstrap, {B} replicates         {perf * 1e3:9.1f} ms   peak {perf_mem:6.1f} MB (tracemalloc); roc_auc CI [{auc[0]:.5f}, {auc[1]:.5f}]")

    if args.old:
        m = min(args.old_rows, n)
        ys, ss, ps, gs = y[:m], score[:m], pred[:m], g[:m]
        from audit.checks.fairness import class_counts

        def old_fairness() -> None:
            idx = bootstrap_indices(m, B, np.random.default_rng(0), strata=gs * 2 + ys)
            class_counts(ys, ps, gs, 4, 2, idx)

        def new_fairness() -> None:
            check.run(MiniContext(ys, ps, GROUPS[gs]), model)

        def old_perf() -> None:
            binary_metrics(ys, ps, ss, bootstrap_indices(m, B, np.random.default_rng(0)))

        def new_perf() -> None:
            bootstrap_binary(ctx, ys, ps, ss, B, rng_of)

        for what, old, new in (("fairness bootstrap", old_fairness, new_fairness), ("performance bootstrap", old_perf, new_perf)):
            t_old, _ = timed(old)
            t_new, _ = timed(new)
            print(f"{what} on {m:,} rows: previous (B, n) indices {t_old * 1e3:8.1f} ms, peak {peak_mb(old):7.1f} MB; "
                  f"counts {t_new * 1e3:8.1f} ms, peak {peak_mb(new):6.1f} MB")


if __name__ == "__main__":
    main()

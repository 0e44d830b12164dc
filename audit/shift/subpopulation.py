"""Subpopulation shift: retrain the audited model's recipe on one subpopulation, test on the rest.

The retrained model uses the suite's own recipe, validated parameters and seed, and goes through
``audit.models.build`` so its artefact is cached by content hash like any suite model. It is
scored on the in-condition test rows (the reference: same population as its training data) and
on the out-of-condition test rows (the shifted population).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from audit.metrics.binary import DIRECTION, METRICS, binary_metrics, bootstrap_indices, percentile_ci

if TYPE_CHECKING:
    from audit.context import Context
    from audit.models.base import ModelAdapter


def retrain(
    ctx: Context, model: ModelAdapter, rows: np.ndarray, scenario: str, overrides: dict[str, dict] | None = None
) -> tuple[ModelAdapter | None, str]:
    """The model's recipe fitted on the train rows in ``rows`` (see :meth:`Context.retrain`)."""
    return ctx.retrain(model, rows, scenario, overrides)


def metric_drops(
    reference: tuple[np.ndarray, np.ndarray, np.ndarray],
    shifted: tuple[np.ndarray, np.ndarray, np.ndarray],
    rngs: tuple[np.random.Generator, np.random.Generator],
    n_boot: int,
    confidence: float,
) -> dict[str, dict[str, object]]:
    """Per metric: reference and shifted values, the drop, and their bootstrap intervals.

    ``reference`` / ``shifted`` are (y, y_hat, score). Drop = how much worse the shifted side is:
    reference - shifted for higher-is-better metrics, shifted - reference for lower-is-better ones
    (log_loss, brier, ece). The sides are resampled independently (they are disjoint rows) and
    the interval is the percentile interval of the replicate-wise differences.
    """
    ref_point, shift_point = binary_metrics(*reference), binary_metrics(*shifted)
    ref_boot = shift_boot = None
    if n_boot:
        ref_boot = binary_metrics(*reference, bootstrap_indices(len(reference[0]), n_boot, rngs[0]))
        shift_boot = binary_metrics(*shifted, bootstrap_indices(len(shifted[0]), n_boot, rngs[1]))
    out: dict[str, dict[str, object]] = {}
    for name in METRICS:
        sign = 1.0 if DIRECTION[name] == "higher" else -1.0
        drop = sign * (float(ref_point[name]) - float(shift_point[name]))
        ci = ref_ci = shift_ci = None
        if ref_boot is not None and shift_boot is not None:
            ci = percentile_ci(sign * (ref_boot[name] - shift_boot[name]), confidence)
            ref_ci, shift_ci = percentile_ci(ref_boot[name], confidence), percentile_ci(shift_boot[name], confidence)
        out[name] = {"reference": float(ref_point[name]), "reference_ci": ref_ci, "shifted": float(shift_point[name]), "shifted_ci": shift_ci, "drop": drop, "ci": ci}
    return out

"""The smallest change of mutable features that flips a model's decision on one row.

The what-if explorer asks: what would this applicant have to change for the decision to go the
other way? Candidates come from DiCE (``dice-ml``, Mothilal et al. 2020; its model-agnostic
random sampler, seeded, restricted to ``features_to_vary``), and each candidate is then shrunk:
every changed feature is put back to its original value when the decision still flips without
the change, and a changed number is moved back towards its original value (bisection) as far as
the decision still flips. The smallest result wins: fewest changed features, then the smallest
distance (numbers in units of the feature's median absolute deviation on the background rows,
one per changed category, DiCE's own proximity measure). It is the smallest change *found*, not
a proven minimum. Every candidate is re-scored with the run's model before it is accepted, so
what is shown flips the decision, and only features in ``mutable`` ever change.

The model decides by the larger class probability (``ModelAdapter.predict`` is an argmax), so
for a binary target the decision threshold is 0.5 on the positive-class score.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

THRESHOLD = 0.5  # argmax of two class probabilities: positive when its score exceeds 0.5
_DICE_LOCK = threading.Lock()  # DiCE seeds the global ``random`` and numpy generators


class NoCounterfactual(Exception):
    """No change of the allowed features that flips the decision was found; the message says what was tried."""


def decide(score: float, threshold: float = THRESHOLD) -> bool:
    """True for the positive class: its probability beats the other's (ties go to the first class)."""
    return bool(score > threshold)


@dataclass
class Counterfactual:
    """One row changed on mutable features only, re-scored with the run's model."""

    row: pd.DataFrame  # one row, the original's columns and dtypes
    changes: list[tuple[str, Any, Any]]  # (feature, original value, new value)
    score: float  # positive-class probability of ``row``
    original_score: float
    distance: float  # sum of |change| / MAD over numbers plus one per changed category
    candidates: int  # DiCE candidates that flipped the decision before shrinking
    method: str
    notes: list[str] = field(default_factory=list)

    @property
    def flips(self) -> bool:
        return decide(self.score) != decide(self.original_score)


def search(
    score: Callable[[pd.DataFrame], np.ndarray],
    row: pd.DataFrame,
    background: pd.DataFrame,
    *,
    numeric: Sequence[str],
    mutable: Sequence[str],
    total: int = 12,
    seed: int = 0,
) -> Counterfactual:
    """The smallest change of ``mutable`` features of the one-row frame ``row`` that flips its decision.

    ``score`` maps rows to positive-class probabilities (the run's model); ``background`` holds
    rows of the same columns (the explain check's background rows) from which DiCE learns each
    feature's range and categories and the MADs are taken. Raises ``NoCounterfactual``.
    """
    if len(row) != 1:
        raise ValueError(f"search one row at a time; got {len(row)} rows")
    features = list(row.columns)
    unknown = [f for f in mutable if f not in features]
    if unknown:
        raise ValueError(f"not features of the model: {', '.join(unknown)}")
    if not mutable:
        raise NoCounterfactual("no feature may change: pick at least one mutable feature")
    original = float(score(row)[0])
    mads = _mads(background, numeric)
    found = [c for c in _dice(score, row, background, numeric, mutable, total, seed) if _flips(score, c, original)]
    if not found:
        raise NoCounterfactual(
            f"DiCE found no change of {', '.join(mutable)} that flips the decision ({total} candidates asked, seed {seed})"
        )
    best = None
    for candidate in found:
        shrunk = _shrink(score, row, candidate, original, numeric)
        ranked = (len(_changed(row, shrunk)), _distance(row, shrunk, numeric, mads))
        if best is None or ranked < best[0]:
            best = (ranked, shrunk)
    assert best is not None
    (_, distance), final = best
    new_score = float(score(final)[0])
    changes = [(f, row[f].iloc[0], final[f].iloc[0]) for f in _changed(row, final)]
    if decide(new_score) == decide(original) or any(f not in mutable for f, _, _ in changes):
        raise NoCounterfactual("the shrunk candidate no longer flips the decision")  # guarded, never expected
    return Counterfactual(
        row=final,
        changes=changes,
        score=new_score,
        original_score=original,
        distance=distance,
        candidates=len(found),
        method=f"DiCE random sampling ({total} candidates, seed {seed}), each shrunk while the decision still flips",
    )


def _dice(
    score: Callable[[pd.DataFrame], np.ndarray],
    row: pd.DataFrame,
    background: pd.DataFrame,
    numeric: Sequence[str],
    mutable: Sequence[str],
    total: int,
    seed: int,
) -> list[pd.DataFrame]:
    """DiCE's candidates as one-row frames with the original dtypes (none when it finds none)."""
    try:
        import dice_ml
        from raiutils.exceptions import UserConfigValidationException
    except ImportError:
        raise NoCounterfactual(
            "the search needs DiCE: pip install --no-deps 'dice-ml>=0.12,<0.13' 'raiutils>=0.4,<0.5' "
            "(scripts/setup.sh does; the audit[counterfactual] extra installs it with its xgboost and lightgbm requirements)"
        ) from None

    outcome = "__decision__"
    while outcome in row.columns:
        outcome += "_"
    data = background[list(row.columns)].copy()
    data[outcome] = [int(decide(s)) for s in score(data)]
    categorical = [c for c in row.columns if c not in numeric]
    for column in categorical:  # DiCE compares categories as text
        data[column] = data[column].astype(str)
    query = row.copy()
    for column in categorical:
        query[column] = query[column].astype(str)

    class _Model:  # DiCE's sklearn backend calls predict_proba on frames of the raw features
        def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
            p = np.asarray(score(_typed(pd.DataFrame(X)[list(row.columns)], row)), dtype=np.float64)
            return np.column_stack([1.0 - p, p])

        def predict(self, X: pd.DataFrame) -> np.ndarray:
            return (self.predict_proba(X)[:, 1] > THRESHOLD).astype(int)

    with _DICE_LOCK:
        state_np, state_py = np.random.get_state(), random.getstate()
        try:
            explainer = dice_ml.Dice(
                dice_ml.Data(
                    dataframe=data, continuous_features=[c for c in numeric if c in row.columns], outcome_name=outcome
                ),
                dice_ml.Model(model=_Model(), backend="sklearn", model_type="classifier"),
                method="random",
            )
            result = explainer.generate_counterfactuals(
                query, total_CFs=total, desired_class="opposite", features_to_vary=list(mutable), random_seed=seed
            )
        except UserConfigValidationException:  # DiCE raises when it finds no counterfactual at all
            return []
        finally:
            np.random.set_state(state_np)
            random.setstate(state_py)
    frame = result.cf_examples_list[0].final_cfs_df
    if frame is None or frame.empty:
        return []
    return [_typed(frame.iloc[[i]][list(row.columns)].reset_index(drop=True), row) for i in range(len(frame))]


def _typed(frame: pd.DataFrame, like: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with the dtypes of ``like`` (DiCE hands back text and floats)."""
    out = frame.copy()
    for column in like.columns:
        dtype = like[column].dtype
        try:
            if pd.api.types.is_integer_dtype(dtype):
                out[column] = pd.to_numeric(out[column]).round().astype(dtype)
            elif pd.api.types.is_float_dtype(dtype):
                out[column] = pd.to_numeric(out[column]).astype(dtype)
            elif isinstance(dtype, pd.CategoricalDtype):
                out[column] = pd.Categorical(out[column].astype(str), categories=dtype.categories)
            else:
                out[column] = out[column].astype(dtype)
        except (TypeError, ValueError):
            out[column] = out[column].astype(object)
    return out.reset_index(drop=True)


def _flips(score: Callable[[pd.DataFrame], np.ndarray], candidate: pd.DataFrame, original: float) -> bool:
    return decide(float(score(candidate)[0])) != decide(original)


def _same(a: Any, b: Any) -> bool:
    if pd.isna(a) and pd.isna(b):
        return True
    try:
        return bool(a == b) or str(a) == str(b)
    except (TypeError, ValueError):
        return False


def _changed(row: pd.DataFrame, other: pd.DataFrame) -> list[str]:
    return [c for c in row.columns if not _same(row[c].iloc[0], other[c].iloc[0])]


def _mads(background: pd.DataFrame, numeric: Sequence[str]) -> dict[str, float]:
    """Median absolute deviation per number (DiCE's scale); the std, then 1, where it is 0."""
    out = {}
    for column in numeric:
        values = pd.to_numeric(background[column], errors="coerce").dropna().to_numpy(dtype=np.float64)
        mad = float(np.median(np.abs(values - np.median(values)))) if len(values) else 0.0
        spread = float(np.std(values)) if len(values) else 0.0
        out[column] = mad or spread or 1.0
    return out


def _distance(row: pd.DataFrame, other: pd.DataFrame, numeric: Sequence[str], mads: dict[str, float]) -> float:
    total = 0.0
    for column in _changed(row, other):
        if column in numeric:
            total += abs(float(other[column].iloc[0]) - float(row[column].iloc[0])) / mads.get(column, 1.0)
        else:
            total += 1.0
    return total


def _shrink(
    score: Callable[[pd.DataFrame], np.ndarray],
    row: pd.DataFrame,
    candidate: pd.DataFrame,
    original: float,
    numeric: Sequence[str],
) -> pd.DataFrame:
    """``candidate`` with every change that is not needed for the flip undone, numbers moved back."""
    current = candidate.copy()
    for column in _changed(row, current):  # drop whole changes first: fewer features changed
        trial = current.copy()
        trial[column] = row[column].to_numpy()
        if _flips(score, trial, original):
            current = trial
    for column in _changed(row, current):  # then move each changed number back towards the original
        if column in numeric:
            current = _bisect(score, row, current, column, original)
    return current


def _bisect(
    score: Callable[[pd.DataFrame], np.ndarray],
    row: pd.DataFrame,
    current: pd.DataFrame,
    column: str,
    original: float,
    steps: int = 12,
) -> pd.DataFrame:
    """The value of ``column`` closest to the original (on the way to the candidate's) that still flips."""
    start, end = float(row[column].iloc[0]), float(current[column].iloc[0])
    integral = pd.api.types.is_integer_dtype(current[column].dtype)
    best = current
    lo, hi = 0.0, 1.0  # fraction of the way from the original value to the candidate's
    for _ in range(steps):
        mid = (lo + hi) / 2
        value = start + mid * (end - start)
        if integral:  # round away from the original so the step is not lost
            value = float(np.ceil(value) if end > start else np.floor(value))
        trial = current.copy()
        trial[column] = np.array([value]).astype(current[column].dtype)
        if _flips(score, trial, original):
            best, hi = trial, mid
        else:
            lo = mid
        if integral and abs(hi - lo) * abs(end - start) < 1:
            break
    return best

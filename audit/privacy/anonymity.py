"""Re-identification risk of a table from its quasi-identifiers: k-anonymity and l-diversity.

Definitions (Sweeney, 2002; Machanavajjhala et al., 2007), over the rows of one table:

* an *equivalence class* is a set of rows sharing every quasi-identifier value (a missing value
  counts as a value of its own, so it is never silently dropped);
* ``k_anonymity``: the size of the smallest equivalence class (every row hides among at least
  k - 1 others);
* ``l_diversity``: the smallest number of distinct sensitive values within a class (distinct
  l-diversity: an attacker who places a row in its class learns the sensitive value when l = 1);
* ``unique_share``: share of rows alone in their class (re-identifiable from the QIs alone);
* ``share_below_k``: share of rows in classes smaller than a threshold k;
* ``uniqueness[<qi>]``: share of rows whose value of that single column no other row has,
  which shows the column that drives re-identification.

A numeric quasi-identifier can be *generalised* into quantile bins first (``generalise``), the
usual way to trade detail for anonymity (ages 23 and 24 both become "(21.9, 30.0]").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from audit.lazy import pandas as pd  # imported on first use (audit validate stays light)

MISSING = "(missing)"
# columns of ``AnonymityReport.classes`` besides the quasi-identifiers (names no data column uses)
SIZE, DISTINCT, SENSITIVE = "__size__", "__distinct_sensitive__", "__sensitive__"


def generalise(values: pd.Series, bins: int) -> pd.Series:
    """``values`` replaced by the label of their quantile bin (``pd.qcut``, equal-count bins over
    these rows, lowest edge included, duplicate edges merged); missing values stay missing."""
    if bins < 1:
        raise ValueError(f"bins must be at least 1, got {bins}")
    numeric = pd.to_numeric(values, errors="raise").astype(float)
    if numeric.notna().sum() == 0:
        return values.astype(object)
    binned = pd.qcut(numeric, q=bins, duplicates="drop")
    return binned.astype(object).where(binned.notna(), np.nan).map(lambda v: v if _missing(v) else str(v))


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))


def _keys(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """The columns as hashable group keys: a missing value becomes the label ``(missing)``."""
    out = frame[columns].astype(object)
    return out.where(out.notna(), MISSING)


@dataclass
class AnonymityReport:
    n: int
    k_anonymity: int | None
    l_diversity: int | None
    unique_share: float | None
    share_below_k: float | None
    equivalence_classes: int
    uniqueness: dict[str, float | None]
    classes: pd.DataFrame  # one row per class: QI values, SIZE and DISTINCT, smallest class first


def anonymity(frame: pd.DataFrame, quasi_identifiers: list[str], sensitive: str | None = None, k_threshold: int = 5) -> AnonymityReport:
    """k-anonymity, l-diversity and uniqueness of ``frame`` over ``quasi_identifiers``.

    ``sensitive`` names the column whose diversity within each class is measured (None: no
    l-diversity). Values are compared as they are: generalise numeric columns before calling.
    """
    qis = list(quasi_identifiers)
    if not qis:
        raise ValueError("at least one quasi-identifier is needed")
    missing = [c for c in [*qis, *([sensitive] if sensitive else [])] if c not in frame.columns]
    if missing:
        raise KeyError(f"no column {missing[0]!r}")
    n = len(frame)
    keys = _keys(frame, qis)
    uniqueness: dict[str, float | None] = {}
    for column in qis:
        counts = keys[column].map(keys[column].value_counts(dropna=False))
        uniqueness[column] = float((counts == 1).mean()) if n else None
    if n == 0:
        empty = pd.DataFrame(columns=[*qis, SIZE, DISTINCT])
        return AnonymityReport(0, None, None, None, None, 0, uniqueness, empty)
    table = keys.copy()
    table[SENSITIVE] = _keys(frame, [sensitive])[sensitive].to_numpy() if sensitive is not None else 0
    grouped = table.groupby(qis, sort=False, dropna=False)[SENSITIVE]
    classes = pd.concat([grouped.size().rename(SIZE), grouped.nunique().rename(DISTINCT)], axis=1).reset_index()
    if sensitive is None:
        classes[DISTINCT] = np.nan
    classes = classes.sort_values([SIZE, *qis], kind="stable", key=lambda s: s if s.name == SIZE else s.astype(str)).reset_index(drop=True)
    sizes = classes[SIZE].to_numpy()
    return AnonymityReport(
        n=n,
        k_anonymity=int(sizes.min()),
        l_diversity=int(classes[DISTINCT].min()) if sensitive is not None else None,
        unique_share=float(sizes[sizes == 1].sum() / n),
        share_below_k=float(sizes[sizes < k_threshold].sum() / n),
        equivalence_classes=len(classes),
        uniqueness=uniqueness,
        classes=classes,
    )

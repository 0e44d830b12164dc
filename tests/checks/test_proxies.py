"""Cramér's V from integer codes equals the string cross-table it replaced (pandas + scipy)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats.contingency import association

from audit.explain.proxies import associations


def reference(X, sensitive, columns, features, bins=5):
    """The former implementation: quantile-bin labels / strings, ``pd.crosstab``, scipy's V."""
    def labels(column):
        if pd.api.types.is_numeric_dtype(column) and column.nunique() > bins:
            out = pd.qcut(column, q=bins, duplicates="drop").astype(str)
        else:
            out = column.astype(str)
        return out.where(column.notna(), "<missing>").reset_index(drop=True)

    def v(a, b):
        table = pd.crosstab(a.reset_index(drop=True), b.reset_index(drop=True)).to_numpy()
        return 0.0 if min(table.shape) < 2 else float(association(table, method="cramer"))

    return {s: {f: v(sensitive[s].astype(str), labels(X[f])) for f in features} for s in columns}


def test_associations_equal_the_string_crosstab_on_german_credit():
    from audit.data.builtin import load_german_credit

    frame = load_german_credit()[0]
    rng = np.random.default_rng(0)
    frame.loc[rng.choice(len(frame), 40, replace=False), "credit_amount"] = np.nan
    frame.loc[rng.choice(len(frame), 30, replace=False), "purpose"] = None
    frame["constant"] = "x"
    features = [c for c in frame.columns if c not in ("credit_risk", "sex", "age_group")]
    sensitive = frame[["sex", "age_group", "foreign_worker"]]
    ours = associations(frame, sensitive, list(sensitive), features)
    theirs = reference(frame, sensitive, list(sensitive), features)
    for s in sensitive:
        for f in features:
            assert ours[s][f] == pytest.approx(theirs[s][f], abs=1e-12), (s, f)
    assert ours["sex"]["personal_status_sex"] > 0.9 and ours["sex"]["constant"] == 0.0

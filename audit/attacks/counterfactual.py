"""Counterfactual copies of a test set in which only a sensitive attribute changes.

A sensitive column (``sex``, ``age_group``) is usually not a model input itself; it is derived
from a raw feature (``personal_status_sex``, ``age``). A ``CounterfactualSpec`` names that source
feature and one way to change it:

* ``swap``: categorical feature, ``{value: counterfactual value}``; rows holding a value that is
  not a key stay as they are and are left out of the flip rate;
* ``set_to``: numeric feature, a new value for every row, or ``{group: value}`` per group of the
  sensitive column (rows in unlisted groups are left out);
* ``shift_by``: numeric feature, an amount to add, for every row or ``{group: amount}``.

Values are validated against the data so a typo cannot silently produce an all-zero one-hot row.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from audit.data.base import Schema
from audit.errors import CheckError
from audit.lazy import pandas as pd  # imported on first use (audit validate stays light)
from audit.registry import suggest


class CounterfactualSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    feature: str = Field(description="Raw feature that carries the attribute, e.g. personal_status_sex for sex.")
    swap: dict[str, str] | None = Field(None, description="Categorical feature: value -> counterfactual value.")
    set_to: float | dict[str, float] | None = Field(None, description="Numeric feature: new value, for all rows or per group of the sensitive column.")
    shift_by: float | dict[str, float] | None = Field(None, description="Numeric feature: amount added, for all rows or per group.")

    @field_validator("swap", mode="before")
    @classmethod
    def _strings(cls, value: Any) -> Any:
        if isinstance(value, dict):
            for item in (*value.keys(), *value.values()):
                if isinstance(item, bool) or item is None:
                    raise ValueError(f"swap keys and values must be text; quote YAML words such as yes/no/on/off/null (got {item!r})")
            return {str(k): str(v) for k, v in value.items()}
        return value

    @model_validator(mode="after")
    def _one_mode(self) -> CounterfactualSpec:
        given = [k for k in ("swap", "set_to", "shift_by") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of swap, set_to, shift_by (got {', '.join(given) or 'none'})")
        return self

    @property
    def mode(self) -> str:
        return next(k for k in ("swap", "set_to", "shift_by") if getattr(self, k) is not None)


def default_specs(schema: Schema, train_X: pd.DataFrame) -> dict[str, CounterfactualSpec]:
    """A swap for every sensitive column that is itself a two-valued categorical feature."""
    specs = {}
    for column in schema.sensitive:
        if column in schema.categorical:
            values = sorted(train_X[column].dropna().astype(str).unique())
            if len(values) == 2:
                specs[column] = CounterfactualSpec(feature=column, swap={values[0]: values[1], values[1]: values[0]})
    return specs


def build_counterfactual(attribute: str, spec: CounterfactualSpec, X: pd.DataFrame, sensitive: pd.DataFrame,
                         schema: Schema, train_X: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """(counterfactual copy of ``X``, boolean mask of the rows that were changed).

    ``sensitive`` holds the sensitive columns of the same rows (for per-group values).
    """
    where = f"robustness: counterfactuals.{attribute}"
    if attribute not in schema.sensitive or attribute not in sensitive.columns:
        raise CheckError(f"{where}: '{attribute}' is not a sensitive column; {suggest(attribute, list(schema.sensitive))}")
    groups = sensitive[attribute]
    if spec.feature not in schema.features:
        raise CheckError(f"{where}.feature: '{spec.feature}' is not a feature of the data; {suggest(spec.feature, list(schema.features))}")
    numeric = spec.feature in schema.numeric
    if spec.mode == "swap" and numeric:
        raise CheckError(f"{where}.swap: '{spec.feature}' is numeric; use set_to or shift_by")
    if spec.mode != "swap" and not numeric:
        raise CheckError(f"{where}.{spec.mode}: '{spec.feature}' is categorical; use swap")
    column = X[spec.feature]
    out = X.copy()
    if spec.mode == "swap":
        seen = {str(v): v for v in train_X[spec.feature].dropna().unique()}
        for i, value in enumerate((*spec.swap.keys(), *spec.swap.values())):
            if value not in seen:
                part = "key" if i < len(spec.swap) else "value"
                raise CheckError(f"{where}.swap: {part} '{value}' is not a value of '{spec.feature}'; {suggest(value, list(seen))}")
        text = column.astype(str)
        changed = text.isin(list(spec.swap)).to_numpy() & column.notna().to_numpy()
        out[spec.feature] = column.where(~changed, text.map({k: seen[v] for k, v in spec.swap.items()}))
        return out, changed
    amount = spec.set_to if spec.mode == "set_to" else spec.shift_by
    if isinstance(amount, dict):
        known = sorted(groups.astype(str).unique())
        for group in amount:
            if group not in known:
                raise CheckError(f"{where}.{spec.mode}: no group '{group}' in '{attribute}'; groups: {', '.join(known)}")
        per_row = groups.astype(str).map(amount)
        changed = per_row.notna().to_numpy().copy()
        values = per_row.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        changed = np.ones(len(X), dtype=bool)
        values = np.full(len(X), float(amount))
    base = column.to_numpy(dtype=np.float64, na_value=np.nan)
    new = values if spec.mode == "set_to" else base + values
    changed &= np.isfinite(new) & ~(new == base)  # a row that keeps its value is no counterfactual
    out[spec.feature] = np.where(changed, new, base)
    return out, changed

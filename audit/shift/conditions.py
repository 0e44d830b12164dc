"""A small, safe condition language that selects the rows of a subpopulation.

A suite declares a condition as data, never as code (nothing is ``eval``-ed)::

    {name: older, column: age, op: ">=", value: 30}
    {name: common_purpose, column: purpose, in: [car (new), radio/television]}

``column`` is a feature or a sensitive column. ``op`` is one of ``< <= > >= == !=``; the ordering
operators need a numeric column and a numeric value, ``==`` / ``!=`` compare categorical values
as text. ``in`` lists accepted values. Rows where the column is missing never match. YAML reads
unquoted ``yes`` / ``no`` / ``true`` as booleans; booleans are rejected, so quote such categories.
"""

from __future__ import annotations

import operator
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from audit.data.base import Dataset
from audit.errors import CheckError
from audit.lazy import pandas as pd  # imported on first use (audit validate stays light)
from audit.registry import suggest

NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$"
ORDERING = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
EQUALITY = {"==": operator.eq, "!=": operator.ne}
Scalar = str | int | float


class Condition(BaseModel):
    """A named subpopulation: ``column op value`` or ``column in [values]``."""

    model_config = ConfigDict(extra="forbid", validate_by_alias=True, validate_by_name=False, serialize_by_alias=True)

    name: str = Field(pattern=NAME_PATTERN, description="Scenario name, used in metric paths (letters, digits, _ . -).")
    column: str = Field(min_length=1, description="A feature or sensitive column.")
    op: Literal["<", "<=", ">", ">=", "==", "!="] | None = Field(None, description="Comparison with 'value'.")
    value: Scalar | None = Field(None, description="Right-hand side of 'op'.")
    in_: list[Scalar] | None = Field(None, alias="in", min_length=1, max_length=1000, description="Accepted values (instead of op/value).")

    @field_validator("value", "in_", mode="before")
    @classmethod
    def _no_booleans(cls, value: object) -> object:
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, bool):
                raise ValueError(f"YAML read {item!r} as a boolean; quote category names such as 'yes' or 'no'")
        return value

    @model_validator(mode="after")
    def _one_form(self) -> Condition:
        if self.in_ is not None and (self.op is not None or self.value is not None):
            raise ValueError(f"condition '{self.name}': give either 'op' with 'value' or 'in', not both")
        if self.in_ is None and self.op is None:
            raise ValueError(f"condition '{self.name}': give 'op' and 'value' (e.g. op: '<', value: 30) or 'in: [...]'")
        if self.op is not None and self.value is None:
            raise ValueError(f"condition '{self.name}': op '{self.op}' needs a 'value'")
        if self.op in ORDERING and not _is_number(self.value):
            raise ValueError(f"condition '{self.name}': op '{self.op}' compares numbers; got value {self.value!r}")
        return self

    def describe(self) -> str:
        if self.in_ is not None:
            return f"{self.column} in [{', '.join(map(str, self.in_))}]"
        return f"{self.column} {self.op} {self.value}"

    def mask(self, data: Dataset) -> np.ndarray:
        """Boolean mask of the rows of ``data`` that satisfy the condition."""
        column = self._column(data)
        present = column.notna().to_numpy()
        numeric = pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)
        if self.op in ORDERING and not numeric:
            raise CheckError(
                f"scenario '{self.name}': op '{self.op}' needs a numeric column; '{self.column}' is categorical "
                "(use '==', '!=' or 'in')"
            )
        if numeric:
            values = column.to_numpy(dtype=np.float64)
            targets = [self._number(v) for v in (self.in_ if self.in_ is not None else [self.value])]
        else:
            values = column.astype(object).map(str).to_numpy(dtype=object)
            targets = [str(v) for v in (self.in_ if self.in_ is not None else [self.value])]
        if self.in_ is not None:
            hit = np.isin(values, np.asarray(targets, dtype=values.dtype))
        else:
            hit = np.asarray({**ORDERING, **EQUALITY}[self.op](values, targets[0]), dtype=bool)
        return hit & present

    def _column(self, data: Dataset) -> pd.Series:
        if isinstance(data.X, pd.DataFrame) and self.column in data.X.columns:
            return data.X[self.column]
        if self.column in data.sensitive.columns:
            return data.sensitive[self.column]
        known = [str(c) for c in getattr(data.X, "columns", [])] + [str(c) for c in data.sensitive.columns]
        raise CheckError(f"scenario '{self.name}': no column '{self.column}' among the features or sensitive columns; {suggest(self.column, known)}")

    def _number(self, value: Scalar) -> float:
        if _is_number(value):
            return float(value)
        raise CheckError(f"scenario '{self.name}': column '{self.column}' is numeric, but the condition compares it with {value!r}")


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)

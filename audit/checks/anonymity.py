"""``privacy`` (variant ``anonymity``): how re-identifiable are the rows from their quasi-identifiers?

Runs once per run on the data (scope ``data``). The suite names the quasi-identifiers (QIs):
columns an attacker can learn elsewhere (age, sex, postcode, job) and link back to a row. Rows
sharing every QI value form an *equivalence class*; definitions in :mod:`audit.privacy.anonymity`.

Parameters: ``quasi_identifiers`` (feature or sensitive columns), ``sensitive_attribute`` (the
column whose diversity within a class is measured; default the target), ``bins`` (numeric QIs
generalised into that many quantile bins, computed on the rows assessed; other numeric QIs are
compared as they are), ``k_threshold`` (rows in classes smaller than it are counted as at risk),
``dataset`` (``all``: train and test together, the table one would release; or one of them).

Metric paths: ``data/privacy/k_anonymity``, ``l_diversity``, ``unique_share``, ``share_below_k``,
``equivalence_classes`` and ``uniqueness[<qi>]``. Tables: ``smallest_classes`` (the 20 smallest
classes with their QI values: data values, shown so the author sees which combinations are
rare) and ``quasi_identifiers`` (per column: distinct values, share of rows unique on it alone).
A typical gate: ``data/privacy/k_anonymity >= 5``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import Field, model_validator

from audit.checks.base import Check, CheckParams, CheckResult, MetricSpec, json_cell
from audit.errors import CheckError
from audit.lazy import pandas as pd  # imported on first use (audit validate stays light)
from audit.registry import suggest

if TYPE_CHECKING:
    from audit.context import Context
    from audit.data.base import Dataset
    from audit.models.base import ModelAdapter

SMALLEST = 20  # classes listed in the ``smallest_classes`` table


class AnonymityParams(CheckParams):
    quasi_identifiers: list[str] = Field(..., min_length=1, description="Columns an attacker could link to other sources (feature or sensitive columns).")
    sensitive_attribute: str | None = Field(None, description="Column whose distinct values per equivalence class give the l-diversity (default: the target).")
    bins: dict[str, int] = Field(default_factory=dict, description="Numeric quasi-identifiers generalised into this many quantile bins before grouping.")
    k_threshold: int = Field(5, ge=2, description="Rows in equivalence classes smaller than this count towards share_below_k.")
    dataset: Literal["all", "train", "test"] = Field("all", description="Rows assessed: train and test together, or one of them.")

    @model_validator(mode="after")
    def _consistent(self) -> AnonymityParams:
        seen: set[str] = set()
        for column in self.quasi_identifiers:
            if column in seen:
                raise ValueError(f"quasi_identifiers: '{column}' is listed twice")
            seen.add(column)
        for column, n in self.bins.items():
            if column not in seen:
                raise ValueError(f"bins: '{column}' is not one of the quasi_identifiers {self.quasi_identifiers}")
            if n < 2:
                raise ValueError(f"bins: '{column}' needs at least 2 bins, got {n}")
        if self.sensitive_attribute is not None and self.sensitive_attribute in seen:
            raise ValueError(f"sensitive_attribute: '{self.sensitive_attribute}' is also a quasi-identifier; every class would have l = 1")
        return self


class AnonymityCheck(Check):
    requires = ()
    name = "privacy_anonymity"
    pillar = "privacy"
    Params = AnonymityParams
    scope = "data"
    modalities = ("tabular",)
    metrics = (
        MetricSpec("k_anonymity", "higher", "rows"),
        MetricSpec("l_diversity", "higher", "values"),
        MetricSpec("unique_share", "lower"),
        MetricSpec("share_below_k", "lower"),
        MetricSpec("equivalence_classes", None, "classes"),
        MetricSpec("uniqueness", "lower"),
    )

    def run(self, ctx: Context, model: ModelAdapter | None) -> CheckResult:
        from audit.privacy.anonymity import DISTINCT, SIZE, anonymity, generalise

        p: AnonymityParams = self.params
        schema = ctx.schema
        if schema.modality != "tabular" or not isinstance(ctx.data.train.X, pd.DataFrame):
            raise CheckError(f"privacy (anonymity) groups rows of a table; this suite's data is {schema.modality}")
        sensitive = p.sensitive_attribute or schema.target
        frame = self._table(ctx, [*p.quasi_identifiers, sensitive])
        qis = list(p.quasi_identifiers)
        for column, n_bins in p.bins.items():
            if not pd.api.types.is_numeric_dtype(frame[column]):
                raise CheckError(f"bins: '{column}' is not numeric, so it cannot be cut into quantile bins; list it without bins")
            frame[column] = generalise(frame[column], n_bins)
        report = anonymity(frame, qis, sensitive, p.k_threshold)
        result = CheckResult(self.check_name, "data")
        n = report.n
        if n == 0:
            reason = f"the {p.dataset} rows are empty"
            for metric in ("k_anonymity", "l_diversity", "unique_share", "share_below_k"):
                result.add(metric, None, n=0, reason=reason)
            result.warn(f"privacy (anonymity): {reason}; nothing to assess")
            return result
        result.add("k_anonymity", report.k_anonymity, n=n)
        result.add("l_diversity", report.l_diversity, n=n)
        result.add("unique_share", report.unique_share, n=n)
        result.add("share_below_k", report.share_below_k, n=n)
        result.add("equivalence_classes", report.equivalence_classes, n=n)
        for column, share in report.uniqueness.items():
            result.add("uniqueness", share, n=n, group=column)

        smallest = report.classes.head(SMALLEST)
        result.table("smallest_classes", [
            {**{c: json_cell(row[c]) for c in qis}, "rows": int(row[SIZE]), f"distinct {sensitive}": int(row[DISTINCT])}
            for _, row in smallest.iterrows()
        ])
        per_qi = []
        for column in qis:
            values = frame[column]
            per_qi.append({
                "quasi_identifier": column,
                "generalised": f"{p.bins[column]} quantile bins" if column in p.bins else "as is",
                "distinct_values": int(values.nunique(dropna=False)),
                "unique_share": report.uniqueness[column],
            })
        result.table("quasi_identifiers", per_qi)
        result.figure(
            "bar", title=f"Share of rows unique on one quasi-identifier (k-anonymity over all of them: {report.k_anonymity})",
            labels=qis, values=[report.uniqueness[c] for c in qis], horizontal=True, x_label="share of rows unique on the column",
            caption=(f"{report.equivalence_classes} equivalence classes over {n} {p.dataset} rows; "
                     f"{report.unique_share:.1%} of rows are unique on the quasi-identifiers, "
                     f"{report.share_below_k:.1%} sit in classes smaller than {p.k_threshold}."),
        )
        return result

    def _table(self, ctx: Context, columns: list[str]) -> pd.DataFrame:
        """The assessed rows with ``columns``: features as they are (raw), sensitive columns as
        strings (when not also features), the target as its label values."""
        p: AnonymityParams = self.params
        schema = ctx.schema
        available = [*schema.features, *[c for c in schema.sensitive if c not in schema.features], schema.target]
        for i, column in enumerate(p.quasi_identifiers):
            if column not in available[:-1]:
                where = "the target" if column == schema.target else "not a feature or sensitive column of the data"
                raise CheckError(f"quasi_identifiers[{i}]: '{column}' is {where}; {suggest(column, available[:-1])}")
        if p.sensitive_attribute is not None and p.sensitive_attribute not in available:
            raise CheckError(f"sensitive_attribute: '{p.sensitive_attribute}' is not a column of the data; {suggest(p.sensitive_attribute, available)}")
        parts = [ctx.data.train, ctx.data.test] if p.dataset == "all" else [getattr(ctx.data, p.dataset)]
        return pd.concat([_columns(d, columns, schema) for d in parts], ignore_index=True)


def _columns(dataset: Dataset, columns: list[str], schema: Any) -> pd.DataFrame:
    out: dict[str, Any] = {}
    for column in dict.fromkeys(columns):
        if column in dataset.X.columns:
            out[column] = dataset.X[column].to_numpy()
        elif column in dataset.sensitive.columns:
            out[column] = dataset.sensitive[column].to_numpy()
        else:  # the target
            out[column] = np.asarray(schema.classes, dtype=object)[dataset.y]
    return pd.DataFrame(out)

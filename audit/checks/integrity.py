"""``integrity``: can the audit's numbers be trusted? Leaks between train and test, broken data.

Two variants (definitions of the statistics in :mod:`audit.checks.integrity_stats`):

``data`` (the default; scope ``data``, once per run). Rows are compared by their feature values
(tabular: numbers as floats, the rest as text; text: lower-cased with whitespace collapsed;
images: the pixel bytes). Metric paths, shares with ``n`` the rows they are taken over:

    data/integrity/duplicate_share[train|test]   rows repeating an earlier row of the split (features and label)
    data/integrity/train_test_overlap            test rows whose features occur in train
    data/integrity/train_test_near_overlap       test rows within ``near_duplicate_distance`` of a train row (tabular)
    data/integrity/conflicting_labels            rows whose features occur elsewhere with another label
    data/integrity/leakage_auc[<feature>]        out-of-fold ROC-AUC of that feature alone (tabular)
    data/integrity/max_leakage_auc, leaky_features (count at or above ``leakage_auc``)
    data/integrity/missing_rate[<feature>], max_missing_rate, constant_columns, mixed_type_columns

Without training rows (an evaluation-only run) the overlap metrics are null, "not applicable".

Scale: exact duplicates, overlap and conflicts hash every row (O(rows)); the near-duplicate
search compares a seeded sample of at most ``max_neighbour_rows`` test rows with as many train
rows (its ``n`` is the test sample, and its finding says it was sampled), with ``ctx.log``
progress lines; the single-feature leakage scores use a seeded sample of ``max_rows`` rows.

``model`` (scope ``model``): does a model score suspiciously well? Its test ROC-AUC and accuracy
are set against a *yardstick*: simple models (logistic regression; tabular also gradient
boosting) cross-validated on the test rows themselves, the best of them, an estimate of what
those rows let a model learn. A model the suite did not train (loaded, predictions-only, passed
in) that is near-perfect (``near_perfect``) and beats the yardstick by ``margin`` or more gets
``trained_on_test = 1``: most likely it saw the test rows in training. A model the suite trained
by a recipe has known training rows, so ``trained_on_test`` is null (not applicable); if it scores
far above the yardstick the check warns that the data leaks (see the ``data`` variant).

    <model>/integrity/roc_auc, accuracy, yardstick_roc_auc, yardstick_accuracy, roc_auc_excess
    <model>/integrity/confident_correct_share    test rows predicted right with top probability >= ``confidence``
    <model>/integrity/trained_on_test            1 when flagged, else 0

Each class lists ``default_gates`` (suite gate syntax) that apply when a suite sets none on it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from pydantic import Field

from audit.checks import integrity_stats as st
from audit.checks.base import Check, CheckParams, CheckResult, MetricSpec, json_cell
from audit.checks.integrity_model import ModelIntegrityCheck, ModelIntegrityParams
from audit.lazy import pandas as pd  # imported on first use (audit validate stays light)
from audit.results import NOT_APPLICABLE

if TYPE_CHECKING:
    from audit.context import Context
    from audit.data.base import Dataset
    from audit.models.base import ModelAdapter

__all__ = ["DataIntegrityCheck", "DataIntegrityParams", "ModelIntegrityCheck", "ModelIntegrityParams"]


class DataIntegrityParams(CheckParams):
    near_duplicate_distance: float = Field(
        0.1,
        ge=0.0,
        description="Test rows whose nearest train row lies within this Euclidean distance (numeric features in train standard deviations, categorical one-hot: a different category adds 1.41) are near duplicates.",
    )
    max_neighbour_rows: int = Field(
        10_000,
        ge=100,
        description="At most this many train and this many test rows (seeded sample) enter the nearest-neighbour search.",
    )
    leakage_auc: float = Field(
        0.98,
        gt=0.5,
        le=1.0,
        description="A feature whose out-of-fold ROC-AUC alone reaches this is flagged as target leakage.",
    )
    leakage_bins: int = Field(
        20,
        ge=2,
        le=1000,
        description="Numeric features with more distinct values are cut into this many quantile bins to score them alone.",
    )
    folds: int = Field(5, ge=2, le=20, description="Folds of the out-of-fold single-feature scores.")
    max_rows: int = Field(
        100_000, ge=100, description="At most this many rows (seeded sample) enter the single-feature scores."
    )
    examples: int = Field(5, ge=0, le=100, description="Example rows listed per finding.")


class DataIntegrityCheck(Check):
    """Duplicates, train/test overlap, conflicting labels, leaky / constant / mixed / missing columns."""

    name = "integrity_data"
    pillar = "integrity"
    Params = DataIntegrityParams
    scope = "data"
    requires = ()
    modalities = ("tabular", "image", "text")
    metrics = (
        MetricSpec("duplicate_share", "lower"),
        MetricSpec("train_test_overlap", "lower"),
        MetricSpec("train_test_near_overlap", "lower"),
        MetricSpec("conflicting_labels", "lower"),
        MetricSpec("leakage_auc", "lower"),
        MetricSpec("max_leakage_auc", "lower"),
        MetricSpec("leaky_features", "lower", "columns"),
        MetricSpec("missing_rate", "lower"),
        MetricSpec("max_missing_rate", "lower"),
        MetricSpec("constant_columns", "lower", "columns"),
        MetricSpec("mixed_type_columns", "lower", "columns"),
    )
    # warnings, not failures: rows repeat naturally in data with few distinct values, and a
    # strong feature can be legitimate; the model variant's trained_on_test is what fails
    default_gates: ClassVar[tuple[str | dict[str, Any], ...]] = (
        {"metric": "*/integrity/train_test_overlap", "op": "<=", "threshold": 0.05, "severity": "warn"},
        {"metric": "*/integrity/leaky_features", "op": "==", "threshold": 0, "severity": "warn"},
    )

    def run(self, ctx: Context, model: ModelAdapter | None) -> CheckResult:
        train, test = ctx.data.train, ctx.data.test
        result = CheckResult(self.check_name, "data")
        findings: list[dict[str, Any]] = []
        keys = {"train": st.row_keys(train.X), "test": st.row_keys(test.X)}
        self._duplicates(result, findings, {"train": train, "test": test}, keys)
        self._overlap(ctx, result, findings, train, test, keys)
        self._conflicts(result, findings, train, test, keys, ctx.schema.classes)
        if ctx.schema.modality == "tabular" and isinstance(test.X, pd.DataFrame):
            self._columns(ctx, result, findings, train, test)
        else:
            why = f"{NOT_APPLICABLE}single-feature leakage is measured on tabular data ({ctx.schema.modality} here)"
            result.add("max_leakage_auc", None, reason=why)
            result.add("leaky_features", None, reason=why)
        result.table("findings", findings)
        for finding in findings:
            result.warn(finding["finding"])
        return result

    # -- rows ------------------------------------------------------------------------------------

    def _duplicates(
        self, result: CheckResult, findings: list, parts: dict[str, Dataset], keys: dict[str, np.ndarray]
    ) -> None:
        rows = []
        for split, dataset in parts.items():
            n = len(dataset)
            if n == 0:
                result.add("duplicate_share", None, n=0, group=split, reason=f"{NOT_APPLICABLE}no {split} rows")
                continue
            repeats = st.first_copies(keys[split], dataset.y)
            result.add("duplicate_share", repeats.mean(), n=n, group=split)
            if repeats.any():
                findings.append(
                    {
                        "finding": f"{int(repeats.sum())} of {n} {split} rows ({repeats.mean():.1%}) repeat an earlier {split} row (same features and label)",
                        "metric": f"duplicate_share[{split}]",
                        "value": float(repeats.mean()),
                    }
                )
                first = pd.Series(np.arange(n)).groupby(keys[split]).transform("first").to_numpy()
                for i in np.flatnonzero(repeats)[: self.params.examples]:
                    rows.append(
                        {
                            "split": split,
                            "row_id": json_cell(dataset.ids[i]),
                            "copy_of_row_id": json_cell(dataset.ids[first[i]]),
                        }
                    )
        result.table("duplicates", rows)

    def _overlap(
        self,
        ctx: Context,
        result: CheckResult,
        findings: list,
        train: Dataset,
        test: Dataset,
        keys: dict[str, np.ndarray],
    ) -> None:
        p: DataIntegrityParams = self.params
        if len(train) == 0 or len(test) == 0:
            why = f"{NOT_APPLICABLE}no {'training' if len(train) == 0 else 'test'} rows (evaluation-only run): nothing to compare"
            result.add("train_test_overlap", None, n=len(test), reason=why)
            result.add("train_test_near_overlap", None, n=len(test), reason=why)
            return
        in_train = np.isin(keys["test"], keys["train"])
        result.add("train_test_overlap", in_train.mean(), n=len(test))
        position = pd.Series(np.arange(len(train))).groupby(keys["train"]).first()
        rows = [
            {
                "test_row_id": json_cell(test.ids[i]),
                "train_row_id": json_cell(train.ids[position[keys["test"][i]]]),
                "distance": 0.0,
            }
            for i in np.flatnonzero(in_train)[: p.examples]
        ]
        if in_train.any():
            findings.append(
                {
                    "finding": f"{int(in_train.sum())} of {len(test)} test rows ({in_train.mean():.1%}) also occur in the training rows: the model is scored on rows it learned from",
                    "metric": "train_test_overlap",
                    "value": float(in_train.mean()),
                }
            )
        if ctx.schema.modality != "tabular" or not isinstance(test.X, pd.DataFrame):
            result.add(
                "train_test_near_overlap",
                None,
                n=len(test),
                reason=f"{NOT_APPLICABLE}near duplicates are measured on tabular data ({ctx.schema.modality} here)",
            )
            result.table("train_test_overlap", rows)
            return
        a = self._sample(ctx, len(train), "train")
        b = self._sample(ctx, len(test), "test")
        features = list(ctx.schema.features)
        numeric = [c for c in ctx.schema.numeric if pd.api.types.is_numeric_dtype(train.X[c])]
        progress = ctx.progress("data", f"integrity: nearest training row of {len(b)} sampled test rows (among {len(a)} sampled training rows):", every=0.2)
        distance, nearest = st.nearest_distances(train.X.iloc[a][features], test.X.iloc[b][features], numeric, progress)
        near = distance <= p.near_duplicate_distance + 1e-12
        result.add("train_test_near_overlap", near.mean(), n=len(b))
        fresh = near & ~in_train[b]
        if fresh.any():
            findings.append(
                {
                    "finding": f"{int(near.sum())} of {len(b)} {'sampled ' if len(b) < len(test) else ''}test rows ({near.mean():.1%}) lie within distance {p.near_duplicate_distance:g} of a training row{f' (of {len(a)} sampled)' if len(a) < len(train) else ''} (near duplicates, exact copies included)",
                    "metric": "train_test_near_overlap",
                    "value": float(near.mean()),
                }
            )
            order = np.argsort(np.where(fresh, distance, np.inf))[: p.examples]
            rows += [
                {
                    "test_row_id": json_cell(test.ids[b[i]]),
                    "train_row_id": json_cell(train.ids[a[nearest[i]]]),
                    "distance": float(distance[i]),
                }
                for i in order
                if fresh[i]
            ]
        result.table("train_test_overlap", rows)

    def _conflicts(
        self,
        result: CheckResult,
        findings: list,
        train: Dataset,
        test: Dataset,
        keys: dict[str, np.ndarray],
        classes: tuple,
    ) -> None:
        all_keys = np.concatenate([keys["train"], keys["test"]])
        labels = np.concatenate([train.y, test.y])
        n = len(all_keys)
        if n == 0:
            result.add("conflicting_labels", None, n=0, reason="no rows")
            return
        conflict = st.conflicting_rows(all_keys, labels)
        result.add("conflicting_labels", conflict.mean(), n=n)
        rows = []
        if conflict.any():
            findings.append(
                {
                    "finding": f"{int(conflict.sum())} of {n} rows ({conflict.mean():.1%}) share their features with a row of another label (conflicting labels)",
                    "metric": "conflicting_labels",
                    "value": float(conflict.mean()),
                }
            )
            ids = np.concatenate([train.ids, test.ids]).astype(object)
            split = np.array(["train"] * len(train) + ["test"] * len(test))
            group = pd.factorize(all_keys)[0]
            for i in np.flatnonzero(conflict)[: self.params.examples * 2]:
                rows.append(
                    {
                        "split": str(split[i]),
                        "row_id": json_cell(ids[i]),
                        "label": json_cell(classes[labels[i]]),
                        "features_group": int(group[i]),
                    }
                )
        result.table("conflicting_labels", rows)

    # -- columns ---------------------------------------------------------------------------------

    def _columns(self, ctx: Context, result: CheckResult, findings: list, train: Dataset, test: Dataset) -> None:
        p: DataIntegrityParams = self.params
        features = list(ctx.schema.features)
        X = pd.concat([train.X[features], test.X[features]], ignore_index=True)
        y = np.concatenate([train.y, test.y]).astype(np.int64)
        n = len(X)
        missing = X.isna().mean()
        rows = []
        for column in features:
            result.add("missing_rate", missing[column], n=n, group=column)
            mixed, numeric_share = st.mixed_type(X[column])
            distinct = int(X[column].nunique(dropna=False))
            rows.append(
                {
                    "column": column,
                    "dtype": str(X[column].dtype),
                    "missing_rate": float(missing[column]),
                    "distinct": distinct,
                    "distinct_share": distinct / n if n else None,
                    "constant": distinct <= 1,
                    "mixed_type": mixed,
                    "numeric_share": numeric_share if mixed else None,
                }
            )
        result.add("max_missing_rate", float(missing.max()) if features else None, n=n)
        worst = missing[missing > 0].sort_values(ascending=False)
        if len(worst):
            listed = ", ".join(f"{c} {v:.1%}" for c, v in worst.head(5).items())
            findings.append(
                {
                    "finding": f"{len(worst)} column(s) have missing values: {listed}",
                    "metric": "max_missing_rate",
                    "value": float(worst.iloc[0]),
                }
            )
        constant = [r["column"] for r in rows if r["constant"]]
        result.add("constant_columns", len(constant), n=len(features))
        if constant:
            findings.append(
                {
                    "finding": f"constant column(s) carry no information: {', '.join(constant)}",
                    "metric": "constant_columns",
                    "value": len(constant),
                }
            )
        mixed = [r for r in rows if r["mixed_type"]]
        result.add("mixed_type_columns", len(mixed), n=len(features))
        if mixed:
            listed = ", ".join(f"{r['column']} ({r['numeric_share']:.0%} numbers)" for r in mixed)
            findings.append(
                {
                    "finding": f"column(s) mix numbers and text: {listed}; check the parsing or the missing-value markers",
                    "metric": "mixed_type_columns",
                    "value": len(mixed),
                }
            )
        scores = self._leakage(ctx, result, X, y)
        flagged = []
        for row in rows:
            row["leakage_auc"] = scores.get(row["column"])
            row["leaky"] = row["leakage_auc"] is not None and row["leakage_auc"] >= p.leakage_auc
            if row["leaky"]:
                flagged.append(row)
        result.add("leaky_features", len(flagged), n=len(features))
        for row in flagged:
            ident = (
                " (nearly every value is distinct: an identifier ordered with the label?)"
                if (row["distinct_share"] or 0) > 0.5
                else ""
            )
            findings.append(
                {
                    "finding": f"feature '{row['column']}' alone predicts the label with ROC-AUC {row['leakage_auc']:.3f} (>= {p.leakage_auc:g}): likely target leakage{ident}",
                    "metric": f"leakage_auc[{row['column']}]",
                    "value": row["leakage_auc"],
                }
            )
        result.table("columns", rows)
        ordered = sorted(((c, s) for c, s in scores.items() if s is not None), key=lambda t: -t[1])
        if ordered:
            result.figure(
                "bar",
                title="How well each feature alone predicts the label (out-of-fold ROC-AUC)",
                labels=[c for c, _ in ordered],
                values=[s for _, s in ordered],
                horizontal=True,
                ref_line=p.leakage_auc,
                ref_label=f"leakage ({p.leakage_auc:g})",
                x_label="ROC-AUC of the feature alone",
                caption=f"Label shares per category (numeric features: per quantile bin, {p.leakage_bins} bins), {p.folds}-fold out of fold; 0.5 is chance.",
            )

    def _leakage(self, ctx: Context, result: CheckResult, X: pd.DataFrame, y: np.ndarray) -> dict[str, float | None]:
        from sklearn.model_selection import StratifiedKFold

        p: DataIntegrityParams = self.params
        rows = self._sample(ctx, len(X), "leakage", cap=p.max_rows)
        X, y = X.iloc[rows].reset_index(drop=True), y[rows]
        counts = np.bincount(y, minlength=len(ctx.schema.classes))
        k = min(p.folds, int(counts[counts > 0].min()) if counts.any() else 0)
        if k < 2 or (counts > 0).sum() < 2:
            why = "needs at least two classes with two rows each"
            for column in X.columns:
                result.add("leakage_auc", None, n=len(X), group=column, reason=why)
            result.add("max_leakage_auc", None, n=len(X), reason=why)
            return {}
        seed = int(ctx.rng(self.name, "folds").integers(2**31))
        folds = list(StratifiedKFold(n_splits=k, shuffle=True, random_state=seed).split(np.zeros(len(y)), y))
        scores: dict[str, float | None] = {}
        for column in X.columns:
            auc = st.single_feature_auc(st.feature_codes(X[column], p.leakage_bins), y, len(ctx.schema.classes), folds)
            scores[column] = auc if np.isfinite(auc) else None
            result.add("leakage_auc", scores[column], n=len(X), group=column, reason="undefined ROC-AUC")
        defined = [s for s in scores.values() if s is not None]
        result.add("max_leakage_auc", max(defined) if defined else None, n=len(X), reason="no feature could be scored")
        return scores

    def _sample(self, ctx: Context, n: int, what: str, cap: int | None = None) -> np.ndarray:
        cap = cap or self.params.max_neighbour_rows
        if n <= cap:
            return np.arange(n)
        return np.sort(ctx.rng(self.name, what).choice(n, size=cap, replace=False))

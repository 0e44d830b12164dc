"""``explain``: SHAP (explainer chosen by model kind), Captum for torch models, reliance on
sensitive attributes and their proxies, for tabular models.

Metric paths (all under ``<model>/explain/``):

- ``importance[<feature>]``: mean |SHAP| of an original feature (one-hot columns summed per row
  first), in the output space named in the ``method`` table (log-odds or probability).
- ``additivity_error``: max |base + sum(SHAP) - model output| over the explained rows.
- ``captum_<method>_importance[<feature>]`` (``ig`` for Integrated Gradients),
  ``ig_convergence_delta`` (mean |delta|), and Captum IG vs SHAP ``rank_agreement_spearman``,
  ``rank_agreement_kendall`` and ``top5_overlap``: torch models only.
- ``sensitive_share[<sensitive column>]``: share of the total mean |SHAP| carried by the
  features that encode that column (the column itself when it is a feature, or the
  ``proxies`` entry); ``mean_abs_shap[<feature>|<column>=<group>]``: that feature's mean |SHAP|
  over the explained rows of one group.

Artefact: ``artefacts/<model>/explain/local_shap.json`` (per-row SHAP of ``local_rows`` rows).
The per-row SHAP matrix is shared with other checks as ``ctx.shared[("shap", model.name)]``.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import Field, field_validator

from audit.checks.base import Check, CheckParams, CheckResult
from audit.errors import CheckError
from audit.explain.agreement import rank_agreement
from audit.explain.features import global_importance, shares, to_features
from audit.explain.report import report_reliance, write_local
from audit.explain.shap_tab import explain_rows, shap_rng

if TYPE_CHECKING:
    from audit.context import Context
    from audit.models.base import ModelAdapter

CaptumMethod = Literal["integrated_gradients", "gradient_shap", "saliency", "input_x_gradient"]


class ExplainParams(CheckParams):
    max_rows: int | None = Field(
        None,
        ge=10,
        le=100_000,
        description="Test rows explained: a seeded sample, the same for every model (default: all test rows).",
    )
    background_size: int = Field(
        100,
        ge=10,
        le=2000,
        description="Seeded sample of background rows (the reference rows, else the training rows) summarising the background of the MLP's DeepExplainer, the permutation fallback and GradientShap.",
    )
    permutations: int | None = Field(
        None,
        ge=1,
        le=100_000,
        description="Permutation SHAP (models no exact explainer fits): antithetic feature orders per explained row, each original feature one player (default: background_size, one order per background row; larger values are rounded up to a multiple of it). Work grows with max(permutations, background_size).",
    )
    local_rows: int = Field(
        20,
        ge=0,
        le=1000,
        description="Explained rows (seeded, the same for every model) written with their per-feature SHAP to local_shap.json.",
    )
    top_features: int = Field(15, ge=1, le=100, description="Features shown in the importance figures.")
    proxies: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Sensitive column -> the features that encode it, e.g. {sex: [personal_status_sex]}. A sensitive column that is itself a feature needs no entry.",
    )
    top_proxies: int = Field(
        5,
        ge=1,
        le=50,
        description="Features listed per sensitive column in the proxies table, by Cramér's V on the training rows.",
    )
    captum_methods: list[CaptumMethod] = Field(
        default_factory=lambda: ["integrated_gradients", "gradient_shap"],
        max_length=4,
        description="Captum methods run on torch models (empty: none). Rank agreement with SHAP needs integrated_gradients.",
    )
    ig_steps: int = Field(50, ge=2, le=2000, description="Integration steps of Integrated Gradients.")
    ig_baseline: Literal["train_mean", "zeros"] = Field(
        "train_mean", description="Integrated Gradients baseline: the mean encoded training row, or all zeros."
    )

    @field_validator("captum_methods")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("each Captum method may be listed once")
        return value


class ExplainCheck(Check):
    requires = ("scoring", "background")
    name = "explain"
    targets = ("binary",)  # explains the positive-class score
    Params = ExplainParams
    metrics = (
        "importance", "additivity_error", "sensitive_share", "mean_abs_shap",
        # torch models: captum_<short>_importance (audit.explain.captum_tab.SHORT) and IG vs SHAP
        "captum_ig_importance", "captum_gradient_shap_importance", "captum_saliency_importance",
        "captum_input_x_gradient_importance", "ig_convergence_delta", "rank_agreement_spearman",
        "rank_agreement_kendall", "top5_overlap",
    )  # fmt: skip

    def run(self, ctx: Context, model: ModelAdapter) -> CheckResult:
        p: ExplainParams = self.params
        schema = ctx.schema
        if len(schema.classes) != 2:
            raise CheckError(f"explain supports binary targets; '{schema.target}' has {len(schema.classes)} classes")
        encoders = self._encoders(schema)
        result = CheckResult(self.check_name, model.name)
        background, test = ctx.data.background, ctx.data.test  # the reference rows, else train
        rows = np.arange(len(test))
        if p.max_rows is not None and p.max_rows < len(test):
            rows = np.sort(ctx.rng(self.name, "rows").choice(len(test), size=p.max_rows, replace=False))
        X = test.X.iloc[rows].reset_index(drop=True)
        p_pos = ctx.predict(model, test).score[rows]

        # the dashboard's what-if calls explain_rows with the same training rows, background_size
        # and generator, so it reproduces these values for an unedited row
        explanation = explain_rows(
            model,
            background.X,
            X,
            rng=shap_rng(ctx.rng, model.name),
            background_size=p.background_size,
            p_pos=p_pos,
            permutations=p.permutations,
            progress=ctx.progress(model.name, "explain: permutation SHAP rows"),
        )
        explanation.rows = rows
        ctx.shared[("shap", model.name)] = explanation
        for note in explanation.notes:
            result.warn(note)
        features, per_feature = explanation.by_feature(schema.features)
        importance = global_importance(per_feature)
        share = shares(importance)
        n = len(rows)
        for feature, value in zip(features, importance, strict=True):
            result.add("importance", value, n=n, group=feature)
        result.add("additivity_error", explanation.additivity_error, n=n, direction="lower")
        order = np.argsort(-importance, kind="stable")
        counts = {f: sum(explanation.sources.get(c, c) == f for c in explanation.columns) for f in features}
        result.table(
            "importance",
            [
                {
                    "rank": r + 1,
                    "feature": features[k],
                    "mean_abs_shap": float(importance[k]),
                    "share": float(share[k]),
                    "encoded_columns": counts[features[k]],
                }
                for r, k in enumerate(order)
            ],
        )
        top = order[: p.top_features]
        result.figure(
            "bar",
            title=f"Global importance: mean |SHAP| ({explanation.output_space}), top {len(top)} of {len(features)} features",
            labels=[features[k] for k in top],
            values=[float(importance[k]) for k in top],
            horizontal=True,
            x_label=f"mean |SHAP value| ({explanation.output_space})",
        )
        write_local(ctx, result, model.name, explanation, per_feature, features, X, p_pos, p.local_rows)
        shap_figures(ctx, result, model.name, explanation.output_space, per_feature, features, X, order[: min(p.top_features, 10)], set(schema.numeric))

        captum_seconds = None
        if model.torch_module is not None and p.captum_methods:
            captum_seconds = self._captum(ctx, result, model, background.X, X, features, importance)
        start = time.perf_counter()
        sensitive = test.sensitive.iloc[rows].reset_index(drop=True)
        report_reliance(ctx, result, encoders, per_feature, features, share, sensitive, p.top_proxies)
        result.table(
            "method",
            [
                {
                    "explainer": explanation.explainer,
                    "output_space": explanation.output_space,
                    "background": explanation.background,
                    "rows_explained": n,
                    "base_value": explanation.base_value,
                    "additivity_error": explanation.additivity_error,
                    "permutations": explanation.permutations or None,
                    "shap_seconds": round(explanation.seconds, 4),
                    "captum_seconds": captum_seconds,
                    "captum_ig_baseline": p.ig_baseline
                    if captum_seconds is not None and "integrated_gradients" in p.captum_methods
                    else None,
                    "groups_seconds": round(time.perf_counter() - start, 4),
                }
            ],
        )
        return result

    def _encoders(self, schema: Any) -> dict[str, list[str]]:
        """Sensitive column -> the features encoding it; validates ``proxies`` against the data."""
        from audit.registry import suggest

        for column, features in self.params.proxies.items():
            if column not in schema.sensitive:
                raise CheckError(
                    f"proxies: '{column}' is not a sensitive column of the data; {suggest(column, list(schema.sensitive))}"
                )
            for i, feature in enumerate(features):
                if feature not in schema.features:
                    raise CheckError(
                        f"proxies.{column}[{i}]: '{feature}' is not a feature column; {suggest(feature, list(schema.features))}"
                    )
        return {s: list(self.params.proxies.get(s, [s] if s in schema.features else [])) for s in schema.sensitive}

    def _captum(
        self,
        ctx: Context,
        result: CheckResult,
        model: ModelAdapter,
        train_X: Any,
        X: Any,
        features: list[str],
        shap_importance: np.ndarray,
    ) -> float:
        from audit.explain.captum_tab import LABEL, SHORT, captum_attributions

        p: ExplainParams = self.params
        start = time.perf_counter()
        try:
            Ztr, Z = model.transform(train_X), model.transform(X)
        except NotImplementedError:
            result.warn(f"model '{model.name}' has a torch module but no input transform; Captum skipped")
            return 0.0
        try:
            attributions = captum_attributions(
                model.torch_module,
                Ztr,
                Z,
                methods=list(p.captum_methods),
                ig_steps=p.ig_steps,
                baseline=p.ig_baseline,
                background_size=p.background_size,
                rng=ctx.rng(self.name, model.name, "captum"),
            )
        except Exception as exc:  # keep the SHAP results when a module does not suit Captum
            result.warn(
                f"Captum could not attribute model '{model.name}' ({exc.__class__.__name__}: {exc}); Captum skipped"
            )
            return round(time.perf_counter() - start, 4)
        rows, series = [], {"SHAP": shares(shap_importance)}
        for attribution in attributions:
            short = SHORT[attribution.method]
            importance = global_importance(
                to_features(attribution.values, model.feature_names_out, model.feature_sources, features)
            )
            for feature, value in zip(features, importance, strict=True):
                result.add(f"captum_{short}_importance", value, n=len(Z), group=feature)
            agreement = rank_agreement(importance, shap_importance, features, k=5)
            delta = None if attribution.delta is None else float(np.mean(np.abs(attribution.delta)))
            if attribution.method == "integrated_gradients":
                result.add("ig_convergence_delta", delta, n=len(Z), direction="lower")
                result.add("rank_agreement_spearman", agreement["spearman"], n=len(features), direction="higher")
                result.add("rank_agreement_kendall", agreement["kendall"], n=len(features), direction="higher")
                result.add("top5_overlap", agreement["top_overlap"], n=len(features), direction="higher")
            series[LABEL[attribution.method]] = shares(importance)
            rows.append(
                {
                    "method": attribution.method,
                    "mean_abs_delta": delta,
                    "spearman_vs_shap": agreement["spearman"],
                    "kendall_vs_shap": agreement["kendall"],
                    "top5_overlap_vs_shap": agreement["top_overlap"],
                    "seconds": round(attribution.seconds, 4),
                }
            )
        result.table("captum", rows)
        top = np.argsort(-shap_importance, kind="stable")[: p.top_features]
        result.figure(
            "grouped_bar",
            title="Share of total attribution: SHAP vs Captum (top features by SHAP)",
            categories=[features[k] for k in top],
            series={name: [float(v[k]) for k in top] for name, v in series.items()},
            horizontal=True,
            x_label="share of total mean |attribution|",
        )
        return round(time.perf_counter() - start, 4)


FIGURE_ROWS = 200  # explained rows drawn per beeswarm / dependence plot, whatever the test size


def shap_figures(ctx: Context, result: CheckResult, model: str, space: str, per_feature: np.ndarray, features: list[str],
                 X: Any, top: np.ndarray, numeric: set[str]) -> None:
    """Figure data from the SHAP values already computed: a beeswarm of the top features, a
    dependence plot of the top three, and waterfalls of the local rows with the lowest and the
    highest predicted probability (read back from local_shap.json). Rows are thinned evenly
    (no random draw), so no other result changes."""
    n = len(per_feature)
    if n == 0 or len(top) == 0:
        return
    rows = np.unique(np.linspace(0, n - 1, min(n, FIGURE_ROWS)).round().astype(int))
    names, values, colours = [], [], []
    for k in top:
        f = features[int(k)]
        names.append(f)
        values.append(np.round(per_feature[rows, k], 4).tolist())
        colours.append(_ranks(X[f].to_numpy()[rows]) if f in numeric and f in X.columns else [None] * len(rows))
    result.figure("beeswarm", title=f"SHAP values of the top {len(names)} features, one dot per explained row ({len(rows)} of {n})",
                  features=names, shap=values, colour=colours, x_label=f"SHAP value ({space}): effect on the model output")
    for k in top[:3]:
        f = features[int(k)]
        if f not in X.columns:
            continue
        raw = X[f].to_numpy()[rows]
        spec: dict[str, Any] = {"y": np.round(per_feature[rows, k], 4).tolist(), "x_label": f, "y_label": f"SHAP value ({space})"}
        if f in numeric:
            spec["x"] = [None if v is None or v != v else float(v) for v in raw.astype(float)]
        else:
            cats = sorted({str(v) for v in raw})
            spec["x"], spec["categories"] = [cats.index(str(v)) for v in raw], cats
        result.figure("scatter", title=f"Dependence: how {f} moves the output", **spec)
    _waterfalls(ctx, result, model, space)


def _ranks(values: np.ndarray) -> list[float | None]:
    """Each value's rank among the finite ones, scaled to [0, 1] (the beeswarm's colour)."""
    v = values.astype(float)
    ok = np.isfinite(v)
    out: list[float | None] = [None] * len(v)
    if ok.sum() > 1:
        order = v[ok].argsort(kind="stable").argsort(kind="stable") / (ok.sum() - 1)
        for i, r in zip(np.flatnonzero(ok), order, strict=True):
            out[i] = round(float(r), 2)
    return out


def _waterfalls(ctx: Context, result: CheckResult, model: str, space: str, shown: int = 8) -> None:
    import json

    path = ctx.artefact_dir(model, result.check) / "local_shap.json"
    if not path.is_file():
        return
    payload = json.loads(path.read_text())
    rows = sorted(payload.get("rows", []), key=lambda r: r["probability"])
    positive = payload.get("positive_label", "positive")
    for row in ([rows[0], rows[-1]] if len(rows) > 1 else rows):
        ranked = sorted(row["shap"].items(), key=lambda kv: -abs(kv[1]))
        items = [(f"{f} = {row['values'].get(f)}", round(v, 5)) for f, v in ranked[:shown]]
        rest = ranked[shown:]
        if rest:
            items.append((f"{len(rest)} other features", round(sum(v for _, v in rest), 5)))
        result.figure(
            "waterfall", title=f"Why row {row['row_id']} gets P({positive}) = {row['probability']:.2f} (actual: {row['label']})",
            base=row["base_value"], contributions=items, output=row["prediction"], x_label=f"model output ({space})",
            note="from the base value, vermillion bars raise the output and blue bars lower it",
        )

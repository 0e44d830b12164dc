"""Turn explanations into check output: the local-explanation file and the sensitive-reliance
metrics, tables and figures of the ``explain`` check."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np

from audit.data.base import group_label
from audit.explain.proxies import associations, mean_abs_by_group, top_proxies
from audit.lazy import pandas as pd  # imported on first use (audit validate stays light)

if TYPE_CHECKING:
    from audit.checks.base import CheckResult
    from audit.context import Context
    from audit.explain.shap_tab import TabularShap


def write_local(
    ctx: Context,
    result: CheckResult,
    model_name: str,
    explanation: TabularShap,
    per_feature: np.ndarray,
    features: list[str],
    X: pd.DataFrame,
    p_pos: np.ndarray,
    n_rows: int,
) -> None:
    """``local_shap.json``: per-feature SHAP of a seeded sample of the explained rows (the same
    rows for every model, so the dashboard can compare models row by row)."""
    n = min(n_rows, len(per_feature))
    if n == 0:
        return
    picks = np.sort(ctx.rng(result.check, "local").choice(len(per_feature), size=n, replace=False))
    test = ctx.data.test
    rows = []
    for i in picks:
        position = int(explanation.rows[i])
        rows.append(
            {
                "row_id": plain(test.ids[position]),
                "position": position,
                "label": str(ctx.schema.classes[int(test.y[position])]),
                "prediction": float(explanation.output[i]),
                "probability": float(p_pos[i]),
                "base_value": float(explanation.base_values[i]),
                "shap": {f: float(v) for f, v in zip(features, per_feature[i], strict=True)},
                "values": {f: plain(X.iloc[i][f]) for f in features if f in X.columns},
            }
        )
    payload = {
        "model": model_name,
        "explainer": explanation.explainer,
        "output_space": explanation.output_space,
        "background": explanation.background,
        "base_value": explanation.base_value,
        "positive_label": str(ctx.schema.positive_label),
        "features": features,
        "rows": rows,
    }
    path = ctx.artefact_dir(model_name, result.check) / "local_shap.json"
    path.write_text(json.dumps(payload, indent=1, allow_nan=False))
    result.artefacts.append(ctx.relpath(path))


def report_reliance(
    ctx: Context,
    result: CheckResult,
    encoders: dict[str, list[str]],
    per_feature: np.ndarray,
    features: list[str],
    share: np.ndarray,
    sensitive: pd.DataFrame,
    n_proxies: int,
) -> None:
    """Reliance on sensitive attributes: SHAP share, per-group mean |SHAP|, top proxies.

    ``encoders`` maps each sensitive column to the features that encode it; ``sensitive`` holds
    the explained rows' sensitive columns. Cramér's V does not depend on the model, so it is
    computed once per run and kept in ``ctx.shared``.
    """
    schema = ctx.schema
    key = ("explain", "associations", schema.sensitive)
    if key not in ctx.shared:
        train = ctx.data.train if len(ctx.data.train) else ctx.data.test  # evaluation-only: the audited rows
        ctx.shared[key] = associations(train.X, train.sensitive, schema.sensitive, list(schema.features))
    strength = ctx.shared[key]
    share_of = dict(zip(features, share, strict=True))
    index = {f: k for k, f in enumerate(features)}
    summary, by_group, proxy_rows = [], [], []
    for column in schema.sensitive:
        encoding = [f for f in encoders[column] if f in index]
        note = "" if encoding else "not a feature; list the features that encode it under the explain check's proxies"
        total = float(sum(share_of[f] for f in encoding)) if encoding else None
        if encoding:
            result.add("sensitive_share", total, n=len(per_feature), group=column, direction="lower")
        summary.append({"attribute": column, "features": ", ".join(encoding), "shap_share": total, "note": note})
        groups = mean_abs_by_group(per_feature, sensitive[column].to_numpy(dtype=str)) if encoding else {}
        for g, (n, means) in groups.items():
            for f in encoding:
                value = float(means[index[f]])
                result.add("mean_abs_shap", value, n=n, group=f"{f}|{group_label(column, g)}")
                by_group.append({"attribute": column, "group": g, "n": n, "feature": f, "mean_abs_shap": value})
        if groups:
            result.figure(
                "grouped_bar",
                title=f"Mean |SHAP| of the features encoding {column}, by {column} group",
                categories=list(groups),
                series={f: [float(groups[g][1][index[f]]) for g in groups] for f in encoding},
                horizontal=True,
                x_label="mean |SHAP value|",
            )
        ranked = [("declared", f, strength[column].get(f, 0.0)) for f in encoding]
        ranked += [("proxy", f, v) for f, v in top_proxies(strength[column], n_proxies, exclude=encoding)]
        proxy_rows += [
            {"attribute": column, "role": role, "feature": f, "cramers_v": v, "shap_share": share_of.get(f)}
            for role, f, v in ranked
        ]
    result.table("sensitive", summary)
    result.table("sensitive_by_group", by_group)
    result.table("proxies", proxy_rows)


def plain(value: Any) -> Any:
    """A JSON value for a raw cell: None for missing, Python numbers, else text."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    return value if isinstance(value, (int, float, str, bool)) else str(value)

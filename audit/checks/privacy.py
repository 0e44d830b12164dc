"""``privacy`` (variant ``membership``): does the model leak who was in its training data, or
its rows' sensitive attributes?

Members are the model's train rows, non-members the test rows, balanced by seeded subsampling
of the larger side (at most ``max_rows`` each). Attacks (``audit.privacy``):

* **loss threshold** (Yeom et al. 2018): score = minus the cross-entropy loss of the true label;
  ROC-AUC, advantage (max TPR - FPR) and TPR at 1% / 0.1% FPR, overall and per group;
* **shadow models** (Shokri et al. 2017), ``shadow_models`` > 0: the model's recipe retrained on
  random halves of the train rows; a logistic-regression attack learns IN vs OUT from them;
* **LiRA, offline** (Carlini et al. 2022), from the same shadows (at least 4);
* **attribute inference** (tabular): how much better the model's outputs let a logistic
  regression guess each sensitive column of a test row than the other features alone.

Metric paths (membership metrics: lower is better; n = non-members, the rows an FPR is taken
over; per group n = the smaller side)::

    <model>/privacy/mia_auc                      loss attack ROC-AUC (0.5 = no leak)
    <model>/privacy/mia_advantage                max over thresholds of TPR - FPR
    <model>/privacy/mia_tpr_at_fpr_1pct          TPR at FPR <= 1% (needs >= 100 non-members)
    <model>/privacy/mia_tpr_at_fpr_01pct         TPR at FPR <= 0.1% (needs >= 1000 non-members)
    <model>/privacy/mia_auc[<group>]             per group of each sensitive column / intersection
    <model>/privacy/mia_advantage[<group>]
    <model>/privacy/max_group_mia_auc_gap[<column>]   largest - smallest group AUC
    <model>/privacy/shadow_mia_auc               Shokri attack AUC (null: not applicable when off)
    <model>/privacy/lira_auc                     offline LiRA AUC
    <model>/privacy/lira_tpr_at_fpr_1pct
    <model>/privacy/attribute_inference_uplift[<column>]      balanced accuracy with - without
    <model>/privacy/attribute_inference_baseline[<column>]    the model's outputs
    <model>/privacy/attribute_inference_with_model[<column>]

Intervals: percentile bootstrap resampling members and non-members separately (stratified);
the attribute-inference uplift is a paired bootstrap over test rows. Models loaded from a file
cannot be retrained, so their shadow metrics are null with ``not applicable: <why>``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from pydantic import Field

from audit.checks.base import Check, CheckParams, CheckResult, MetricSpec
from audit.data.base import group_label
from audit.metrics.binary import bootstrap_indices, percentile_ci
from audit.privacy import attribute as attr
from audit.privacy import shadow as sh
from audit.privacy.membership import balanced_sides, logit_confidence, loss_score, roc_points, roc_stats
from audit.results import NOT_APPLICABLE

if TYPE_CHECKING:
    from audit.context import Context
    from audit.data.base import Dataset
    from audit.models.base import ModelAdapter

TPR_AT = {"1pct": 0.01, "01pct": 0.001}
LIRA_MIN_SHADOWS = 4
MIA_NAMES = {"auc": "mia_auc", "advantage": "mia_advantage", **{f"tpr@{a:g}": f"mia_tpr_at_fpr_{k}" for k, a in TPR_AT.items()}}


class MembershipParams(CheckParams):
    max_rows: int = Field(1000, ge=10, le=100_000, description="At most this many members and as many non-members (seeded subsample).")
    bootstrap: int = Field(200, ge=0, le=5000, description="Bootstrap replicates for the intervals (0: none).")
    confidence: float = Field(0.95, gt=0.5, lt=1.0, description="Interval coverage.")
    slices: bool = Field(True, description="Repeat the loss attack per group of every sensitive column and intersection.")
    min_group_size: int = Field(30, ge=1, description="Warn when a group has fewer members or non-members than this.")
    shadow_models: int = Field(0, ge=0, le=8, description="Shadow models (the recipe retrained on random train halves) for the Shokri attack and LiRA; 0: off.")
    attribute_inference: bool | None = Field(None, description="Attribute inference on the sensitive columns (tabular); default: on when there are any.")
    attribute_exclude: dict[str, list[str]] = Field(default_factory=dict, description="Per sensitive column, features to leave out of the attacker's features (proxies that encode it).")
    attribute_folds: int = Field(5, ge=2, le=10, description="Cross-validation folds of the attribute-inference attacker.")


class MembershipCheck(Check):
    requires = ("scoring", "train")
    name = "privacy_membership"
    pillar = "privacy"
    Params = MembershipParams
    modalities = ("tabular", "image", "text")
    metrics = (
        MetricSpec("mia_auc", "lower"),
        MetricSpec("mia_advantage", "lower"),
        MetricSpec("mia_tpr_at_fpr_1pct", "lower", min_n=100),
        MetricSpec("mia_tpr_at_fpr_01pct", "lower", min_n=1000),
        MetricSpec("max_group_mia_auc_gap", "lower"),
        MetricSpec("shadow_mia_auc", "lower"),
        MetricSpec("lira_auc", "lower"),
        MetricSpec("lira_tpr_at_fpr_1pct", "lower", min_n=100),
        MetricSpec("attribute_inference_uplift", "lower"),
        MetricSpec("attribute_inference_baseline"),
        MetricSpec("attribute_inference_with_model", "lower"),
    )

    def run(self, ctx: Context, model: ModelAdapter) -> CheckResult:
        p: MembershipParams = self.params
        result = CheckResult(self.check_name, model.name)
        train, test = ctx.data.train, ctx.data.test
        mem_rows, non_rows = balanced_sides(ctx.rng(self.name, model.name, "sides"), len(train), len(test), p.max_rows)
        n = len(mem_rows)
        if n < 2:
            for metric in ("mia_auc", "mia_advantage", *(f"mia_tpr_at_fpr_{k}" for k in TPR_AT)):
                result.add(metric, None, n=n, reason=f"needs train and test rows (members {len(train)}, non-members {len(test)})")
            return result
        members = train if n == len(train) else ctx.derive(train, "privacy.members", rows=mem_rows)
        nonmembers = test if n == len(test) else ctx.derive(test, "privacy.nonmembers", rows=non_rows)
        proba = np.vstack([ctx.predict(model, members).proba, ctx.predict(model, nonmembers).proba])
        y = np.r_[members.y, nonmembers.y].astype(np.int64)
        member = np.r_[np.ones(n, dtype=np.int64), np.zeros(n, dtype=np.int64)]
        score = loss_score(proba, y)

        summary = [self._attack(result, "loss threshold", MIA_NAMES, member, score, ctx.rng(self.name, model.name, "boot"), n)]
        correct = proba.argmax(axis=1) == y
        result.table("generalisation", [{"member_accuracy": float(correct[:n].mean()), "non_member_accuracy": float(correct[n:].mean()),
                                         "gap": float(correct[:n].mean() - correct[n:].mean()), "mean_member_loss": float(-score[:n].mean()),
                                         "mean_non_member_loss": float(-score[n:].mean()), "rows_per_side": n}])
        curves = {"loss threshold": roc_points(member, score)}
        if p.slices and ctx.schema.group_columns:
            self._groups(ctx, result, members, nonmembers, member, score, model)
        shadow_rows, shadow_curves = self._shadows(ctx, result, model, members, nonmembers, mem_rows, member, proba, y)
        summary += shadow_rows
        curves.update(shadow_curves)
        result.table("membership", summary)
        result.figure("line", title="Membership inference ROC (members = train rows, non-members = test rows)", series=curves, diagonal=True,
                      x_label="false positive rate (non-members flagged)", y_label="true positive rate (members found)", value_range=(0.0, 1.0),
                      caption=f"{n} members (train rows) and {n} non-members (test rows); the diagonal is guessing. A curve far above it, above all at low false positive rates, means the model reveals who it was trained on.")
        want = p.attribute_inference if p.attribute_inference is not None else bool(ctx.schema.sensitive)
        if want:
            self._attribute_inference(ctx, result, model)
        return result

    def _attack(self, result: CheckResult, attack: str, names: dict[str, str], member: np.ndarray, score: np.ndarray, rng: np.random.Generator, n_non: int) -> dict:
        """Record the metrics ``names`` maps (``auc``, ``advantage``, ``tpr@<alpha>``) of one attack; its summary row."""
        p: MembershipParams = self.params
        point = roc_stats(member, score)
        boots = roc_stats(member, score, bootstrap_indices(len(member), p.bootstrap, rng, strata=member)) if p.bootstrap else None
        ci = {k: (percentile_ci(v, p.confidence) if boots is not None else None) for k, v in (boots or {}).items()}
        row = {"attack": attack, "members": int(member.sum()), "non_members": int(n_non)}
        for key, metric in names.items():
            result.add(metric, float(point[key]), ci=ci.get(key), n=n_non)
            row[key.replace("@", "_at_fpr_")] = float(point[key])
            row[f"{key.replace('@', '_at_fpr_')}_ci"] = ci.get(key)
        return row

    def _groups(self, ctx: Context, result: CheckResult, members: Dataset, nonmembers: Dataset, member: np.ndarray, score: np.ndarray, model: ModelAdapter) -> None:
        p: MembershipParams = self.params
        rows_out = []
        for column in ctx.schema.group_columns:
            groups = np.r_[members.groups(column).astype(str).to_numpy(), nonmembers.groups(column).astype(str).to_numpy()]
            point_auc, boot_auc, sides = {}, {}, {}
            labels, aucs, cis = [], [], []
            for value in sorted(set(groups)):
                rows = np.flatnonzero(groups == value)
                label = group_label(column, value)
                m_in, m_out = int(member[rows].sum()), int(len(rows) - member[rows].sum())
                side = min(m_in, m_out)
                if side == 0:
                    why = f"group {label} has {m_in} members and {m_out} non-members; both are needed"
                    result.add("mia_auc", None, n=side, group=label, reason=why)
                    result.add("mia_advantage", None, n=side, group=label, reason=why)
                    rows_out.append({"column": column, "group": label, "members": m_in, "non_members": m_out, "auc": None, "auc_ci": None, "advantage": None})
                    continue
                if side < p.min_group_size:
                    result.warn(f"group {label} has {m_in} members and {m_out} non-members (< {p.min_group_size}); its membership metrics are unreliable")
                rng = ctx.rng(self.name, model.name, "group", column, str(value))
                point = roc_stats(member[rows], score[rows])
                boots = roc_stats(member[rows], score[rows], bootstrap_indices(len(rows), p.bootstrap, rng, strata=member[rows])) if p.bootstrap else None
                ci = {k: percentile_ci(boots[k], p.confidence) for k in ("auc", "advantage")} if boots is not None else {}
                result.add("mia_auc", float(point["auc"]), ci=ci.get("auc"), n=side, group=label)
                result.add("mia_advantage", float(point["advantage"]), ci=ci.get("advantage"), n=side, group=label)
                rows_out.append({"column": column, "group": label, "members": m_in, "non_members": m_out, "auc": float(point["auc"]), "auc_ci": ci.get("auc"), "advantage": float(point["advantage"])})
                labels.append(str(value))
                aucs.append(float(point["auc"]))
                cis.append(ci.get("auc"))
                if side >= p.min_group_size:
                    point_auc[label] = float(point["auc"])
                    boot_auc[label] = boots["auc"] if boots is not None else None
                    sides[label] = side
            if len(point_auc) >= 2:
                gap = max(point_auc.values()) - min(point_auc.values())
                ci = None
                if p.bootstrap:
                    stack = np.vstack(list(boot_auc.values()))
                    with np.errstate(all="ignore"):
                        ci = percentile_ci(np.nanmax(stack, axis=0) - np.nanmin(stack, axis=0), p.confidence)
                result.add("max_group_mia_auc_gap", gap, ci=ci, n=min(sides.values()), group=column)
            else:
                result.add("max_group_mia_auc_gap", None, group=column, reason=f"needs two groups of '{column}' with at least {p.min_group_size} members and non-members each")
            if labels:
                result.figure("bar", title=f"Loss-attack membership AUC by {column} (0.5 = no leak)", labels=labels, values=aucs, ci=cis,
                              ref_line=0.5, ref_label="no leak", value_range=(0.0, 1.0))
        result.table("by_group", rows_out)

    def _shadows(self, ctx: Context, result: CheckResult, model: ModelAdapter, members: Dataset, nonmembers: Dataset, mem_rows: np.ndarray,
                 member: np.ndarray, proba: np.ndarray, y: np.ndarray) -> tuple[list[dict], dict]:
        p: MembershipParams = self.params
        n = len(mem_rows)
        why = None
        if p.shadow_models == 0:
            why = "shadow models are off (shadow_models: 0)"
        elif ctx.suite is None:
            why = f"model '{model.name}' has no suite recipe to retrain"
        shadows: list = []
        if why is None:
            keep = sh.keep_matrix(ctx.rng(self.name, model.name, "shadow-halves"), p.shadow_models, len(ctx.data.train))
            for i in range(p.shadow_models):
                fitted, reason = ctx.retrain(model, np.flatnonzero(keep[i]), f"shadow{i}")
                if fitted is None:
                    why = reason
                    break
                shadows.append(np.vstack([ctx.predict(fitted, members).proba, ctx.predict(fitted, nonmembers).proba]))
        if why is not None:
            reason = NOT_APPLICABLE + why
            result.add("shadow_mia_auc", None, n=n, reason=reason)
            result.add("lira_auc", None, n=n, reason=reason)
            result.add("lira_tpr_at_fpr_1pct", None, n=n, reason=reason)
            if p.shadow_models:
                result.warn(f"shadow-model attacks not applicable to model '{model.name}': {why}; their metrics are recorded as null")
            return [], {}
        rows, curves = [], {}
        # IN/OUT of each shadow for the sampled members; a virtual pattern for non-members (LiRA)
        shadow_in = np.hstack([keep[:, mem_rows], sh.keep_matrix(ctx.rng(self.name, model.name, "shadow-virtual"), p.shadow_models, n)])
        feats = [sh.attack_features(s, y) for s in shadows]
        train_x = np.vstack([f[:n] for f in feats])
        train_in = np.concatenate([shadow_in[i, :n] for i in range(len(shadows))])
        target_x = sh.attack_features(proba, y)
        scores = sh.shokri_attack(train_x, train_in, target_x, ctx.seed)
        rows.append(self._attack(result, "shadow models (Shokri)", {"auc": "shadow_mia_auc"}, member, scores, ctx.rng(self.name, model.name, "boot-shadow"), n))
        curves["shadow models"] = roc_points(member, scores)
        if len(shadows) < LIRA_MIN_SHADOWS:
            reason = f"{NOT_APPLICABLE}LiRA needs at least {LIRA_MIN_SHADOWS} shadow models"
            result.add("lira_auc", None, n=n, reason=reason)
            result.add("lira_tpr_at_fpr_1pct", None, n=n, reason=reason)
        else:
            phi = np.vstack([logit_confidence(s, y) for s in shadows])
            lira = sh.lira_offline(logit_confidence(proba, y), phi, ~shadow_in)
            rows.append(self._attack(result, f"LiRA offline ({len(shadows)} shadows)", {"auc": "lira_auc", "tpr@0.01": "lira_tpr_at_fpr_1pct"}, member, lira, ctx.rng(self.name, model.name, "boot-lira"), n))
            curves["LiRA (offline)"] = roc_points(member, lira)
        return rows, curves

    def _attribute_inference(self, ctx: Context, result: CheckResult, model: ModelAdapter) -> None:
        p: MembershipParams = self.params
        schema, test = ctx.schema, ctx.data.test
        if schema.modality != "tabular":
            return
        proba = ctx.predict(model, test).proba
        rows_out = []
        for column in schema.sensitive:
            drop = {column, *p.attribute_exclude.get(column, [])}
            numeric = [c for c in schema.numeric if c not in drop]
            categorical = [c for c in schema.categorical if c not in drop]
            try:
                cache = ctx.shared.setdefault(("privacy", "attribute-baselines", test.name), {})  # the baseline ignores the model
                out = attr.attribute_inference(test.X, numeric, categorical, test.sensitive[column], proba, ctx.seed, p.attribute_folds, cache=cache)
            except ValueError as error:
                for metric in ("attribute_inference_uplift", "attribute_inference_baseline", "attribute_inference_with_model"):
                    result.add(metric, None, n=len(test), group=column, reason=f"attribute inference on '{column}' is undefined: {error}")
                continue
            codes, base, with_model = out["codes"], out["baseline"], out["with_model"]
            a, b = float(attr.balanced_accuracy(codes, base)), float(attr.balanced_accuracy(codes, with_model))
            ci = {}
            if p.bootstrap:
                idx = bootstrap_indices(len(codes), p.bootstrap, ctx.rng(self.name, model.name, "attribute", column))
                ba, bb = attr.balanced_accuracy(codes, base, idx), attr.balanced_accuracy(codes, with_model, idx)
                ci = {"uplift": percentile_ci(bb - ba, p.confidence), "baseline": percentile_ci(ba, p.confidence), "with_model": percentile_ci(bb, p.confidence)}
            result.add("attribute_inference_uplift", b - a, ci=ci.get("uplift"), n=len(codes), group=column)
            result.add("attribute_inference_baseline", a, ci=ci.get("baseline"), n=len(codes), group=column)
            result.add("attribute_inference_with_model", b, ci=ci.get("with_model"), n=len(codes), group=column)
            rows_out.append({"column": column, "values": len(out["labels"]), "features": len(numeric) + len(categorical), "folds": out["folds"],
                             "baseline_balanced_accuracy": a, "with_model_balanced_accuracy": b, "uplift": b - a, "uplift_ci": ci.get("uplift")})
        result.table("attribute_inference", rows_out)

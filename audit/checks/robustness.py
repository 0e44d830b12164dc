"""``robustness``: adversarial robustness curves and counterfactual flip tests for tabular models.

**Attacks** run in the model's encoded input space (standardised numeric columns + one-hot
columns) under an L-infinity budget ``eps`` measured in standard deviations. Only the *mutable
numeric* columns move: one-hot categorical columns are never perturbed (a fraction of a category
means nothing), nor are the ``immutable`` features (default: age, foreign_worker,
personal_status_sex, which also carries sex). With ``valid_inputs`` (the default) every
adversarial row is also a valid application in original units (``audit.attacks.domain.TabularDomain``):
each numeric feature stays within its training [min, max] (widened to include the attacked
row's own value), and a feature whose training values are all whole numbers (months, counts,
amounts) is rounded to a whole number inside the budget, the attack's success being judged on
the rounded row. ``valid_inputs: false`` attacks the continuous ball instead (a worst case for
small measurement errors, where an integer feature may take a fractional value).

* ``fgsm`` / ``pgd``: the gradient attacks shared with the image check
  (``audit.attacks.gradient``: logit-margin loss; PGD keeps each row's first misclassified
  iterate over ``pgd_restarts`` walks, the first from the clean row) on models with a
  ``torch_module`` (the MLP). On a model without one they do not run, and their metrics are
  recorded as null with the reason (``not applicable: <model> has no gradients ...``), so a gate
  like ``*/robustness/robust_accuracy[pgd@0.1]`` errors on that model instead of silently
  judging the others only;
* ``blackbox``: a seeded query-only random + greedy coordinate search
  (``audit.attacks.blackbox``) on every model, so all models get a comparable curve.

An adversarial row found at a small budget lies inside every larger ball, so it counts at
larger budgets too: each curve is the attack's best effort up to that budget and is
non-increasing by construction. Each (attack, budget) pair is one shard of ``Context.map``
seeded by its own keys (Ray tasks with ``execution: {backend: ray}``, same numbers). Attacks query the model directly on perturbed encoded rows,
the one place where predictions do not go through ``ctx.predict``. The check runs with one
BLAS / OpenMP / torch thread (``audit.attacks.limit_threads``), which is faster for its many
small batches and does not collapse on a busy machine.

**Counterfactual flip test**: copies of the test set where only the feature carrying a sensitive
attribute changes (``audit.attacks.counterfactual``), scored through ``ctx.predict``.

Metric paths (``<model>/robustness/...``):

* ``clean_accuracy`` on the attacked rows;
* ``robust_accuracy[<attack>@<eps>]``, ``attack_success_rate[<attack>@<eps>]`` (share of the
  correctly classified rows whose prediction the attack flips), ``average_queries[blackbox@<eps>]``;
* by group at ``group_epsilon`` (default: the largest budget):
  ``robust_accuracy[<attack>@<eps>,<column>=<value>]`` for every sensitive column and
  intersection (``...,sex=female&age_group=<25``);
* ``counterfactual_flip_rate[<attribute>]``, per original group ``counterfactual_flip_rate[<attribute>=<value>]``,
  and ``counterfactual_score_change[<attribute>]`` (mean absolute change of the positive-class score).

Proportions carry Wilson intervals; the mean score change a bootstrap interval.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import Field, field_validator, model_validator

from audit.attacks.counterfactual import CounterfactualSpec, build_counterfactual, default_specs
from audit.checks.base import Check, CheckParams, CheckResult
from audit.data.base import group_label, take
from audit.errors import CheckError
from audit.metrics.binary import bootstrap_indices, percentile_ci
from audit.metrics.significance import wilson_interval
from audit.registry import suggest

if TYPE_CHECKING:
    from audit.context import Context, Predictions
    from audit.models.base import ModelAdapter

Attack = Literal["fgsm", "pgd", "blackbox"]


class RobustnessParams(CheckParams):
    epsilons: list[float] = Field(default_factory=lambda: [0.0, 0.05, 0.1, 0.2, 0.3, 0.5], min_length=1, max_length=20,
                                  description="L-inf budgets, in standard deviations of the standardised numeric features.")
    attacks: list[Attack] = Field(default_factory=lambda: ["fgsm", "pgd", "blackbox"], min_length=1,
                                  description="fgsm and pgd need a torch model; blackbox runs on every model.")
    immutable: list[str] = Field(default_factory=lambda: ["age", "foreign_worker", "personal_status_sex"],
                                 description="Features attacks never change (defaults absent from the data are ignored).")
    max_rows: int = Field(300, ge=10, le=100_000, description="Attack at most this many test rows (a seeded sample).")
    pgd_steps: int = Field(20, ge=1, le=1000)
    pgd_step_ratio: float = Field(2.5, gt=0, le=20, description="PGD step = ratio * eps / steps.")
    pgd_restarts: int = Field(2, ge=1, le=100, description="PGD walks per budget: the first from the clean row, the others from random points.")
    blackbox_random: int = Field(10, ge=0, le=1000, description="Random sign vertices tried per row.")
    blackbox_passes: int = Field(1, ge=0, le=20, description="Greedy coordinate sweeps per row.")
    group_epsilon: float | None = Field(None, description="Budget of the per-group breakdown (default: the largest).")
    counterfactuals: dict[str, CounterfactualSpec] | None = Field(
        None, description="Sensitive column -> how to change its source feature (default: swap two-valued categorical sensitive features).")
    confidence: float = Field(0.95, gt=0.5, lt=1.0)
    bootstrap: int = Field(1000, ge=0, le=20_000, description="Replicates for the score-change interval.")
    valid_inputs: bool = Field(True, description="Keep adversarial rows valid in original units: numeric features within their "
                               "training [min, max], whole-number features rounded. false: the continuous L-inf ball.")

    @field_validator("epsilons")
    @classmethod
    def _budgets(cls, value: list[float]) -> list[float]:
        if any(not 0 <= e <= 10 for e in value):
            raise ValueError("every budget must lie in [0, 10] standard deviations")
        return sorted(set(value))

    @model_validator(mode="after")
    def _group_budget(self) -> RobustnessParams:
        if self.group_epsilon is not None and self.group_epsilon not in self.epsilons:
            raise ValueError(f"group_epsilon {self.group_epsilon:g} must be one of the epsilons {self.epsilons}")
        return self


def tag(attack: str, eps: float) -> str:
    return f"{attack}@{eps:g}"


class RobustnessCheck(Check):
    name = "robustness"
    Params = RobustnessParams
    metrics = (
        "clean_accuracy", "robust_accuracy", "attack_success_rate", "average_queries",
        "counterfactual_flip_rate", "counterfactual_score_change",
    )  # fmt: skip

    def run(self, ctx: Context, model: ModelAdapter) -> CheckResult:
        from audit.attacks import limit_threads

        result = CheckResult(self.check_name, model.name)
        with limit_threads(1):
            clean = ctx.predict(model, ctx.data.test)
            self._attacks(ctx, model, clean, result)
            self._counterfactuals(ctx, model, clean, result)
        return result

    # -- attacks -------------------------------------------------------------------------------
    def _mask(self, ctx: Context, model: ModelAdapter, width: int) -> tuple[np.ndarray, list[str]]:
        p: RobustnessParams = self.params
        schema = ctx.schema
        unknown = [f for f in p.immutable if f not in schema.features]
        if unknown and "immutable" in p.model_fields_set:
            raise CheckError(f"robustness: immutable: '{unknown[0]}' is not a feature; {suggest(unknown[0], list(schema.features))}")
        sources = model.feature_sources
        if len(sources) != width:
            raise CheckError(f"robustness: model '{model.name}' names {len(sources)} encoded columns but transform gives {width}")
        mutable = [name for name, src in sources.items() if src in schema.numeric and src not in p.immutable]
        return np.array([name in mutable for name in sources]), mutable

    def _attacks(self, ctx: Context, model: ModelAdapter, clean: Predictions, result: CheckResult) -> None:
        p: RobustnessParams = self.params
        test = ctx.data.test
        proba = getattr(model, "proba_from_encoded", None)
        try:
            rows = np.arange(len(test))
            if len(test) > p.max_rows:
                rows = np.sort(ctx.rng(self.name, "rows").choice(len(test), p.max_rows, replace=False))
            Z = model.transform(take(test.X, rows))
        except NotImplementedError:
            proba = None
        if proba is None:
            result.warn(f"model '{model.name}' exposes no encoded input space (transform / proba_from_encoded); attacks skipped")
            self._not_applicable(ctx, result, rows, {a: f"{model.name} exposes no encoded input space" for a in p.attacks})
            return
        mask, mutable = self._mask(ctx, model, Z.shape[1])
        y = test.y[rows]
        pred0 = np.asarray(proba(Z)).argmax(axis=1)
        if (pred0 != clean.pred[rows]).any():
            result.warn(f"{int((pred0 != clean.pred[rows]).sum())} rows predict differently from encoded input than from raw rows")
        correct = pred0 == y
        result.add("clean_accuracy", float(correct.mean()), ci=wilson_interval(int(correct.sum()), len(y), p.confidence), n=len(y), direction="higher")
        attacks, notes, skipped = self._applicable(model, Z, pred0)
        domain, integers, domain_notes = self._domain(ctx, model, mask)
        result.table("setup", [{"perturbed_columns": mutable, "immutable": [f for f in p.immutable if f in ctx.schema.features],
                                "integer_features": integers, "valid_inputs": p.valid_inputs,
                                "attacked_rows": int(len(rows)), "notes": notes + domain_notes}])
        if not mask.any():
            result.warn("no mutable numeric feature to perturb; attacks skipped")
            self._not_applicable(ctx, result, rows, {a: "no mutable numeric feature to perturb" for a in p.attacks})
            return
        if skipped:
            for why in dict.fromkeys(skipped.values()):  # one warning per cause
                names = ", ".join(a for a, w in skipped.items() if w == why)
                result.warn(f"{names} not applicable to model '{model.name}': {why}; their metrics are recorded as null")
            self._not_applicable(ctx, result, rows, skipped)
        curve_rows: list[dict[str, Any]] = []
        robust_at: dict[str, np.ndarray] = {}
        group_eps = p.group_epsilon if p.group_epsilon is not None else p.epsilons[-1]
        # one shard per (attack, budget): each seeds itself as before, so either backend gives these numbers
        job = _AttackJob(p, self.name, model, ctx.seed, Z, y, pred0, domain)
        pairs = [(attack, eps) for attack in attacks for eps in p.epsilons]
        found = dict(zip(pairs, ctx.map(job, pairs, label=f"{model.name} · {self.check_name} attacks"), strict=True))
        for attack in attacks:
            broken = np.zeros(len(y), dtype=bool)
            for eps in p.epsilons:
                adv_pred, queries = found[attack, eps]
                broken |= correct & (adv_pred != y)
                robust = correct & ~broken
                curve_rows.append(self._record(result, attack, eps, robust, broken, correct, queries))
                if eps == group_eps:
                    robust_at[attack] = robust
        result.table("curve", curve_rows)
        self._curve_figure(result, curve_rows, attacks)
        self._groups(ctx, result, rows, correct, robust_at, group_eps)

    def _domain(self, ctx: Context, model: ModelAdapter, mask: np.ndarray) -> tuple[Any, list[str], list[str]]:
        """(the attacks' TabularDomain, the integer features it rounds, notes)."""
        import pandas as pd

        from audit.attacks.domain import TabularDomain

        p: RobustnessParams = self.params
        if not p.valid_inputs:
            return TabularDomain(mask), [], ["valid_inputs is false: the continuous ball (integer features may take fractional "
                                             "values, numeric features may leave their training range)"]
        train = ctx.data.background  # the reference rows, else the training rows
        whose = "training" if train is ctx.data.train else "reference"
        if train is None:  # evaluation-only without a reference file: the audited rows bound the domain
            train, whose = ctx.data.test, "test"
        sources = list(model.feature_sources.values())
        values = {c: pd.to_numeric(train.X[c], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
                  for c in dict.fromkeys(sources[j] for j in np.flatnonzero(mask))}
        rows = domain_rows(values, len(train), ctx.rng(self.name, "domain"))
        X = train.X if rows is None else take(train.X, rows)
        numeric = {j: values[sources[j]] if rows is None else values[sources[j]][rows] for j in np.flatnonzero(mask)}
        domain, notes = TabularDomain.from_training(model.transform(X), numeric, mask)
        integers = [sources[j] for j in np.flatnonzero(domain.integer & mask)]
        read = "" if rows is None else (f" (read from {len(rows):,} of {len(train):,} rows: a seeded sample and each numeric "
                                        "feature's smallest and largest row; exact for an encoder monotone in each feature)")
        return domain, integers, [f"numeric features stay within their {whose} [min, max]{read}", *notes]

    def _applicable(self, model: ModelAdapter, Z: np.ndarray, pred0: np.ndarray) -> tuple[list[str], list[str], dict[str, str]]:
        """(attacks that run, setup notes, {attack that cannot run: why not})."""
        p: RobustnessParams = self.params
        attacks, notes, skipped = [], ["one-hot categorical columns are never perturbed"], {}
        for attack in p.attacks:
            if attack == "blackbox":
                attacks.append(attack)
                continue
            if model.torch_module is None:
                notes.append(f"{attack} skipped: model has no torch_module (no gradients)")
                skipped[attack] = f"{model.name} has no gradients (gradient attacks need a torch model)"
                continue
            import torch

            from audit.attacks.gradient import two_class_forward

            with torch.no_grad():
                logits = two_class_forward(model.torch_module)(torch.as_tensor(np.asarray(Z, dtype=np.float32)))
            if (logits.argmax(dim=1).numpy() != pred0).any():
                notes.append(f"{attack} skipped: torch_module's outputs disagree with the model's predictions")
                skipped[attack] = f"{model.name}'s torch_module disagrees with its predictions, so its gradients would attack another model"
                continue
            attacks.append(attack)
        return attacks, notes, skipped

    def _not_applicable(self, ctx: Context, result: CheckResult, rows: np.ndarray, skipped: dict[str, str]) -> None:
        """Null curve and per-group metrics, reason ``not applicable: <why>``, for every attack that could not run."""
        p: RobustnessParams = self.params
        group_eps = p.group_epsilon if p.group_epsilon is not None else p.epsilons[-1]
        labels = []
        for column in ctx.schema.group_columns:
            groups = ctx.data.test.groups(column).to_numpy()[rows]
            labels += [group_label(column, value) for value in sorted(set(groups), key=str)]
        for attack, why in skipped.items():
            reason = f"not applicable: {why}"
            for eps in p.epsilons:
                result.add("robust_accuracy", None, group=tag(attack, eps), direction="higher", reason=reason)
                result.add("attack_success_rate", None, group=tag(attack, eps), direction="lower", reason=reason)
                if attack == "blackbox":
                    result.add("average_queries", None, group=tag(attack, eps), reason=reason)
            for label in labels:
                result.add("robust_accuracy", None, group=f"{tag(attack, group_eps)},{label}", direction="higher", reason=reason)

    def _record(self, result: CheckResult, attack: str, eps: float, robust: np.ndarray, broken: np.ndarray,
                correct: np.ndarray, queries: np.ndarray | None) -> dict[str, Any]:
        p: RobustnessParams = self.params
        n, n_correct = len(robust), int(correct.sum())
        key = tag(attack, eps)
        acc_ci = wilson_interval(int(robust.sum()), n, p.confidence)
        asr = float(broken.sum() / n_correct) if n_correct else None
        asr_ci = wilson_interval(int(broken.sum()), n_correct, p.confidence)
        result.add("robust_accuracy", float(robust.mean()), ci=acc_ci, n=n, group=key, direction="higher")
        result.add("attack_success_rate", asr, ci=asr_ci, n=n_correct, group=key, direction="lower")
        row = {"attack": attack, "epsilon": eps, "n": n, "robust_accuracy": float(robust.mean()), "robust_accuracy_ci": acc_ci,
               "attack_success_rate": asr, "attack_success_rate_ci": asr_ci, "flipped": int(broken.sum())}
        if queries is not None:
            mean_q = float(queries[correct].mean()) if n_correct else None
            result.add("average_queries", mean_q, n=n_correct, group=key)
            row["average_queries"] = mean_q
        return row

    def _curve_figure(self, result: CheckResult, rows: list[dict[str, Any]], attacks: list[str]) -> None:
        series, bands = {}, {}
        for attack in attacks:
            mine = [r for r in rows if r["attack"] == attack]
            xs = [r["epsilon"] for r in mine]
            series[attack] = [xs, [r["robust_accuracy"] for r in mine]]
            bands[attack] = [[r["robust_accuracy_ci"][0] for r in mine], [r["robust_accuracy_ci"][1] for r in mine]]
        result.figure("line", title="Robust accuracy vs L-inf budget (95% Wilson bands)", series=series, bands=bands,
                      x_label="budget eps (standard deviations, mutable numeric features)", y_label="robust accuracy",
                      value_range=[0.0, 1.0])

    def _groups(self, ctx: Context, result: CheckResult, rows: np.ndarray, correct: np.ndarray,
                robust_at: dict[str, np.ndarray], eps: float) -> None:
        p: RobustnessParams = self.params
        table, labels, series = [], [], {"clean": []} | {tag(a, eps): [] for a in robust_at}
        for column in ctx.schema.group_columns:
            groups = ctx.data.test.groups(column).to_numpy()[rows]
            for value in sorted(set(groups), key=str):
                member = groups == value
                label, n = group_label(column, value), int(member.sum())
                row = {"attribute": column, "group": str(value), "n": n, "clean_accuracy": float(correct[member].mean())}
                for attack, robust in robust_at.items():
                    k = int(robust[member].sum())
                    result.add("robust_accuracy", k / n, ci=wilson_interval(k, n, p.confidence), n=n, group=f"{tag(attack, eps)},{label}", direction="higher")
                    row[tag(attack, eps)] = k / n
                table.append(row)
                if column in ctx.schema.sensitive:
                    labels.append(label)
                    for key in series:
                        series[key].append(row["clean_accuracy"] if key == "clean" else row[key])
        result.table("groups", table)
        if labels and robust_at:
            result.figure("grouped_bar", title=f"Clean and robust accuracy by group at eps={eps:g}", categories=labels,
                          series=series, value_range=[0.0, 1.0])

    # -- counterfactual flips ------------------------------------------------------------------
    def _counterfactuals(self, ctx: Context, model: ModelAdapter, clean: Predictions, result: CheckResult) -> None:
        import pandas as pd

        p: RobustnessParams = self.params
        test, schema = ctx.data.test, ctx.schema
        rows = (ctx.data.background or test).X  # medians and levels: the reference rows, else train (else the test rows)
        specs = p.counterfactuals if p.counterfactuals is not None else default_specs(schema, rows)
        table, labels, rates, cis = [], [], [], []
        from audit.shift.encoded import EncodedScorer

        scorer = EncodedScorer(ctx, model)  # each counterfactual frame encoded once for the models sharing a preprocessor
        for attribute, spec in specs.items():
            digest = hashlib.sha256(spec.model_dump_json().encode()).hexdigest()[:10]
            key = (self.name, "counterfactual", attribute, digest)
            if key not in ctx.shared:  # built once per run, whichever model asks first; dropped after the last
                X_cf, changed = build_counterfactual(attribute, spec, test.X, test.sensitive, schema, rows)
                ctx.shared[key] = (test.with_features(X_cf, f"{test.name}~counterfactual[{attribute}]:{digest}"), changed, set(ctx.models))
            counterfactual, changed, waiting = ctx.shared[key]
            waiting.discard(model.name)
            if not waiting:
                del ctx.shared[key]
            cf = ctx.predict(scorer, counterfactual)
            n = int(changed.sum())
            if n == 0:
                result.warn(f"counterfactual for '{attribute}' changes no test row; check its {spec.mode} values")
                continue
            flips = (cf.pred != clean.pred) & changed
            change = np.abs(cf.score - clean.score)[changed]
            rate, ci = float(flips.sum() / n), wilson_interval(int(flips.sum()), n, p.confidence)
            result.add("counterfactual_flip_rate", rate, ci=ci, n=n, group=attribute, direction="lower")
            score_ci = None
            if p.bootstrap:
                idx = bootstrap_indices(n, p.bootstrap, ctx.rng(self.name, model.name, "counterfactual", attribute))
                score_ci = percentile_ci(change[idx].mean(axis=1), p.confidence)
            result.add("counterfactual_score_change", float(change.mean()), ci=score_ci, n=n, group=attribute, direction="lower")
            labels.append(attribute)
            rates.append(rate)
            cis.append(ci)
            codes, uniques = pd.factorize(test.sensitive[attribute])
            present = np.unique(codes[changed & (codes >= 0)])
            for value, code in sorted(zip(uniques[present], present, strict=True), key=lambda vc: str(vc[0])):
                member = changed & (codes == code)
                k, m = int(flips[member].sum()), int(member.sum())
                result.add("counterfactual_flip_rate", k / m, ci=wilson_interval(k, m, p.confidence), n=m, group=group_label(attribute, value), direction="lower")
                table.append({"attribute": attribute, "group": str(value), "feature": spec.feature, "changed_rows": m, "flips": k,
                              "flip_rate": k / m, "to_positive": int((flips & member & (cf.pred > clean.pred)).sum()),
                              "to_negative": int((flips & member & (cf.pred < clean.pred)).sum()),
                              "mean_score_change": float((cf.score - clean.score)[member].mean())})
        if table:
            result.table("counterfactuals", table)
            result.figure("bar", title="Counterfactual flip rate: share of predictions that change with the attribute alone",
                          labels=labels, values=rates, ci=[list(c) if c else None for c in cis], horizontal=True,
                          value_range=[0.0, 1.0], x_label="share of changed rows whose decision flips")


DOMAIN_ROWS = 20_000  # rows the attack domain is read from, at most, plus each numeric feature's extreme rows


def domain_rows(values: dict[str, np.ndarray], n: int, rng: np.random.Generator) -> np.ndarray | None:
    """The rows a domain is read from: all (None) up to ``DOMAIN_ROWS``; beyond, a seeded sample
    of that many plus the rows holding each numeric feature's minimum and maximum, so that the
    bounds stay exact while the encoder runs on a sample, not on every training row."""
    if n <= DOMAIN_ROWS:
        return None
    extremes = [f(x) for x in values.values() if np.isfinite(x).any() for f in (np.nanargmin, np.nanargmax)]
    return np.unique(np.concatenate([rng.choice(n, DOMAIN_ROWS, replace=False), np.asarray(extremes, dtype=np.int64)]))


class _AttackJob:
    """One (attack, budget) pair of ``robustness``: a shard ``Context.map`` may run in another process.

    It holds the model, the attacked encoded rows and the domain, and seeds its attack from the
    run seed and its own keys (``keyed_rng(seed, check, model, attack, eps)`` is the check's
    ``ctx.rng(...)``), so a pair's result does not depend on where or after which pair it runs.
    """

    def __init__(self, params: RobustnessParams, check: str, model: ModelAdapter, seed: int, Z: np.ndarray, y: np.ndarray,
                 pred0: np.ndarray, domain: Any) -> None:
        self.params, self.check, self.model, self.seed = params, check, model, seed
        self.Z, self.y, self.pred0, self.domain = Z, y, pred0, domain

    def __call__(self, pair: tuple[str, float]) -> tuple[np.ndarray, np.ndarray | None]:
        from audit.attacks import limit_threads

        attack, eps = pair
        with limit_threads(1):  # as the check itself runs (a Ray worker may allow more)
            return self._attack(attack, eps)

    def _attack(self, attack: str, eps: float) -> tuple[np.ndarray, np.ndarray | None]:
        from audit.context import keyed_rng

        p, model, Z, y, domain = self.params, self.model, self.Z, self.y, self.domain
        if eps == 0:
            return self.pred0, (np.ones(len(y), dtype=np.int64) if attack == "blackbox" else None)
        queries = None
        rng = keyed_rng(self.seed, self.check, model.name, attack, eps)
        if attack == "blackbox":
            from audit.attacks.blackbox import blackbox_attack

            out = blackbox_attack(model.proba_from_encoded, Z, y, eps, domain.mask, rng, n_random=p.blackbox_random,
                                  passes=p.blackbox_passes, domain=domain if p.valid_inputs else None)
            adv, queries = out.Z, out.queries
        else:
            from audit.attacks.gradient import fgsm, pgd

            if attack == "fgsm":
                adv = fgsm(model.torch_module, Z, y, eps, domain)
            else:
                adv = pgd(model.torch_module, Z, y, eps, domain, steps=p.pgd_steps, step_size=p.pgd_step_ratio * eps / p.pgd_steps,
                          restarts=p.pgd_restarts, seed=int(rng.integers(2**31)))
        problems = domain.violations(adv, Z, eps)
        if problems:
            raise CheckError(f"robustness: internal error: {attack} at eps={eps:g} {'; '.join(problems)}")
        return np.asarray(model.proba_from_encoded(adv)).argmax(axis=1), queries

"""One collector per kind of finding: each reads the run's metrics (never a model) and returns
candidates with their severity, title, interval and score."""

from __future__ import annotations

from typing import Any

import numpy as np

from audit.findings.base import (
    DISPARITY_RATES,
    RATE_WORDS,
    REFERENCE,
    SMALL_GROUP,
    _beyond,
    _Candidate,
    _excess,
    _n_text,
    _num,
    _Run,
    anchor,
)
from audit.metrics.significance import adjust_pvalues, fisher_greater, two_proportion_greater
from audit.results import pillar_of


def _fairness(run: _Run) -> list[_Candidate]:
    """Each disparity, naming the groups at either end with their counts; ``warn`` needs the value
    past its reference level and a one-sided Fisher exact test of the two end groups (Bonferroni
    over the attribute's group pairs) below 0.05: a rate of 1.0 from 1 row is not evidence."""
    out, metrics = [], run.of("fairness")
    seen = {(m.model, m.group): m.value for m in metrics if m.metric == "equal_opportunity_difference"}
    for m in metrics:
        if m.metric not in DISPARITY_RATES or m.group is None or "=" in m.group or "|" in m.group or m.value is None:
            continue
        attribute, words = m.group, m.metric.replace("_", " ")
        ends = _extreme_groups(run, m, DISPARITY_RATES[m.metric])
        if ends is None:
            out.append(run.candidate(m, m.metric, f"{attribute}: {words} {_num(m.value)} (n={m.n})", key=("fairness", m.metric, attribute)))
            continue
        rate, lo, hi, p = ends
        if m.metric == "equalized_odds_difference" and rate == "tpr" and seen.get((m.model, attribute)) == m.value:
            continue  # the same TPR gap as the equal opportunity difference: one finding
        what = RATE_WORDS[rate].format(pos=f"'{run.positive}'")
        fine = _num(hi[1], True) == _num(lo[1], True)  # both round alike: show a decimal more
        title = f"{attribute}: {what} {_group_text(hi, fine)} vs {_group_text(lo, fine)}; {words} {_num(m.value)}"
        c = run.candidate(m, m.metric, title, key=("fairness", m.metric, attribute))
        c.severity = "warn" if _beyond(m.metric, m.value, None) and p is not None and p < 0.05 else "info"
        c.title += f" (Fisher exact p = {p:.2g})" if p is not None else ""
        out.append(c)
    return out


def _group_text(g: tuple[str, float, int, int, str], fine: bool = False) -> str:
    label, rate, k, d, cell = g
    small = ", too few to judge alone" if d < SMALL_GROUP else ""
    return f"{f'{rate:.1%}' if fine else _num(rate, True)} for {label} ({k} of {d}{cell}{small})"


def _extreme_groups(run: _Run, m: Any, rates: tuple[str, ...]) -> tuple[str, tuple, tuple, float | None] | None:
    """(rate, lowest group, highest group, p) of the rate whose range is the disparity, from the
    fairness check's ``groups`` table; a group is (label, rate, count, denominator, what is counted)
    and ``p`` the Bonferroni-adjusted one-sided Fisher exact p-value of highest vs lowest."""
    record = run.records.get((m.model, m.check))
    if record is None:
        return None
    named = None
    for row in record.tables.get("disparities", []):
        if row.get("attribute") == m.group and row.get("metric") == m.metric and row.get("groups"):
            named = set(row["groups"])
    negative = next((str(c) for c in run.r.suite.get("classes", []) if str(c) != run.positive), "negative")
    names = m.group.split("&")
    best = None
    for rate in rates:
        groups = []
        for row in record.tables.get("groups", []):
            if row.get("attribute") != m.group or row.get("class") is not None or row.get(rate) is None:
                continue
            values = str(row["group"]).split("&") if len(names) > 1 else [str(row["group"])]
            full = "&".join(f"{a}={v}" for a, v in zip(names, values, strict=False))
            if named is not None and full not in named:
                continue
            n, pos = int(row.get("n") or 0), row.get("positives")
            if rate == "selection_rate":
                d, cell = n, ""
            elif pos is None:
                continue
            else:
                d, cell = (int(pos), f" actual {run.positive}") if rate == "tpr" else (n - int(pos), f" actual {negative}")
            label = " & ".join(f"{a}={v}" for a, v in zip(names, values, strict=False)) if len(names) > 1 else str(row["group"])
            groups.append((label, float(row[rate]), round(float(row[rate]) * d), d, cell))
        if len(groups) < 2:
            continue
        lo, hi = min(groups, key=lambda t: t[1]), max(groups, key=lambda t: t[1])
        if best is None or hi[1] - lo[1] > best[2][1] - best[1][1]:
            pairs = len(groups) * (len(groups) - 1) / 2
            p = fisher_greater(hi[2], hi[3], lo[2], lo[3])
            best = (rate, lo, hi, None if p is None else min(1.0, p * pairs))
    return best


def _group_performance(run: _Run) -> list[_Candidate]:
    """Sensitive groups whose accuracy is below the other test rows' (z test, BH per model)."""
    out = []
    by_model: dict[str, list[tuple[Any, float]]] = {}
    for m in run.of("performance"):
        if m.metric != "accuracy" or m.group is None or "|" in m.group or m.value is None or not m.n:
            continue
        overall = run.metrics.get(f"{m.model}/{m.check}/accuracy")
        if overall is None or overall.value is None or not overall.n or overall.n <= m.n:
            continue
        err_g = (1 - m.value) * m.n
        err_rest = (1 - overall.value) * overall.n - err_g
        p = two_proportion_greater(err_g, m.n, err_rest, overall.n - m.n)
        if p is not None:
            by_model.setdefault(m.model, []).append((m, p))
    for items in by_model.values():
        adjusted = adjust_pvalues(np.array([p for _, p in items]), "bh").tolist()
        for (m, _), q in zip(items, adjusted, strict=True):
            overall = run.metrics[f"{m.model}/{m.check}/accuracy"]
            gap = overall.value - m.value
            if gap <= 0:
                continue
            title = (f"accuracy {_num(m.value)} for {m.group.replace('&', ' & ')} ({_n_text(m.n)}) vs "
                     f"{_num(overall.value)} overall (n={overall.n}); adjusted p = {q:.2g} (Benjamini-Hochberg)")
            c = run.candidate(m, "accuracy_gap", title, key=("group_accuracy", m.group), value=m.value, ci=m.ci)
            c.score = _excess("accuracy_gap", gap)
            c.severity = "warn" if q < 0.05 and gap > REFERENCE["accuracy_gap"][0] else "info"
            out.append(c)
    return out


def _slices(run: _Run) -> list[_Candidate]:
    """The slices the ``slices`` check found significantly worse than the rest."""
    out = []
    for record in run.r.checks:
        if pillar_of(record) != "slices":
            continue
        for row in record.tables.get("slices", []):
            if not row.get("significant"):
                continue
            kind = row.get("kind", "error_rate")
            metric = f"{record.model}/{record.check}/{kind}[{row['slice']}]"
            m = run.metrics.get(metric)
            what = "error rate" if kind == "error_rate" else "calibration error"
            title = (f"{what} {_num(row['value'])} in {row['description']} ({_n_text(row['n'])}) vs "
                     f"{_num(row['rest'])} on the other rows; adjusted p = {row['p_adjusted']:.2g} ({row.get('correction', 'BH')})")
            ci = tuple(row["ci"]) if row.get("ci") else None
            gap = row["value"] - row["rest"]
            out.append(_Candidate("warn", "slices", record.model, title, metric if m else None, row["value"], ci, row["n"],
                                  anchor(record.model, record.check), _excess("slice_error_gap", gap),
                                  ("slices", kind, row["slice"])))
    return out


def _shift(run: _Run) -> list[_Candidate]:
    worst: dict[str, Any] = {}
    for m in run.of("shift"):
        if (m.metric == "accuracy_drop" and m.group and "|" not in m.group and m.value is not None
                and (m.model not in worst or m.value > worst[m.model].value)):
            worst[m.model] = m
    out = []
    for m in worst.values():
        record = run.records.get((m.model, m.check))
        cond = next((r.get("condition") for r in (record.tables.get("subpopulation", []) if record else [])
                     if r.get("scenario") == m.group), None)
        if cond:
            how = f"when trained where {cond} and tested on the other rows (scenario '{m.group}')"
        else:
            kind, _, sev = m.group.partition("@")
            how = f"under {kind} perturbation at severity {sev}" if sev else f"under '{m.group}'"
        title = f"accuracy drops by {_num(m.value)} {how} (n={m.n})"
        out.append(run.candidate(m, "accuracy_drop", title, key=("shift", "accuracy_drop")))
    return out


def _robustness(run: _Run) -> list[_Candidate]:
    out = []
    worst: dict[str, tuple[float, Any, Any]] = {}
    for m in run.of("robustness"):
        if m.metric == "robust_accuracy" and m.group and "," not in m.group and m.value is not None:
            clean = run.metrics.get(f"{m.model}/{m.check}/clean_accuracy")
            if clean is None or clean.value is None:
                continue
            drop = clean.value - m.value
            if m.model not in worst or drop > worst[m.model][0] + 1e-12:
                worst[m.model] = (drop, m, clean)
        elif m.metric == "counterfactual_flip_rate" and m.group and "=" not in m.group and m.value is not None:
            title = f"changing only {m.group} flips {_num(m.value, True)} of decisions (n={m.n})"
            out.append(run.candidate(m, "counterfactual_flip_rate", title, key=("robustness", "flip", m.group)))
    for drop, m, clean in worst.values():
        attack, _, eps = m.group.partition("@")
        title = (f"{attack.upper() if attack != 'blackbox' else 'black-box'} attack within {eps} std (L-inf) lowers "
                 f"accuracy from {_num(clean.value)} to {_num(m.value)} (n={m.n})")
        c = run.candidate(m, "attack_drop", title, key=("robustness", "attack"), value=m.value, ci=m.ci)
        c.score, c.severity = _excess("attack_drop", drop), "warn" if m.ci and clean.value - m.ci[1] > REFERENCE["attack_drop"][0] else "info"
        out.append(c)
    return out


def _simple(run: _Run) -> list[_Candidate]:
    """Metrics judged by their reference level alone: calibration, reliance, privacy, drift."""
    wording = {
        "ece": lambda m: f"expected calibration error {_num(m.value)} (n={m.n})",
        "sensitive_share": lambda m: f"{_num(m.value, True)} of the model's attribution rests on features encoding {m.group}",
        "mia_auc": lambda m: f"membership inference AUC {_num(m.value)} (0.5 = no leak; {m.n} rows per side)",
        "max_group_mia_auc_gap": lambda m: f"membership leak differs by {_num(m.value)} AUC across {m.group} groups",
        "attribute_inference_uplift": lambda m: f"the model's outputs help infer {m.group}: balanced accuracy +{_num(m.value)} (n={m.n})",
        "k_anonymity": lambda m: f"k-anonymity {_num(m.value)}: some applicants share their quasi-identifiers with fewer than 5 others (n={m.n})",
        "unique_share": lambda m: f"{_num(m.value, True)} of rows are unique on their quasi-identifiers (n={m.n})",
        "share_drifted": lambda m: f"{_num(m.value, True)} of features drifted between train and test",
        "max_psi": lambda m: f"largest population stability index {_num(m.value)} between train and test",
    }
    out = []
    for m in run.r.metrics:
        if m.metric not in wording or m.value is None:
            continue
        if m.group and ("=" in m.group or m.metric in ("ece", "mia_auc")):
            continue
        key = ("simple", m.metric, m.group)
        out.append(run.candidate(m, m.metric, wording[m.metric](m), key=key))
    return out


def _integrity(run: _Run) -> list[_Candidate]:
    out = []
    for record in run.r.checks:
        if pillar_of(record) != "integrity":
            continue
        for row in record.tables.get("findings", []):
            path = f"{record.model}/{record.check}/{row['metric']}" if row.get("metric") else None
            m = run.metrics.get(path or "")
            value = row.get("value")
            out.append(_Candidate("warn", "integrity", record.model, str(row["finding"]), path if m else None,
                                  float(value) if isinstance(value, (int, float)) else None, None, m.n if m else None,
                                  anchor(record.model, record.check), 5.0, ("integrity", row.get("metric"), row["finding"])))
        flag = run.metrics.get(f"{record.model}/{record.check}/trained_on_test")
        if flag is not None and flag.value == 1.0:
            out.append(_Candidate("warn", "integrity", record.model, "the model scores its test rows like training rows: it was probably trained on them",
                                  flag.path, flag.value, None, flag.n, anchor(record.model, record.check), 10.0, ("integrity", "trained_on_test")))
    return out

"""Findings: failing gates first, ungated disparities named with their groups and counts, the
evidence rule (a rate from one row is not a finding), slices, collapsing across models, anchors
that exist in the report. The Fisher p-values are checked against scipy."""

from __future__ import annotations

import copy

import pytest
from scipy.stats import fisher_exact

from audit.findings import Finding, anchor, findings
from audit.results import results_from_raw


def metric(path: str, value: float | None, *, ci=None, n=None, direction=None) -> dict:
    model, check, rest = path.split("/", 2)
    name, _, group = rest.partition("[")
    return {"path": path, "value": value, "ci": ci, "n": n, "direction": direction, "model": model, "check": check,
            "metric": name, "group": group[:-1] if group else None}


def fairness_record(model: str, rate_no: float, rate_yes: float) -> dict:
    groups = [
        {"attribute": "foreign_worker", "group": "no", "n": 13, "positives": 12, "selection_rate": rate_no, "tpr": 1.0, "fpr": 1.0},
        {"attribute": "foreign_worker", "group": "yes", "n": 287, "positives": 198, "selection_rate": rate_yes, "tpr": 0.84, "fpr": 0.52},
    ]
    disparities = [{"attribute": "foreign_worker", "metric": m, "groups": ["foreign_worker=no", "foreign_worker=yes"]}
                   for m in ("demographic_parity_difference", "equalized_odds_difference", "equal_opportunity_difference")]
    return {"check": "fairness", "model": model, "pillar": "fairness", "tables": {"groups": groups, "disparities": disparities}}


MANIFEST = {"suite_file": "s.yaml", "suite_sha256": "0" * 64, "data_source": "d.csv", "data_sha256": "0" * 64,
            "rows": {"train": 700, "test": 300}, "packages": {}, "python": "3", "timings_s": {}, "seed": 0}


def run_dict() -> dict:
    metrics = []
    for model, (no, yes) in {"a": (1.0, 213 / 287), "b": (1.0, 201 / 287)}.items():
        metrics += [
            metric(f"{model}/fairness/demographic_parity_difference[foreign_worker]", no - yes, ci=[0.21, 0.31], n=300),
            metric(f"{model}/fairness/equalized_odds_difference[foreign_worker]", 0.48, ci=[0.38, 0.58], n=300),
            metric(f"{model}/fairness/equal_opportunity_difference[foreign_worker]", 0.16, ci=[0.11, 0.21], n=300),
            metric(f"{model}/performance/roc_auc", 0.65 if model == "a" else 0.8, ci=[0.6, 0.7], n=300),
        ]
    metrics.append(metric("a/slices/error_rate[checking_status=no account&duration_months>24]", 0.5, ci=[0.36, 0.64], n=44))
    slices = {"check": "slices", "model": "a", "pillar": "slices", "tables": {"slices": [{
        "slice": "checking_status=no account&duration_months>24", "description": "checking_status = 'no account' and duration_months > 24",
        "kind": "error_rate", "n": 44, "value": 0.5, "ci": [0.36, 0.64], "rest": 0.22, "rest_n": 256, "p_value": 1e-5,
        "p_adjusted": 0.004, "correction": "Benjamini-Hochberg", "significant": True}]}}
    gate = {"expression": "a/performance/roc_auc >= 0.7", "metric": "a/performance/roc_auc", "on": "value", "op": ">=", "threshold": 0.7,
            "severity": "fail", "status": "fail", "observed": 0.65, "message": "0.65 breaches >= 0.7"}
    return {
        "schema_version": "1.1", "run_id": "r", "created_at": "", "status": "fail", "exit_code": 1, "manifest": MANIFEST,
        "suite": {"name": "credit", "positive_label": "good", "classes": ["bad", "good"]},
        "models": {"a": {}, "b": {}}, "gates": [gate],
        "checks": [fairness_record("a", 1.0, 213 / 287), fairness_record("b", 1.0, 201 / 287), slices,
                   {"check": "performance", "model": "a", "pillar": "performance"}, {"check": "performance", "model": "b", "pillar": "performance"}],
        "metrics": metrics,
    }


def test_failing_gate_comes_first_then_the_ungated_disparity_with_groups_and_counts():
    out = findings(run_dict())
    assert [f.rank for f in out] == list(range(1, len(out) + 1))
    first = out[0]
    assert (first.severity, first.gated, first.metric, first.anchor) == ("fail", True, "a/performance/roc_auc", anchor("a", "performance"))
    dpd = next(f for f in out if f.metric and f.metric.endswith("demographic_parity_difference[foreign_worker]"))
    # the worst model's (b: 201 of 287 approved) is listed, naming a's value; a is not listed again
    assert dpd.severity == "warn" and not dpd.gated and dpd.pillar == "fairness" and dpd.model == "b"
    assert "also a 0.258" in dpd.title and not any(f.model == "a" and "demographic parity" in f.title for f in out)
    assert "foreign_worker" in dpd.title and "13 of 13, too few to judge alone" in dpd.title and "201 of 287" in dpd.title
    assert dpd.ci == (0.21, 0.31) and dpd.n == 300
    # the evidence behind 'warn': one-sided Fisher exact test of the two end groups, as scipy computes it
    expected = fisher_exact([[13, 0], [201, 86]], alternative="greater").pvalue
    assert f"Fisher exact p = {expected:.2g}" in dpd.title


def test_a_weaker_disparity_without_evidence_is_info_not_warn():
    raw = run_dict()
    raw["checks"][0]["tables"]["groups"][1]["selection_rate"] = 0.8  # 13 of 13 vs 230 of 287: p = 0.055
    raw["checks"][1]["tables"]["groups"][1]["selection_rate"] = 0.8
    dpd = next(f for f in findings(raw, limit=0) if f.metric and f.metric.endswith("demographic_parity_difference[foreign_worker]"))
    assert dpd.severity == "info" and fisher_exact([[13, 0], [230, 57]], alternative="greater").pvalue > 0.05


def test_a_rate_from_one_row_is_not_evidence():
    eod = next(f for f in findings(run_dict(), limit=0) if f.metric and "equalized_odds_difference" in f.metric)
    assert eod.severity == "info"  # FPR 1.0 from 1 actual 'bad' row vs 0.52 from 89
    assert "1 of 1 actual bad" in eod.title


def test_found_slices_are_findings():
    sl = next(f for f in findings(run_dict(), limit=0) if f.pillar == "slices")
    assert sl.severity == "warn" and sl.n == 44 and sl.ci == (0.36, 0.64) and sl.anchor == anchor("a", "slices")
    assert "checking_status = 'no account' and duration_months > 24" in sl.title and "n=44" in sl.title


def test_dict_and_results_agree_and_limit_cuts():
    raw = run_dict()
    assert findings(raw) == findings(results_from_raw(copy.deepcopy(raw), "x"))
    assert len(findings(raw, limit=2)) == 2 and all(isinstance(f, Finding) for f in findings(raw, limit=2))
    with pytest.raises(TypeError):
        findings([1, 2])


def test_anchors_are_the_report_section_ids():
    from audit.report.html import render_html

    raw = run_dict()
    page = render_html(results_from_raw(raw, "x"))
    top = page.index('id="findings"')
    for f in findings(raw):
        assert f'id="{f.anchor}"' in page and f'href="#{f.anchor}"' in page[top:]
    assert anchor("my model", "fairness") != anchor("my-model", "fairness")  # distinct ids for distinct names

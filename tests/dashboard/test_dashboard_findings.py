"""The findings panel on Run detail: ``audit.findings.findings(results, limit=10)`` shown first, in
rank order, with severity, interval, n and whether a gate covers it; each opens its check's tab."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from dashboard_helpers import APP, gate, make_results, metric, unmd, write_run
from streamlit.testing.v1 import AppTest

import audit.findings

RUN = "20250101T000000Z-find00"



pytestmark = pytest.mark.usefixtures("fresh_caches")  # conftest.py: each test starts from empty caches


@pytest.fixture
def reports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    results = make_results(
        RUN,
        "2025-01-01T00:00:00+00:00",
        [
            metric("lr/performance/roc_auc", 0.62, (0.55, 0.69)),
            metric("lr/fairness/selection_rate[foreign_worker=no]", 1.0, (1.0, 1.0), n=13, direction=None),
            metric("lr/fairness/selection_rate[foreign_worker=yes]", 0.72, (0.66, 0.77), n=287, direction=None),
            metric(
                "lr/fairness/demographic_parity_difference[foreign_worker]",
                0.28,
                (0.23, 0.33),
                n=300,
                direction="lower",
            ),
        ],
        gates=[gate("lr/performance/roc_auc", "fail", 0.62)],
        status="fail",
    )
    write_run(tmp_path, results)
    monkeypatch.setenv("AUDIT_REPORTS_DIR", str(tmp_path))
    return tmp_path


def _stub(*found: audit.findings.Finding):
    calls = []

    def findings(results, *, limit: int = 10):
        calls.append((results.run_id, limit))
        return list(found)[:limit]

    findings.calls = calls
    return findings


def _finding(
    rank: int, severity: str, pillar: str, title: str, metric: str | None, value=None, ci=None, n=None, gated=False
):
    return audit.findings.Finding(
        rank=rank, severity=severity, pillar=pillar, model="lr", title=title, metric=metric, value=value, ci=ci, n=n,
        anchor=f"sec-lr-{pillar}", gated=gated,
    )  # fmt: skip


def _detail() -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.query_params.update({"page": "detail", "run": f"toy/{RUN}"})
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _panel(at: AppTest) -> list[str]:
    return [unmd(m.value) for m in at.markdown if re.match(r"\d+\\\.", m.value)]


def test_findings_come_first_in_rank_order_with_interval_n_and_gate(reports: Path, monkeypatch) -> None:
    stub = _stub(
        _finding(1, "fail", "performance", "lr: ROC AUC 0.62 breaches >= 0.7", "lr/performance/roc_auc", 0.62, (0.55, 0.69), 300, True),
        _finding(2, "warn", "fairness", "lr: foreign_worker: predicted good 100% for no (n=13) vs 72% for yes",
                 "lr/fairness/demographic_parity_difference[foreign_worker]", 0.28, (0.23, 0.33), 300),
        _finding(3, "info", "privacy", "data: <b>k</b>-anonymity 1", None),
    )  # fmt: skip
    monkeypatch.setattr(audit.findings, "findings", stub)
    at = _detail()
    assert [h.value for h in at.header][:2] == ["What to look at first", "Gates"]
    assert stub.calls == [(RUN, 10)]
    lines = _panel(at)
    assert [ln.split("  \n")[0] for ln in lines] == [
        "1. lr: ROC AUC 0.62 breaches >= 0.7",
        "2. lr: foreign_worker: predicted good 100% for no (n=13) vs 72% for yes",
        "3. data: <b>k</b>-anonymity 1",  # shown as text: the markdown source escapes it
    ]
    assert lines[1].split("  \n")[1] == "value 0.28 [0.23, 0.33] · n=300 · not gated"
    assert lines[0].split("  \n")[1].endswith("· gated")
    assert r"\<b\>" in next(m.value for m in at.markdown if m.value.startswith("3"))
    badges = [m.value for m in at.markdown if "-badge[" in m.value]
    assert badges[1:4] == [":red-badge[FAIL]", ":orange-badge[WARN]", ":blue-badge[INFO]"]  # [0]: the verdict
    buttons = [b.label for b in at.button if str(b.key).startswith("finding_")]
    assert buttons == ["performance →", "fairness →"]  # the run has no privacy tab: no button


def test_a_finding_opens_its_checks_tab(reports: Path, monkeypatch) -> None:
    stub = _stub(
        _finding(
            1, "warn", "fairness", "lr: disparity", "lr/fairness/demographic_parity_difference[foreign_worker]", 0.28
        )
    )
    monkeypatch.setattr(audit.findings, "findings", stub)
    at = _detail()
    assert at.session_state["detail_tab"] == "Findings and gates"
    at.button(key="finding_1").click().run()
    assert at.session_state["detail_tab"] == "fairness"
    assert at.selectbox(key="detail_metric_fairness").value == "selection_rate"  # the fairness tab is drawn


def test_a_failing_ranking_does_not_break_the_page(reports: Path, monkeypatch) -> None:
    def broken(results, *, limit=10):
        raise KeyError("metric")

    monkeypatch.setattr(audit.findings, "findings", broken)
    at = _detail()
    assert any("findings could not be ranked" in unmd(c.value) for c in at.caption)
    assert [h.value for h in at.header] == ["What to look at first", "Gates"]


def test_the_real_ranking_puts_the_failing_gate_first(reports: Path) -> None:
    at = _detail()
    lines = _panel(at)
    assert lines and "roc_auc" in lines[0] and "gated" in lines[0]
    assert [m.value for m in at.markdown if "-badge[" in m.value][1] == ":red-badge[FAIL]"

"""``audit diff`` says first whether two runs are comparable (suite, data, test rows, seed), then
leads with the changes that matter: verdict, gates that changed status, the largest moves."""

from __future__ import annotations

import json

import pytest

from audit.cli import main
from audit.diff import NOT_COMPARABLE, comparability, diff_runs, format_text, summarise
from audit.report.markdown import diff_markdown
from audit.results import GateOutcome, Metric, RunResults

MANIFEST = {"data_sha256": "d" * 64, "test_sha256": "t" * 64, "seed": 42, "rows": {"train": 700, "test": 300}}


def metric(
    path: str,
    value: float,
    ci: tuple[float, float] | None = None,
    direction: str | None = "higher",
    unit: str | None = None,
) -> Metric:
    model, check, name = path.split("/")
    return Metric(
        path=path, value=value, ci=ci, n=300, direction=direction, model=model, check=check, metric=name, unit=unit
    )


def gate(path: str, status: str) -> GateOutcome:
    return GateOutcome(
        expression=f"{path} >= 0.7",
        metric=path,
        on="value",
        op=">=",
        threshold=0.7,
        severity="fail",
        status=status,
        observed=0.7,
    )


def run(
    run_id: str,
    metrics: list[Metric],
    *,
    status: str = "pass",
    gates: list[GateOutcome] = (),
    name: str = "credit",
    **manifest,
) -> RunResults:
    return RunResults(
        run_id=run_id, suite={"name": name}, created_at="now", status=status, exit_code=0,
        manifest={**MANIFEST, **manifest}, models={}, gates=list(gates), checks=[], metrics=metrics,
    )  # fmt: skip


A = [
    metric("m/performance/roc_auc", 0.80, (0.76, 0.84)),
    metric("m/performance/accuracy", 0.75, (0.72, 0.78)),
    metric("m/performance/f1", 0.70, (0.69, 0.71)),
    metric("m/performance/ece", 0.05, (0.04, 0.06), "lower"),
]
B = [
    metric("m/performance/roc_auc", 0.70, (0.66, 0.74)),  # apart by 0.02: separation 0.10 / 0.08 = 1.25
    metric("m/performance/accuracy", 0.74, (0.71, 0.77)),  # overlapping: not among the moves
    metric("m/performance/f1", 0.60, (0.59, 0.61)),  # apart by 0.08: separation 0.10 / 0.02 = 5
    metric("m/performance/ece", 0.02, (0.015, 0.025), "lower"),  # improved, separation 0.03 / 0.02 = 1.5
]


def test_same_suite_data_rows_and_seed_are_comparable():
    differences, unverified = comparability(run("a", A), run("b", B))
    assert differences == [] and unverified == []


def test_each_difference_is_named():
    a = run("a", A)
    b = run("b", B, name="credit_v2", data_sha256="e" * 64, test_sha256="u" * 64, seed=7)
    differences, _ = comparability(a, b)
    assert differences == [
        "suite: 'credit' vs 'credit_v2' (different suites measure different things)",
        f"data sha256: {'d' * 12}… vs {'e' * 12}… (the data changed)",
        f"test rows sha256: {'t' * 12}… vs {'u' * 12}… (another train/test split or other test rows)",
        "seed: 42 vs 7 (another seed draws another split, other bootstrap samples and another model initialisation)",
    ]


def test_older_runs_fall_back_to_row_counts_and_say_what_they_could_not_check():
    a = run("a", A, test_sha256=None)
    b = run("b", B, test_sha256=None, rows={"train": 800, "test": 200})
    differences, unverified = comparability(a, b)
    assert differences == ["split: 700 train / 300 test vs 800 / 200 (another train/test split)"]
    assert unverified == ["test rows sha256: not recorded in run A and B"]
    _, unverified = comparability(run("a", A, seed=None), run("b", B))
    assert unverified == ["seed: not recorded in run A"]


def test_incomparable_runs_get_no_verdict_unless_allowed():
    a, b = run("a", A), run("b", B, seed=7, gates=[gate("m/performance/roc_auc", "pass")])
    report = summarise(diff_runs(a, b), a, b, 0.0)
    assert report["comparable"] is False and report["gated_regressions"] == ["m/performance/roc_auc"]
    assert report["exit_code"] == NOT_COMPARABLE == 2
    allowed = summarise(diff_runs(a, b), a, b, 0.0, allow_incomparable=True)
    assert allowed["exit_code"] == 1  # judged anyway: the gated AUC regressed
    text = format_text(report).splitlines()
    assert text[1] == "NOT COMPARABLE: the runs differ in" and text[2].startswith("  - seed: 42 vs 7")
    assert text.index("Summary") > 2 and text[-1] == "NO VERDICT: the runs are not comparable (exit 2)"
    assert "Judged anyway (--allow-incomparable)" in format_text(allowed) and format_text(allowed).splitlines()[
        -1
    ].startswith("BLOCKED: 1 gated")


def test_the_summary_leads_with_verdict_gates_and_the_largest_moves():
    a = run("a", A, status="pass", gates=[gate("m/performance/roc_auc", "pass"), gate("m/performance/f1", "pass")])
    b = run(
        "b",
        B,
        status="fail",
        gates=[
            gate("m/performance/roc_auc", "fail"),
            gate("m/performance/f1", "pass"),
            gate("m/performance/ece", "pass"),
        ],
    )
    report = summarise(diff_runs(a, b), a, b, 0.0)
    summary = report["summary"]
    assert summary["verdict"] == {"a": "pass", "b": "fail"}
    assert summary["gates_changed"] == [
        {"expression": "m/performance/roc_auc >= 0.7", "a": "pass", "b": "fail"},
        {"expression": "m/performance/ece >= 0.7", "a": None, "b": "pass"},
    ]
    assert [c["path"] for c in summary["largest_moves"]] == [
        "m/performance/f1",
        "m/performance/ece",
        "m/performance/roc_auc",
    ]
    assert summary["significant"] == 3  # accuracy's intervals overlap: not a move that matters
    lines = format_text(report).splitlines()
    assert lines[1] == "comparable: same suite, data, test rows and seed"
    summary_at, detail_at = (
        lines.index("Summary"),
        next(i for i, line in enumerate(lines) if line.startswith("Detail (")),
    )
    assert summary_at < detail_at
    head = "\n".join(lines[summary_at:detail_at])
    assert "verdict: PASS -> FAIL (CHANGED)" in head and "m/performance/roc_auc >= 0.7: pass -> fail" in head
    assert "m/performance/ece >= 0.7: absent -> pass" in head
    assert "    regressed m/performance/f1 (gated): 0.7 -> 0.6 (-0.1), [0.69, 0.71] -> [0.59, 0.61]" in head


def test_markdown_summary_is_a_valid_inert_table():
    from markdown_it import MarkdownIt

    hostile = "m/performance/roc_auc"
    a = run("a", A, gates=[gate(hostile, "pass")])
    b = run("b", B, name="<img src=x onerror=alert(1)>", gates=[gate(hostile, "fail")])
    report = summarise(diff_runs(a, b), a, b, 0.0, allow_incomparable=True)
    text = diff_markdown(report)
    html = MarkdownIt("commonmark", {"html": True}).enable("table").render(text)
    assert "<img" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert (
        html.count("<table>") == 2 and "<strong>Not comparable</strong>" in html and "<strong>Blocked</strong>" in html
    )


def test_a_gated_timing_regression_is_reported_but_blocks_only_when_asked():
    p95 = "m/latency/p95_ms"
    a = run("a", [metric(p95, 0.5, (0.49, 0.52), "lower", unit="ms")])
    b = run("b", [metric(p95, 5.5, (5.2, 6.4), "lower", unit="ms")], gates=[gate(p95, "pass")])
    (change,) = diff_runs(a, b)
    assert change.status == "regressed" and change.gated and change.timing and not change.blocks
    report = summarise([change], a, b, 0.0)
    assert (
        report["exit_code"] == 0
        and report["summary"]["timing_moves"] == [p95]
        and report["summary"]["largest_moves"] == []
    )
    assert (
        f"timings beyond their intervals (1; they move with the machine and its load, so they do not block): {p95}"
        in format_text(report)
    )
    strict = summarise([change], a, b, 0.0, timing_blocks=True)
    assert strict["exit_code"] == 1 and strict["gated_regressions"] == [p95]
    lost = run("b", [metric(p95, None, None, "lower", unit="ms")], gates=[gate(p95, "error")])
    assert summarise(diff_runs(a, lost), a, lost, 0.0)["exit_code"] == 1  # a timing that lost its value still blocks


@pytest.mark.slow
def test_real_runs_with_another_seed_are_not_comparable(small_run, small_suite, capsys):
    from audit.engine import run_suite

    other = run_suite(small_suite("reseeded", seed=11, gates=["*/performance/roc_auc >= 0.6"]), log=None)
    assert (
        "test_sha256" in small_run.results.manifest
        and small_run.results.manifest["test_sha256"] != other.results.manifest["test_sha256"]
    )
    assert main(["diff", str(small_run.run_dir), str(other.run_dir)]) == 2
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert lines[1] == "NOT COMPARABLE: the runs differ in"
    assert (
        any(line.startswith("  - test rows sha256:") for line in lines[2:5])
        and "  - seed: 3 vs 11 (another seed" in captured.out
    )
    assert captured.err.startswith("audit: error: the runs are not comparable (test rows sha256:")
    assert main(["diff", str(small_run.run_dir), str(other.run_dir), "--json"]) == 2
    doc = json.loads(capsys.readouterr().out)
    assert doc["command"] == "diff" and doc["comparable"] is False and len(doc["differences"]) == 2

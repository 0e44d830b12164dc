"""``--json`` on run and gate (one document on stdout, the summary on stderr), a quiet closed pipe
on ``audit diff``, and the console summary: gates worst first, top findings, the max-DPD attribute."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from audit.cli import CLOSED_PIPE, main
from audit.findings import Finding
from audit.gates import exit_code
from audit.report.console import summary

ROOT = Path(__file__).resolve().parents[2]
VERDICT_KEYS = {
    "command",
    "suite",
    "run_id",
    "run_dir",
    "results",
    "report",
    "verdict",
    "fail_on",
    "exit_code",
    "counts",
    "gates",
    "errors",
    "findings",
}


@pytest.mark.slow
def test_run_json_is_one_document_and_the_summary_goes_to_stderr(small_suite, capsys):
    suite = small_suite(
        gates=[
            "*/performance/roc_auc >= 0.6",
            {"metric": "*/performance/accuracy", "op": ">=", "threshold": 0.99, "severity": "warn"},
        ],
        bootstrap=50,
    )
    assert main(["run", str(suite), "--json"]) == 0
    captured = capsys.readouterr()
    doc = json.loads(captured.out)  # the whole of stdout is one JSON document
    assert set(doc) == VERDICT_KEYS and doc["command"] == "run"
    run_dir = Path(doc["run_dir"])
    saved = json.loads((run_dir / "results.json").read_text())
    assert doc["run_id"] == saved["run_id"] == run_dir.name and doc["results"] == str(run_dir / "results.json")
    assert doc["verdict"] == saved["status"] == "warn" and doc["exit_code"] == exit_code("warn", "fail") == 0
    assert doc["counts"]["gates"] == {"pass": 2, "warn": 2, "fail": 0, "error": 0, "skipped": 0}
    assert (
        doc["counts"]["metrics"] == len(saved["metrics"])
        and doc["counts"]["checks"]["ok"] + doc["counts"]["checks"]["warn"] == 4
    )
    assert [g["status"] for g in doc["gates"]] == ["warn", "warn", "pass", "pass"]  # worst first
    assert "verdict: WARN" in captured.err and "run folder:" in captured.err  # the human summary, on stderr
    assert main(["run", str(suite), "--json", "-q", "--fail-on", "warn"]) == 1
    captured = capsys.readouterr()
    assert json.loads(captured.out)["exit_code"] == 1 and captured.err == ""  # -q: nothing but the document


def test_gate_json(small_run, tmp_path, capsys):
    assert main(["gate", str(small_run.run_dir), "--json"]) == 0
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    assert set(doc) == VERDICT_KEYS | {"gates_from"} and doc["command"] == "gate" and doc["gates_from"] is None
    assert doc["verdict"] == small_run.results.status and doc["run_dir"] == str(small_run.run_dir)
    assert len(doc["gates"]) == len(small_run.results.gates)
    assert "gate verdict:" in captured.err
    assert main(["gate", str(small_run.run_dir), "--json", "--summary-md", "-"]) == 2  # both want stdout
    assert "--json and --summary-md -" in capsys.readouterr().err


def test_findings_in_the_json_are_the_ranked_list(small_run, capsys):
    from audit.findings import findings

    assert main(["gate", str(small_run.run_dir), "--json", "-q"]) == 0
    doc = json.loads(capsys.readouterr().out)
    expected = findings(small_run.results, limit=5)
    assert [f["title"] for f in doc["findings"]] == [f.title for f in expected]
    assert all(set(f) == set(Finding.__dataclass_fields__) for f in doc["findings"])


def test_diff_into_a_closed_pipe_is_quiet(small_run):
    run = str(small_run.run_dir)
    out = subprocess.run(
        ["bash", "-c", f'{sys.executable} -m audit diff "{run}" "{run}" | head -1; echo "status=${{PIPESTATUS[0]}}"'],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.stdout.splitlines()[0].startswith("audit diff: ") and out.stderr == ""
    assert out.stdout.splitlines()[-1] in ("status=0", f"status={CLOSED_PIPE}")  # a short diff may fit the pipe
    proc = subprocess.Popen(
        [sys.executable, "-m", "audit", "diff", run, run, "--json"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    proc.stdout.close()  # gone before the first write: the write fails for sure
    assert proc.wait(timeout=60) == CLOSED_PIPE and proc.stderr.read() == b""


def _finding(rank: int, severity: str, title: str, ci=None) -> Finding:
    return Finding(
        rank=rank,
        severity=severity,
        pillar="fairness",
        model="lr",
        title=title,
        metric=None,
        value=None,
        ci=ci,
        n=None,
        anchor="x",
        gated=False,
    )


def test_console_lists_gates_worst_first_then_top_findings(small_run, monkeypatch):
    import audit.findings

    calls = []

    def fake(results, *, limit=10):
        calls.append(limit)
        return [
            _finding(1, "warn", "lr: g: predicted 'yes' 81% for a vs 52% for b", (0.21, 0.37)),
            _finding(2, "info", "second"),
        ]

    monkeypatch.setattr(audit.findings, "findings", fake)
    text = summary(small_run.results, "RUN")
    assert calls == [5]
    lines = text.splitlines()
    gates_at = next(i for i, line in enumerate(lines) if line.startswith("Gates ("))
    top_at = lines.index("Top findings (ranked over every metric, gated or not)")
    table_at = next(i for i, line in enumerate(lines) if line.startswith("model "))
    assert gates_at < top_at < table_at  # gates, then findings, then the headline table
    assert lines[top_at + 1] == "  1. WARN  lr: g: predicted 'yes' 81% for a vs 52% for b · 95% interval [0.21, 0.37]"
    assert lines[top_at + 2] == "  2. INFO  second"
    statuses = [line.split()[0] for line in lines[gates_at + 1 : top_at - 1]]
    order = {"ERROR": 0, "FAIL": 1, "WARN": 2, "PASS": 3, "SKIPPED": 4}
    assert statuses == sorted(statuses, key=order.get) and "WARN" in statuses  # worst first


def test_console_max_dpd_names_its_attribute(small_run):
    r = small_run.results
    for model in r.models:
        rows = [
            m
            for m in r.metrics
            if m.model == model and m.metric == "demographic_parity_difference" and m.value is not None
        ]
        worst = max(rows, key=lambda m: m.value)
        line = next(line for line in summary(r, "RUN").splitlines() if line.startswith(f"{model} "))
        assert line.endswith(f"   {worst.value:.3f} ({worst.group})")
    assert "max DPD (attribute)" in summary(r, "RUN")


def test_console_collapses_many_passing_gates(small_run):
    r = small_run.results
    many = r.model_copy(
        update={
            "gates": [r.gates[0].model_copy(update={"status": "pass"})] * 12
            + [r.gates[0].model_copy(update={"status": "fail"})]
        }
    )
    text = summary(many, "RUN")
    assert "Gates (1 fail, 12 pass)" in text and "  PASS     12 gates (each one in results.json" in text
    gates = text[text.index("Gates (") : text.index("Top findings")]
    assert gates.count(r.gates[0].expression) == 1  # only the failing one is spelled out

"""``audit gate`` re-judges finished runs with the exit codes of ``audit run``; ``run --fail-on``."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import yaml

from audit.cli import main
from audit.commands.gate import rejudge
from audit.report.markdown import md_escape, verdict_markdown
from audit.results import load_results


def test_gate_rejudges_the_run_with_its_own_gates(small_run, capsys):
    results = small_run.results
    assert results.status == "warn" and results.exit_code == 0
    judged = rejudge(results)
    assert [(g.metric, g.status, g.observed) for g in judged.gates] == [
        (g.metric, g.status, g.observed) for g in results.gates
    ]
    assert main(["gate", str(small_run.run_dir)]) == 0
    assert "gate verdict: WARN (fail on fail) -> exit 0" in capsys.readouterr().out
    assert main(["gate", str(small_run.run_dir / "results.json"), "--fail-on", "warn", "-q"]) == 1


def test_gate_with_another_suites_gates(small_run, tmp_path, capsys):
    lr_auc = small_run.results.metric("lr/performance/roc_auc").value
    gbm_auc = small_run.results.metric("gbm/performance/roc_auc").value
    threshold = round((lr_auc + gbm_auc) / 2, 4)  # between the two models: exactly one fails
    strict = tmp_path / "strict.yaml"
    strict.write_text(
        yaml.safe_dump(
            {
                "version": 1,
                "name": "strict",
                "data": {"builtin": "german_credit"},
                "models": [{"name": "lr", "recipe": "logistic_regression"}],
                "checks": ["performance"],
                "gates": [f"*/performance/roc_auc >= {threshold}"],
            }
        )
    )
    assert main(["gate", str(small_run.run_dir), "--suite", str(strict)]) == 1
    captured = capsys.readouterr()
    assert "judging run of suite 'small' with the gates of suite 'strict'" in captured.err
    judged = rejudge(small_run.results, __import__("audit.suite", fromlist=["load_suite"]).load_suite(strict))
    statuses = {g.metric: g.status for g in judged.gates if g.origin is None}  # the strict suite's own gates
    assert not [
        g for g in judged.gates if g.origin
    ]  # the run has no integrity metrics: the policy's integrity defaults do not apply
    worse, better = ("lr", "gbm") if lr_auc < gbm_auc else ("gbm", "lr")
    assert statuses == {f"{worse}/performance/roc_auc": "fail", f"{better}/performance/roc_auc": "pass"}
    assert judged.status == "fail" and judged.exit_code == 1


def test_gate_writes_summary_markdown_and_junit(small_run, tmp_path):
    summary, junit = tmp_path / "summary.md", tmp_path / "out" / "junit.xml"
    summary.write_text("earlier step\n")  # $GITHUB_STEP_SUMMARY is appended to, never replaced
    assert main(["gate", str(small_run.run_dir), "--summary-md", str(summary), "--junit", str(junit), "-q"]) == 0
    text = summary.read_text()
    assert text.startswith("earlier step\n### audit · small: ⚠️ WARN")
    assert "| ✅ pass | lr/performance/roc\\_auc &gt;= 0.6 |" in text
    assert "| ⚠️ warn | lr/fairness/demographic\\_parity\\_difference\\[g\\] &lt;= 0.05 |" in text
    root = ET.parse(junit).getroot()
    assert root.get("tests") == str(len(small_run.results.gates) + len(small_run.results.checks))
    assert root.get("failures") == "0" and root.get("errors") == "0"


def test_gate_exit_1_on_failing_gate_and_on_check_error(small_run, tmp_path):
    raw = json.loads((small_run.run_dir / "results.json").read_text())
    raw["metrics"] = [m for m in raw["metrics"] if m["path"] != "gbm/performance/roc_auc"]  # the gate now errors
    broken = tmp_path / "results.json"
    broken.write_text(json.dumps(raw))
    assert main(["gate", str(broken), "-q"]) == 1
    judged = rejudge(load_results(broken))
    assert judged.status == "error"
    assert [g.status for g in judged.gates if g.metric == "gbm/performance/roc_auc"] == ["error"]


def test_gate_bad_input_exits_2_without_traceback(tmp_path, capsys, small_run):
    assert main(["gate", str(tmp_path / "missing")]) == 2
    assert "no results.json here" in capsys.readouterr().err
    (tmp_path / "junk.json").write_text("{not json")
    assert main(["gate", str(tmp_path / "junk.json")]) == 2
    assert "not a readable results file" in capsys.readouterr().err
    (tmp_path / "bad.yaml").write_text("version: 1\nname: x\n")
    assert main(["gate", str(small_run.run_dir), "--suite", str(tmp_path / "bad.yaml")]) == 2
    assert "data: required key is missing" in capsys.readouterr().err
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["gate", str(small_run.run_dir), "--junit", str(blocker / "j.xml"), "-q"]) == 2
    assert "--junit" in capsys.readouterr().err


def test_markdown_escape_neutralises_user_text():
    hostile = "a|b <script>alert(1)</script> `x` *y* [l](javascript:z) ![i](u) &amp;\nnext"
    out = md_escape(hostile)
    assert (
        out
        == "a&#124;b &lt;script&gt;alert(1)&lt;/script&gt; &#96;x&#96; \\*y\\* \\[l\\](javascript:z) \\!\\[i\\](u) &amp;amp; next"
    )
    for raw in ("<", ">", "|", "`", "\n"):
        assert raw not in out


def test_verdict_markdown_is_a_valid_table(small_run):
    from markdown_it import MarkdownIt

    html = MarkdownIt("commonmark").enable("table").render(verdict_markdown(small_run.results))
    assert html.count("<tr>") == len(small_run.results.gates) + 1
    assert "release may proceed" in html


def test_verdict_markdown_folds_many_passing_gates(small_run):
    from markdown_it import MarkdownIt

    r = small_run.results
    passing = [r.gates[0].model_copy(update={"status": "pass", "expression": f"gate {i} >= 0"}) for i in range(9)]
    failing = r.gates[0].model_copy(update={"status": "fail", "expression": "the failing one >= 1"})
    text = verdict_markdown(r.model_copy(update={"gates": [*passing, failing], "status": "fail"}))
    assert (
        text.index("the failing one")
        < text.index("<details><summary>9 passing gates</summary>")
        < text.index("| gate 0 ")
    )
    html = MarkdownIt("commonmark", {"html": True}).enable("table").render(text)
    assert (
        html.count("<table>") == 2 and html.count("<tr>") == 10 + 2
    )  # both tables render inside and outside <details>


def test_run_fail_on_warn(small_suite, capsys):
    gates = [{"metric": "*/performance/roc_auc", "op": ">=", "threshold": 0.99, "severity": "warn"}]
    suite = small_suite(gates=gates, bootstrap=50)
    assert main(["run", str(suite), "-q"]) == 0
    assert main(["run", str(suite), "-q", "--fail-on", "warn"]) == 1
    assert "verdict: WARN" in capsys.readouterr().out

"""The shipped CI examples are valid and do what they claim: run locally, a failing gate fails the job.

The workflow files are parsed, then their steps are executed here the way the CI runner would
(GitHub: each ``run:`` step in ``bash -e``, later steps skipped after a failure unless
``if: always()``; GitLab: ``script`` lines in one ``bash -e``, ``after_script`` always), with
the install steps skipped (the packages are installed here) and the suite pointed at a small
synthetic one so a job takes seconds.
"""

from __future__ import annotations

import glob
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "ci"
BIN = str(Path(sys.executable).parent)


def load(name: str) -> dict:
    return yaml.safe_load((EXAMPLES / name).read_text())


def job_env(base: dict, overrides: dict) -> dict:
    env = {**os.environ, **{k: str(v) for k, v in base.items()}, **overrides}
    env["PATH"] = BIN + os.pathsep + env.get("PATH", "")  # `audit` from this environment
    return env


def expand(text: str, env: dict) -> str:
    """GitHub's ``${{ env.NAME }}`` expressions (the only ones the example uses outside shells)."""
    return re.sub(r"\$\{\{\s*env\.(\w+)\s*\}\}", lambda m: env[m.group(1)], text)


def run_github_job(workflow: dict, cwd: Path, **overrides: str) -> dict:
    job = workflow["jobs"]["audit"]
    summary = cwd / "step_summary.md"
    env = job_env(job["env"], {**overrides, "GITHUB_STEP_SUMMARY": str(summary)})
    failed, steps, uploads = False, {}, []
    for step in job["steps"]:
        name = step.get("name", step.get("uses", "?"))
        condition = step.get("if", "success()")
        if (failed and condition != "always()") or condition == "failure()" and not failed:
            steps[name] = "skipped"
            continue
        if "uses" in step:
            if step["uses"].startswith("actions/upload-artifact@"):
                uploads.append(cwd / expand(step["with"]["path"], env))
            steps[name] = "action"
            continue
        if "pip install" in step["run"]:
            steps[name] = "install (done here already)"
            continue
        proc = subprocess.run(
            ["bash", "-e", "-c", step["run"]], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
        )
        steps[name] = proc.returncode
        if proc.returncode != 0 and not step.get("continue-on-error"):
            failed = True
    return {
        "ok": not failed,
        "steps": steps,
        "summary": summary.read_text() if summary.exists() else "",
        "uploads": uploads,
    }


def run_gitlab_job(config: dict, cwd: Path, **overrides: str) -> dict:
    job = config["model-audit"]
    env = job_env(job["variables"], overrides)
    script = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", "\n".join(job["script"])],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    after = subprocess.run(
        ["bash", "-c", "\n".join(job["after_script"])], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )
    return {"ok": script.returncode == 0, "code": script.returncode, "after": after.returncode, "stderr": script.stderr}


def test_github_workflow_is_a_valid_release_gate():
    workflow = load("github-actions.yml")
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare 'on' as true
    assert "pull_request" in triggers and "push" in triggers
    job = workflow["jobs"]["audit"]
    assert job["env"]["AUDIT_SUITE"] == "suites/credit.yaml"
    steps = job["steps"]
    uses = [s.get("uses", "") for s in steps]
    setup = steps[next(i for i, u in enumerate(uses) if u.startswith("actions/setup-python@"))]
    assert setup["with"]["python-version"] == "3.11"
    runs = [s.get("run", "") for s in steps]
    install = next(r for r in runs if "pip install" in r)
    torch_at, package_at = (
        install.index("torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu"),
        install.index("pip install -e"),
    )
    assert torch_at < package_at  # the CPU wheel first, so the package does not pull a CUDA torch
    run_step = next(s for s in steps if s.get("run", "").startswith('audit run "$AUDIT_SUITE"'))
    assert "if" not in run_step and "continue-on-error" not in run_step  # its exit code decides the job
    summary = next(s for s in steps if "$GITHUB_STEP_SUMMARY" in s.get("run", ""))
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact@"))
    assert summary["if"] == "always()" and upload["if"] == "always()"
    assert upload["with"]["path"] == "${{ env.AUDIT_OUTPUT }}/"


def test_gitlab_job_is_valid():
    job = load("gitlab-ci.yml")["model-audit"]
    assert job["image"].startswith("python:3.11")
    assert job["before_script"][0].endswith("torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu")
    assert any(line.startswith('audit run "$AUDIT_SUITE"') for line in job["script"])
    assert job["artifacts"]["when"] == "always" and job["artifacts"]["reports"]["junit"] == "ci-reports/*/*/junit.xml"


@pytest.mark.parametrize(
    ("name", "schema"), [("github-actions.yml", "vendor.github-workflows"), ("gitlab-ci.yml", "vendor.gitlab-ci")]
)
def test_examples_match_the_official_schemas(name, schema, tmp_path):
    """The GitHub workflow / GitLab CI JSON Schemas vendored by check-jsonschema (offline)."""
    pytest.importorskip("check_jsonschema", reason="pip install check-jsonschema to validate against the CI schemas")
    cmd = [sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema]
    ok = subprocess.run([*cmd, str(EXAMPLES / name)], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    broken = tmp_path / name  # the validator does catch a wrong key: this test can fail
    broken.write_text(
        (EXAMPLES / name).read_text().replace("runs-on:", "runs_on:").replace("when: always", "when: sometimes")
    )
    assert subprocess.run([*cmd, str(broken)], capture_output=True, text=True).returncode == 1


@pytest.mark.slow
def test_github_job_fails_on_a_failing_gate_and_passes_otherwise(small_suite, tmp_path):
    workflow = load("github-actions.yml")
    failing = small_suite("failing", gates=["*/performance/roc_auc >= 0.99"], bootstrap=50)
    work = tmp_path / "checkout-fail"
    work.mkdir()
    job = run_github_job(workflow, work, AUDIT_SUITE=str(failing))
    assert not job["ok"]
    assert job["steps"]["Run the audit (fails the job when a gate fails)"] == 1
    assert job["steps"]["Verdict table in the job summary"] == 0 and job["steps"]["Upload the run folder"] == "action"
    assert (
        "### audit · small: ❌ FAIL" in job["summary"]
        and "| ❌ fail | lr/performance/roc\\_auc &gt;= 0.99 |" in job["summary"]
    )
    (run_dir,) = [Path(p) for p in glob.glob(str(job["uploads"][0] / "*" / "*"))]
    assert {"results.json", "report.html", "junit.xml", "model_card.md"} <= {p.name for p in run_dir.iterdir()}

    passing = small_suite("passing", gates=["*/performance/roc_auc >= 0.6"], bootstrap=50)
    work = tmp_path / "checkout-pass"
    work.mkdir()
    job = run_github_job(workflow, work, AUDIT_SUITE=str(passing))
    assert job["ok"], job["steps"]
    assert set(job["steps"].values()) <= {0, "action", "install (done here already)"}
    assert "### audit · small: ✅ PASS" in job["summary"]

    broken = tmp_path / "broken.yaml"
    broken.write_text("version: 1\nname: broken\n")
    work = tmp_path / "checkout-broken"
    work.mkdir()
    job = run_github_job(workflow, work, AUDIT_SUITE=str(broken))
    assert not job["ok"] and job["steps"]["Validate the suite"] == 2
    assert job["steps"]["Run the audit (fails the job when a gate fails)"] == "skipped"
    assert "no finished run" in job["summary"]


@pytest.mark.slow
def test_gitlab_job_fails_on_a_failing_gate_and_keeps_junit(small_suite, tmp_path):
    config = load("gitlab-ci.yml")
    failing = small_suite("failing", gates=["*/performance/roc_auc >= 0.99"], bootstrap=50)
    job = run_gitlab_job(config, tmp_path, AUDIT_SUITE=str(failing))
    assert not job["ok"] and job["code"] == 1 and job["after"] == 0, job["stderr"][-2000:]
    reports = glob.glob(str(tmp_path / config["model-audit"]["artifacts"]["reports"]["junit"]))
    assert len(reports) == 1 and 'failures="2"' in Path(reports[0]).read_text()
    assert "❌ FAIL" in (tmp_path / "ci-reports" / "summary.md").read_text()
    passing = small_suite("passing", gates=["*/performance/roc_auc >= 0.6"], bootstrap=50)
    (tmp_path / "pass").mkdir()
    assert run_gitlab_job(config, tmp_path / "pass", AUDIT_SUITE=str(passing))["ok"]

"""The shipped CI examples work in a model's own repository, and do what they claim when run.

Checked without GitHub: the workflow files parse and match the official schemas; they install
the package (never ``pip install -e`` of this repository); every ``audit`` command line in them
parses with the real CLI parser; the run folder comes from ``audit run --json``, not from ``ls``.
Run locally (tests/ci/ci_runner.py), a main-branch job stores the baseline, a pull-request job
posts the verdict table and the diff against it, a failing gate or a gated regression against
main fails the job, and a baseline from another seed is reported as not comparable.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from ci_runner import run_github_job, run_gitlab_job

from audit.cli import build_parser

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "ci"
OPERATORS = {"|", "||", "&&", ";", ">", ">>", "<", "2>", "&", "(", ")"}


def load(name: str) -> dict:
    return yaml.safe_load((EXAMPLES / name).read_text())


def github_scripts() -> list[str]:
    return [s["run"] for s in load("github-actions.yml")["jobs"]["audit"]["steps"] if "run" in s]


def gitlab_scripts() -> list[str]:
    job = load("gitlab-ci.yml")["model-audit"]
    return [*job["before_script"], *job["script"]]


def audit_commands(script: str) -> list[list[str]]:
    """Every ``audit ...`` command in a shell script, as argv: a word ``audit`` in command position
    (a line's start, after ``;``, ``&&``, ``||``, ``|``, ``(`` or ``then`` / ``else`` / ``do``), up to the
    next shell operator. Quoted text (``echo "audit run ..."``) is one word, so never a command."""
    found = []
    for line in script.replace("\\\n", " ").splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        tokens, start, argv = list(lexer), True, None
        for token in tokens:
            operator = token in OPERATORS or set(token) <= set("|&;()<>")
            if argv is not None:
                if operator:
                    found.append(argv)
                    argv = None
                else:
                    argv.append(token)
            elif start and token == "audit":
                argv = [token]
            start = operator or token in ("then", "else", "do", "if", "!")
        if argv is not None:
            found.append(argv)
    return found


def job_variables(scripts) -> dict:
    if scripts is github_scripts:
        return load("github-actions.yml")["jobs"]["audit"]["env"]
    return load("gitlab-ci.yml")["model-audit"]["variables"]


@pytest.mark.parametrize("scripts", [github_scripts, gitlab_scripts], ids=["github", "gitlab"])
def test_every_audit_command_in_the_examples_parses(scripts):
    commands = [argv for script in scripts() for argv in audit_commands(script)]
    assert {argv[1] for argv in commands} >= {"validate", "run", "gate", "card", "diff"}
    parser = build_parser()
    variables = job_variables(scripts)  # $AUDIT_FAIL_ON is "fail"; shell variables set in the script: a placeholder
    for argv in commands:
        assert argv[0] == "audit"
        argv = [re.sub(r"\$\{?(\w+)\}?", lambda m: str(variables.get(m.group(1), "some/path")), a) for a in argv]
        args = parser.parse_args(argv[1:])  # SystemExit(2) on an unknown flag or a missing argument
        if argv[1] == "run":
            assert args.json, "the run folder must come from the run's own output (--json)"


def test_the_command_extractor_would_catch_a_bad_flag():
    (argv,) = audit_commands('x=1; audit gate "$RUN_DIR" --no-such-flag > out.md || true')
    assert argv == ["audit", "gate", "$RUN_DIR", "--no-such-flag"]
    with pytest.raises(SystemExit):
        build_parser().parse_args(argv[1:])


@pytest.mark.parametrize("scripts", [github_scripts, gitlab_scripts], ids=["github", "gitlab"])
def test_examples_install_the_package_and_never_guess_the_run_folder(scripts):
    text = "\n".join(scripts())
    assert "pip install -e" not in text and 'pip install "$AUDIT_PACKAGE"' in text
    assert text.index("torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu") < text.index(
        'pip install "$AUDIT_PACKAGE"'
    )
    assert "ls " not in text and "head -n" not in text
    assert "jq -r '.run_dir // empty' audit-run.json" in text


def test_github_workflow_shape():
    workflow = load("github-actions.yml")
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare 'on' as true
    assert "pull_request" in triggers and triggers["push"]["branches"] == ["main"]
    assert workflow["permissions"]["pull-requests"] == "write" and workflow["permissions"]["actions"] == "read"
    job = workflow["jobs"]["audit"]
    assert job["env"]["AUDIT_PACKAGE"].startswith("audit[") and "==" in job["env"]["AUDIT_PACKAGE"]
    steps = {s.get("name", s.get("uses")): s for s in job["steps"]}
    comment = steps["Post the verdict as a pull-request comment"]
    assert "gh pr comment" in comment["run"] and comment["continue-on-error"] is True
    baseline = steps["Store the baseline for pull requests (main only)"]
    assert baseline["with"]["name"] == "audit-baseline" and "refs/heads/main" in baseline["if"]
    assert "--name audit-baseline" in steps["Diff against main's baseline"]["run"]
    assert steps["Fail when a gate failed or a gated metric regressed"]["if"] == "always()"


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


STUMP = [{"name": "gbm", "recipe": "hist_gradient_boosting", "params": {"max_iter": 1, "max_depth": 1}}]
FULL = [{"name": "gbm", "recipe": "hist_gradient_boosting", "params": {"max_iter": 60}}]
AUC_GATE = ["*/performance/roc_auc >= 0.6"]


def checkout(root: Path, name: str) -> Path:
    """A fresh working folder, as a CI job gets one."""
    folder = root / f"checkout-{name}"
    folder.mkdir()
    return folder


@pytest.mark.slow
def test_github_job_on_main_then_on_pull_requests(small_suite, synthetic_frame, tmp_path):
    workflow = load("github-actions.yml")
    frame = synthetic_frame(n=2400)  # enough test rows that a stump's AUC lies outside the full model's interval
    main_suite = small_suite("main", models=FULL, gates=AUC_GATE, bootstrap=100, frame=frame)
    main = run_github_job(
        workflow, checkout(tmp_path, "main"), event="push", ref="refs/heads/main", AUDIT_SUITE=str(main_suite)
    )
    assert main["ok"], main["logs"]
    assert main["steps"]["Diff against main's baseline"] == "skipped"  # a push to main is not compared
    baseline = main["artifacts"] / "audit-baseline" / "results.json"
    assert json.loads(baseline.read_text())["suite"]["name"] == "small"

    pr = run_github_job(workflow, checkout(tmp_path, "pr"), AUDIT_SUITE=str(main_suite), AUDIT_BASELINE=str(baseline))
    assert pr["ok"], pr["logs"]
    run_dir = Path(pr["outputs"]["audit"]["run_dir"])  # as --output gave it: relative to the checkout
    assert (
        run_dir.parent.parent == Path("audit-runs") and (tmp_path / "checkout-pr" / run_dir / "model_card.md").is_file()
    )
    assert "### audit · small: ✅ PASS" in pr["comment"]
    assert "Comparable runs" in pr["comment"] and "No gated metric regressed." in pr["comment"]
    assert pr["comment"] in pr["summary"]
    assert pr["steps"]["Post the verdict as a pull-request comment"] != 0  # no gh here: tolerated

    worse = run_github_job(
        workflow,
        checkout(tmp_path, "worse"),
        AUDIT_SUITE=str(small_suite("stump", models=STUMP, gates=AUC_GATE, bootstrap=100, frame=frame)),
        AUDIT_BASELINE=str(baseline),
    )
    assert worse["steps"]["Run the audit"] == 0 and worse["outputs"]["audit"]["exit_code"] == "0"  # gates pass...
    assert worse["outputs"]["diff"]["exit_code"] == "1" and not worse["ok"]  # ...but the AUC regressed vs main
    assert "**Blocked**" in worse["comment"] and "gbm/performance/roc\\_auc" in worse["comment"]

    other_seed = small_suite("seed", models=FULL, gates=AUC_GATE, bootstrap=100, frame=frame, seed=11)
    reseeded = run_github_job(
        workflow, checkout(tmp_path, "seed"), AUDIT_SUITE=str(other_seed), AUDIT_BASELINE=str(baseline)
    )
    assert reseeded["ok"], reseeded["logs"]  # not comparable: said, not blocking
    assert "**Not comparable**" in reseeded["comment"] and "seed: 3 vs 11" in reseeded["comment"]

    failing = small_suite("failing", models=FULL, gates=["*/performance/roc_auc >= 0.99"], bootstrap=50)
    job = run_github_job(workflow, checkout(tmp_path, "failing"), AUDIT_SUITE=str(failing))
    assert not job["ok"] and job["outputs"]["audit"]["exit_code"] == "1"
    assert job["steps"]["Fail when a gate failed or a gated metric regressed"] == 1
    assert "❌ FAIL" in job["comment"] and "No baseline from main yet" in job["comment"]

    broken = tmp_path / "broken.yaml"
    broken.write_text("version: 1\nname: broken\n")
    job = run_github_job(workflow, checkout(tmp_path, "broken"), AUDIT_SUITE=str(broken))
    assert not job["ok"] and job["steps"]["Validate the suite"] == 2 and job["steps"]["Run the audit"] == "skipped"
    assert "no finished run" in job["comment"]  # the comment still says why there is no verdict


@pytest.mark.slow
def test_gitlab_job_fails_on_a_failing_gate_and_diffs_against_a_baseline(small_suite, small_run, tmp_path):
    config = load("gitlab-ci.yml")
    failing = small_suite("failing", gates=["*/performance/roc_auc >= 0.99"], bootstrap=50)
    job = run_gitlab_job(config, tmp_path, AUDIT_SUITE=str(failing))
    assert not job["ok"] and "audit run exit code 1" in job["log"], job["log"][-2000:]
    reports = list(tmp_path.glob(config["model-audit"]["artifacts"]["reports"]["junit"]))
    assert len(reports) == 1 and 'failures="2"' in reports[0].read_text()
    assert "❌ FAIL" in (tmp_path / "comment.md").read_text()
    assert (tmp_path / "audit-baseline" / "results.json").is_file()

    (tmp_path / "mr").mkdir()
    passing = small_suite("passing", gates=["*/performance/roc_auc >= 0.6"], bootstrap=50)
    baseline = str(small_run.run_dir / "results.json")
    job = run_gitlab_job(
        config, tmp_path / "mr", AUDIT_SUITE=str(passing), AUDIT_BASELINE=baseline, CI_MERGE_REQUEST_IID="3"
    )
    assert job["ok"], job["log"][-3000:]
    comment = (tmp_path / "mr" / "comment.md").read_text()
    assert "✅ PASS" in comment and "### audit diff · small" in comment

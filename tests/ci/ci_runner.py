"""A small local stand-in for the GitHub Actions and GitLab CI runners, for the shipped examples.

GitHub: each ``run:`` step runs in ``bash -e`` with the job's env, the step's env and
``GITHUB_OUTPUT`` / ``GITHUB_STEP_SUMMARY`` files; ``${{ ... }}`` expressions (``env.X``,
``steps.ID.outputs.X``, ``github.X``, ``==``, ``!=``, ``&&``, ``||``, ``always()``,
``success()``, ``failure()``) are evaluated; a failed step skips the later ones unless their
condition says ``always()``; ``continue-on-error`` is honoured. ``uses:`` steps are not run:
``actions/upload-artifact`` copies its path into ``artifacts/<name>/`` (so a later job can read
the baseline a main run stored). Steps that install packages are skipped: the packages are
installed here. GitLab: the ``script`` lines run in one ``bash -e`` session, as GitLab's runner does.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

BIN = str(Path(sys.executable).parent)
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
CONTEXT = re.compile(r"\b(github|env|steps|secrets)((?:\.[\w-]+)+)")


def job_env(base: dict[str, Any], overrides: dict[str, str]) -> dict[str, str]:
    env = {**os.environ, **{k: str(v) for k, v in base.items()}, **overrides}
    env["PATH"] = BIN + os.pathsep + env.get("PATH", "")  # `audit` from this environment
    return env


def evaluate(expression: str, ctx: dict[str, Any], failed: bool) -> Any:
    """A GitHub expression, for the subset the examples use."""

    def lookup(match: re.Match[str]) -> str:
        value: Any = ctx.get(match.group(1), {})
        for key in match.group(2).strip(".").split("."):
            value = value.get(key, "") if isinstance(value, dict) else ""
        return repr(value if value is not None else "")

    text = CONTEXT.sub(lookup, expression)
    text = text.replace("&&", " and ").replace("||", " or ").replace("!(", " not (")
    namespace = {"always": lambda: True, "success": lambda: not failed, "failure": lambda: failed}
    return eval(text, {"__builtins__": {}}, namespace)  # noqa: S307 - our own example files only


def expand(text: str, ctx: dict[str, Any], failed: bool = False) -> str:
    return EXPRESSION.sub(lambda m: str(evaluate(m.group(1), ctx, failed)), text)


def _outputs(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


def run_github_job(
    workflow: dict, cwd: Path, *, event: str = "pull_request", ref: str = "refs/heads/feature", **overrides: str
) -> dict:
    job = workflow["jobs"]["audit"]
    summary = cwd / "step_summary.md"
    ctx: dict[str, Any] = {
        "github": {
            "event_name": event,
            "ref": ref,
            "workflow": workflow["name"],
            "token": "",
            "event": {"pull_request": {"number": "7"}},
        },
        "secrets": {},
        "steps": {},
    }
    ctx["env"] = {k: expand(str(v), ctx) for k, v in job["env"].items()} | overrides
    env = job_env(ctx["env"], {"GITHUB_STEP_SUMMARY": str(summary)})
    failed, steps, logs = False, {}, {}
    for index, step in enumerate(job["steps"]):
        name = step.get("name", step.get("uses", "?"))
        condition = str(step.get("if", "success()")).removeprefix("${{").removesuffix("}}")
        if not evaluate(condition, ctx, failed):
            steps[name] = "skipped"
            continue
        if "uses" in step:
            if step["uses"].startswith("actions/upload-artifact@"):
                source = cwd / expand(step["with"]["path"], ctx)
                target = cwd / "artifacts" / step["with"]["name"]
                if source.is_dir():
                    shutil.copytree(source, target, dirs_exist_ok=True)
                elif source.is_file():
                    target.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(source, target / source.name)
            steps[name] = "action"
            continue
        if "pip install" in step["run"]:
            steps[name] = "install (done here already)"
            continue
        output = cwd / f".github_output_{index}"
        step_env = {k: expand(str(v), ctx, failed) for k, v in step.get("env", {}).items()}
        proc = subprocess.run(
            ["bash", "-e", "-c", step["run"]],
            cwd=cwd,
            env={**env, **step_env, "GITHUB_OUTPUT": str(output)},
            capture_output=True,
            text=True,
            timeout=600,
        )
        steps[name], logs[name] = proc.returncode, proc.stdout + proc.stderr
        if "id" in step:
            ctx["steps"][step["id"]] = {
                "outputs": _outputs(output),
                "outcome": "success" if proc.returncode == 0 else "failure",
            }
        if proc.returncode != 0 and not step.get("continue-on-error"):
            failed = True
    return {
        "ok": not failed,
        "steps": steps,
        "logs": logs,
        "outputs": {k: v["outputs"] for k, v in ctx["steps"].items()},
        "summary": summary.read_text() if summary.exists() else "",
        "comment": (cwd / "comment.md").read_text() if (cwd / "comment.md").exists() else "",
        "artifacts": cwd / "artifacts",
    }


def run_gitlab_job(config: dict, cwd: Path, **overrides: str) -> dict:
    job = config["model-audit"]
    env = job_env(job["variables"], overrides)
    proc = subprocess.run(
        ["bash", "-e", "-c", "\n".join(job["script"])], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )
    return {"ok": proc.returncode == 0, "code": proc.returncode, "log": proc.stdout + proc.stderr}

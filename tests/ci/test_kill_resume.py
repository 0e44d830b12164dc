"""SIGKILL at random points, then resume; two runs at once into one folder. Real processes.

These tests start ``python -m audit run`` as subprocesses, kill them with SIGKILL (which no
handler can catch), check that what is on disk is always either a complete run or a resumable
partial one (never a truncated file), and resume until the run finishes with exactly the
metrics of an uninterrupted run.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from audit import checkpoint
from audit.results import load_results

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")]

MODELS = [
    {"name": "lr", "recipe": "logistic_regression"},
    {"name": "lr2", "recipe": "logistic_regression", "params": {"C": 0.1}},
    {"name": "gbm", "recipe": "hist_gradient_boosting", "params": {"max_iter": 30}},
]
STEPS = 2 * len(MODELS)  # performance and fairness on every model


def audit_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "audit", "run", "-q", *args]


def metric_values(run_dir: Path) -> dict[str, tuple]:
    return {m.path: (m.value, m.ci, m.n) for m in load_results(run_dir).metrics}


def resumable(root: Path) -> Path | None:
    found = sorted(p for p in root.glob(".*.partial") if (p / checkpoint.STATE_FILE).is_file())
    return found[-1] if found else None


def assert_consistent(root: Path, cache: Path) -> None:
    """Finished runs are complete; partial runs hold only whole files; cache entries are whole."""
    for folder in root.iterdir() if root.exists() else []:
        if folder.name.startswith("."):
            if (folder / checkpoint.STATE_FILE).is_file():
                checkpoint.read_state(folder)
                files = [p for p in (folder / "checkpoints").glob("[!.]*.json")]
                assert len(checkpoint.load_checkpoints(folder)) == len(files), f"torn checkpoint in {folder}"
            if (folder / "results.json").exists():
                load_results(folder)
        else:
            load_results(folder)  # raises on a missing or truncated results.json
    for entry in (cache / "models").iterdir() if (cache / "models").exists() else []:
        if not entry.name.startswith("."):
            assert (entry / "manifest.json").is_file() and any((entry / name).is_file() and (entry / name).stat().st_size > 0 for name in ("model.json", "model.skops"))


def test_sigkill_at_random_points_then_resume(small_suite, tmp_path):
    suite = small_suite(models=MODELS, bootstrap=2000)
    out = tmp_path / "out"
    root = out / "small"
    env = {**os.environ, "AUDIT_CACHE_DIR": str(tmp_path / "cache")}
    ref_env = {**os.environ, "AUDIT_CACHE_DIR": str(tmp_path / "ref-cache")}

    start = time.monotonic()
    subprocess.run(audit_cmd(str(suite), "-o", str(tmp_path / "ref")), env=ref_env, check=True, capture_output=True)
    duration = time.monotonic() - start
    reference = metric_values(next((tmp_path / "ref" / "small").iterdir()))

    rng = random.Random(20261123)
    kills = reused_kills = 0
    for attempt in range(8):
        partial = resumable(root) if root.exists() else None
        args = ["--resume", str(partial)] if partial else [str(suite), "-o", str(out)]
        proc = subprocess.Popen(audit_cmd(*args), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        done_before = len(list((partial / "checkpoints").glob("[!.]*.json"))) if partial else 0
        target = done_before + rng.randint(1, 2)
        if attempt % 2 or target >= STEPS:  # blind: anywhere from start-up to writing the reports
            deadline = time.monotonic() + rng.uniform(0.1, 1.0) * duration
        else:  # aimed: once the run has checkpointed one or two more checks, plus a little
            deadline = time.monotonic() + 2 * duration
            while time.monotonic() < deadline and proc.poll() is None:
                current = resumable(root) if root.exists() else None
                if current and len(list((current / "checkpoints").glob("[!.]*.json"))) >= target:
                    deadline = time.monotonic() + rng.uniform(0.0, 0.15)
                    break
                time.sleep(0.02)
        while time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.01)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
            current = resumable(root)
            reused_kills += bool(current and any((current / "checkpoints").glob("[!.]*.json")))
        proc.wait()
        assert proc.returncode in (0, -signal.SIGKILL), proc.stderr.read().decode()[-2000:]
        proc.stderr.close()
        assert_consistent(root, tmp_path / "cache")

    while (partial := resumable(root)) is not None:  # finish whatever is left, without killing
        subprocess.run(audit_cmd("--resume", str(partial)), env=env, check=True, capture_output=True)
    finished = [p for p in root.iterdir() if not p.name.startswith(".")]
    print(
        f"\nSIGKILL test: {kills} kills survived ({reused_kills} after checks were checkpointed), {len(finished)} finished runs, reference run {duration:.1f}s"
    )
    assert kills >= 4 and reused_kills >= 2
    assert finished
    resumed = [load_results(p).manifest.get("resumed") for p in finished]
    assert any(r and r["reused_checks"] > 0 for r in resumed)
    for run_dir in finished:
        assert metric_values(run_dir) == reference, run_dir


def test_two_runs_at_once_into_one_folder_and_one_cache(small_suite, tmp_path):
    suite = small_suite(models=MODELS, bootstrap=200)
    env = {**os.environ, "AUDIT_CACHE_DIR": str(tmp_path / "cache")}
    procs = [
        subprocess.Popen(
            audit_cmd(str(suite), "-o", str(tmp_path / "out")),
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for _ in range(2)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err.decode()[-2000:]
    runs = sorted((tmp_path / "out" / "small").iterdir())
    assert len(runs) == 2 and not any(p.name.startswith(".") for p in runs)  # two finished, distinct runs
    assert metric_values(runs[0]) == metric_values(runs[1])
    entries = sorted((tmp_path / "cache" / "models").iterdir())
    assert len(entries) == len(MODELS) and all(not p.name.startswith(".") and (p / "manifest.json").is_file() for p in entries)

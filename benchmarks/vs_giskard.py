"""The credit suite's whole process next to one Giskard scan of one model on the same data.

Both sides are timed as whole processes (interpreter start and imports included), back to back
on the same machine, ``--repeats`` times each, alternating; medians, ranges and CPU times
(user + system of the child process) are printed with the ratios.

- audit: ``audit run suites/credit.yaml`` (3 models, every check of the suite) with a warm model
  cache: one untimed run fills a temporary ``AUDIT_CACHE_DIR``, the timed runs reuse it.
- Giskard: a separate process that loads ``suites/data/german_credit.csv`` (target
  ``credit_risk``, positive class ``good``), splits it like the suite (70/30, stratified, seed 42),
  fits one comparable model (the suite's scikit-learn HistGradientBoosting behind the same
  impute / scale / one-hot preprocessing) and runs ``giskard.scan(model, dataset)`` with the
  detectors that work offline. The LLM-assisted detectors need an API key and a network; the
  child sets no key and disables telemetry, and the scan report's detector list is printed.

Giskard lives in its own virtual environment (its pins clash with the toolkit's). Create it once:

    python3 -m venv .giskard-venv
    .giskard-venv/bin/pip install "giskard==2.19.*" scikit-learn pandas

(offline: ``pip download`` those into a folder on a networked machine, then
``pip install --no-index --find-links FOLDER ...``). Then:

    .venv/bin/python benchmarks/vs_giskard.py --giskard-python .giskard-venv/bin/python [--repeats 3]

Without a Giskard environment (``--giskard-python`` missing or failing to import giskard) the
script says why and times only the audit side.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

GISKARD_SCRIPT = r"""
import json, os, sys, time
t0 = time.perf_counter()
os.environ.setdefault("GSK_DISABLE_ANALYTICS", "True")
os.environ.setdefault("GISKARD_TELEMETRY_DISABLED", "True")
for key in ("OPENAI_API_KEY", "AZURE_OPENAI_API_KEY", "MISTRAL_API_KEY", "GSK_LLM_API_KEY"):
    os.environ.pop(key, None)
import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
import giskard

csv, seed = sys.argv[1], 42
df = pd.read_csv(csv)
target = "credit_risk"
features = [c for c in df.columns if c != target]
numeric = [c for c in features if pd.api.types.is_numeric_dtype(df[c])]
categorical = [c for c in features if c not in numeric]
train, test = train_test_split(df, test_size=0.3, stratify=df[target], random_state=seed)
pre = ColumnTransformer([
    ("num", Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]), numeric),
    ("cat", Pipeline([("impute", SimpleImputer(strategy="most_frequent")),
                      ("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False))]), categorical),
])
clf = Pipeline([("pre", pre), ("model", HistGradientBoostingClassifier(
    max_iter=200, learning_rate=0.05, max_leaf_nodes=15, random_state=seed))])
clf.fit(train[features], train[target])
t_fit = time.perf_counter()
dataset = giskard.Dataset(test, target=target, cat_columns=categorical, name="german_credit_test")
model = giskard.Model(model=lambda frame: clf.predict_proba(frame[features]), model_type="classification",
                      classification_labels=list(clf.classes_), feature_names=features, name="hgb")
report = giskard.scan(model, dataset, raise_exceptions=False)
t_scan = time.perf_counter()
issues = getattr(report, "issues", [])
print("GISKARD_RESULT " + json.dumps({
    "fit_s": t_fit - t0, "scan_s": t_scan - t_fit, "issues": len(issues),
    "issue_groups": sorted({str(getattr(getattr(i, "group", None), "name", "")) for i in issues}),
    "giskard": giskard.__version__,
}))
"""


def _child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(cmd: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float, subprocess.CompletedProcess]:
    """(wall seconds, CPU seconds of the child, the finished process) of one whole process."""
    cpu0 = _child_cpu()
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)
    return time.perf_counter() - start, _child_cpu() - cpu0, proc


def audit_cmd(suite: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "audit", "run", str(suite), "-o", str(out), "-q"]


def giskard_usable(python: str | None) -> str | None:
    """None when ``python`` imports giskard, else why not."""
    if not python:
        return "no --giskard-python given"
    if not Path(python).exists():
        return f"{python} does not exist (create the environment as the docstring says)"
    proc = subprocess.run([python, "-c", "import giskard"], capture_output=True, text=True)
    if proc.returncode != 0:
        return f"{python} cannot import giskard: {proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else proc.returncode}"
    return None


def summary(label: str, walls: list[float], cpus: list[float]) -> str:
    return (f"{label:<28} wall median {statistics.median(walls):7.2f} s (range {min(walls):.2f}-{max(walls):.2f}), "
            f"CPU median {statistics.median(cpus):7.2f} s (range {min(cpus):.2f}-{max(cpus):.2f}), n={len(walls)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", type=Path, default=ROOT / "suites" / "credit.yaml")
    parser.add_argument("--data", type=Path, default=ROOT / "suites" / "data" / "german_credit.csv")
    parser.add_argument("--giskard-python", default=os.environ.get("GISKARD_PYTHON", str(ROOT / ".giskard-venv" / "bin" / "python")))
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each side (alternating)")
    args = parser.parse_args()
    why_not = giskard_usable(args.giskard_python)
    print(f"machine: {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f} at start")
    if why_not:
        print(f"Giskard side skipped: {why_not}")
    audit_walls, audit_cpus, gsk_walls, gsk_cpus = [], [], [], []
    gsk_info: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "AUDIT_CACHE_DIR": str(Path(tmp) / "cache")}
        out = Path(tmp) / "reports"
        wall, cpu, proc = timed(audit_cmd(args.suite, out), env, ROOT)  # fills the model cache
        if proc.returncode not in (0, 1):
            sys.exit(f"audit run failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
        print(f"audit cache-filling run (training included): wall {wall:.2f} s, CPU {cpu:.2f} s")
        genv = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
        for _ in range(args.repeats):
            wall, cpu, proc = timed(audit_cmd(args.suite, out), env, ROOT)
            if proc.returncode not in (0, 1):
                sys.exit(f"audit run failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
            audit_walls.append(wall), audit_cpus.append(cpu)
            if not why_not:
                wall, cpu, proc = timed([args.giskard_python, "-c", GISKARD_SCRIPT, str(args.data)], genv, Path(tmp))
                lines = [line for line in proc.stdout.splitlines() if line.startswith("GISKARD_RESULT ")]
                if proc.returncode != 0 or not lines:
                    sys.exit(f"Giskard scan failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
                gsk_info = json.loads(lines[-1].split(" ", 1)[1])
                gsk_info["detectors"] = re.findall(r"(\w+Detector): (\d+) issues? detected\. \(Took ([0-9:.]+)\)", proc.stdout + proc.stderr)
                gsk_walls.append(wall), gsk_cpus.append(cpu)
    print(summary("audit credit suite (warm)", audit_walls, audit_cpus))
    if gsk_walls:
        print(summary("Giskard scan, 1 model", gsk_walls, gsk_cpus))
        print(f"Giskard {gsk_info.get('giskard')}: fit {gsk_info.get('fit_s', 0):.2f} s (imports included), "
              f"scan {gsk_info.get('scan_s', 0):.2f} s, {gsk_info.get('issues')} issues in {gsk_info.get('issue_groups')}")
        print("Giskard detectors that ran (issues, time): "
              + ", ".join(f"{name} ({count}, {took})" for name, count, took in gsk_info.get("detectors", [])))
        print(f"ratio audit / Giskard: wall {statistics.median(audit_walls) / statistics.median(gsk_walls):.2f}x, "
              f"CPU {statistics.median(audit_cpus) / statistics.median(gsk_cpus):.2f}x")


if __name__ == "__main__":
    main()

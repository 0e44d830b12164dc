"""A 1M-row tabular audit on one machine: wall time, per-check times, peak memory, linearity.

Generates German-Credit-like data (the 20 attributes and the target of
``suites/data/german_credit.csv``, rows drawn from the real data's joint distribution with
noise, seeded) at each requested size into Parquet, writes a suite with two models (logistic
regression, histogram gradient boosting) and the performance, fairness (bootstrap), drift,
explain (seeded sample), latency, shift (perturbations on a sample), robustness (sample) checks
plus the implicit integrity pillar, runs ``audit run`` on it in a fresh process and prints:

* the wall time of the whole process (imports, data, training, checks, reports);
* the per-step times of the run manifest (``manifest.timings_s``);
* the peak resident memory of the audit process (``ru_maxrss`` of the child) and the step it
  was reached in (RSS sampled every 0.1 s against the run's progress lines);
* the ratio of the largest to the smallest size's wall time (linear growth: ratio <= rows ratio);
* whether the targets hold: the largest size in <= 120 s and <= 4 GB.

Data and model caches live under ``.cache/scale`` (git-ignored; ``--cache`` to move them), so
a second invocation reuses the generated files; ``--cold`` empties the model cache first so
training is timed too. Usage::

    .venv/bin/python benchmarks/scale.py                      # 100k and 1M rows
    .venv/bin/python benchmarks/scale.py --rows 20000 --bootstrap 50
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "suites" / "data" / "german_credit.csv"
TARGET_SECONDS = 120.0
TARGET_BYTES = 4 * 1024**3

# numeric columns: how each is jittered around the sampled real row
_SCALED = {"duration_months": (0.12, 4, 72), "credit_amount": (0.15, 250, 20000)}  # lognormal sigma, min, max
_SMALL_INTS = ("installment_rate", "residence_since", "existing_credits", "people_liable")


def generate(n: int, seed: int = 0, source: Path = SOURCE):
    """``n`` German-Credit-like rows: real rows resampled (the joint distribution), then noise.

    Numeric amounts and durations are scaled by a log-normal factor, ages shifted by a normal
    draw (years), small integer codes redrawn from their marginal with probability 0.1,
    categorical cells redrawn from their marginal with probability 0.05 and 3% of labels
    flipped; ``sex`` and ``age_group`` are derived as the built-in loader derives them.
    """
    import pandas as pd

    real = pd.read_csv(source)
    rng = np.random.default_rng(seed)
    frame = real.iloc[rng.integers(0, len(real), size=n)].reset_index(drop=True)
    for column, (sigma, lo, hi) in _SCALED.items():
        values = frame[column].to_numpy(np.float64) * rng.lognormal(0.0, sigma, size=n)
        frame[column] = np.clip(np.round(values), lo, hi).astype(np.int64)
    frame["age"] = np.clip(np.round(frame["age"].to_numpy(np.float64) + rng.normal(0.0, 2.0, size=n)), 19, 80).astype(np.int64)
    for column in _SMALL_INTS:
        hit = rng.random(n) < 0.10
        frame.loc[hit, column] = rng.choice(real[column].to_numpy(), size=int(hit.sum()))
    for column in real.columns:
        if not pd.api.types.is_numeric_dtype(real[column]) and column != "credit_risk":
            hit = rng.random(n) < 0.05
            frame.loc[hit, column] = rng.choice(real[column].to_numpy(), size=int(hit.sum()))
    flip = rng.random(n) < 0.03
    frame.loc[flip, "credit_risk"] = np.where(frame.loc[flip, "credit_risk"] == "good", "bad", "good")
    frame["sex"] = frame["personal_status_sex"].str.split(":").str[0].str.strip()
    frame["age_group"] = np.where(frame["age"] < 25, "<25", ">=25")
    return frame


def write_data(n: int, folder: Path, seed: int = 0) -> Path:
    path = folder / f"german_like_{n}.parquet"
    if not path.is_file():
        import pyarrow as pa
        import pyarrow.parquet as pq

        frame = generate(n, seed)
        tmp = path.with_suffix(".tmp")
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), tmp)
        os.replace(tmp, path)
    return path


def suite_text(name: str, data: Path, bootstrap: int, explain_rows: int, shift_rows: int, robust_rows: int) -> str:
    shift_cap = f", max_rows: {shift_rows}" if shift_rows else ""  # 0: the whole test set
    return f"""\
version: 1
name: {name}
description: German-Credit-like data at scale (benchmarks/scale.py)
seed: 42
data:
  path: {data}
  target: credit_risk
  positive_label: good
  sensitive: [sex, age_group, foreign_worker]
  intersections: [[sex, age_group]]
  drop: [sex, age_group]
  split: {{test_size: 0.3, stratify: true}}
models:
  - name: logreg
    recipe: logistic_regression
    params: {{C: 1.0}}
  - name: gbm
    recipe: hist_gradient_boosting
    params: {{max_iter: 100, learning_rate: 0.1, max_leaf_nodes: 15}}
checks:
  - name: performance
    params: {{bootstrap: {bootstrap}}}
  - name: fairness
    params: {{bootstrap: {bootstrap}, min_group_size: 30}}
  - name: drift
    params: {{alpha: 0.05, n_bins: 10}}
  - name: explain
    params: {{max_rows: {explain_rows}, local_rows: 5, background_size: 100, proxies: {{sex: [personal_status_sex], age_group: [age]}}}}
  - name: latency
    params: {{repeats: 200, batch_sizes: [1, 32, 256, 1000], max_seconds: 2.0}}
  - name: shift
    params: {{perturbations: [noise, missing, resample], severities: [0.25, 1.0], bootstrap: {bootstrap}{shift_cap}}}
  - name: robustness
    params: {{epsilons: [0, 0.1, 0.3], attacks: [blackbox], max_rows: {robust_rows}, bootstrap: {bootstrap}}}
"""


def _rss_bytes(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


_MEASURE = (
    "import resource, subprocess, sys\n"
    "rc = subprocess.call(sys.argv[1:])\n"
    "u = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
    "print('MAXRSS_KB', u.ru_maxrss, rc, u.ru_utime + u.ru_stime, file=sys.stderr)\n"
)


def run_audit(suite: Path, out: Path, cache: Path) -> dict:
    """One ``audit run`` in a fresh process: wall time, manifest timings, peak RSS and its step."""
    env = {**os.environ, "AUDIT_CACHE_DIR": str(cache), "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-c", _MEASURE, sys.executable, "-m", "audit", "run", str(suite), "-o", str(out)]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[tuple[float, str]] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append((time.perf_counter() - start, line.rstrip()))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    samples: list[tuple[float, int]] = []
    loads: list[float] = []  # the machine's 1-minute load average while the audit ran
    child = None
    while proc.poll() is None:
        if child is None:  # the audit process is the measuring wrapper's only child
            try:
                child = int(Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()[0])
            except (OSError, IndexError, ValueError):
                child = None
        if child is not None:
            samples.append((time.perf_counter() - start, _rss_bytes(child)))
            loads.append(os.getloadavg()[0])
        time.sleep(0.1)
    reader.join()
    wall = time.perf_counter() - start
    maxrss = next((int(text.split()[1]) * 1024 for _, text in lines if text.startswith("MAXRSS_KB")), 0)
    rc = next((int(text.split()[2]) for _, text in lines if text.startswith("MAXRSS_KB")), proc.returncode)
    cpu = next((float(text.split()[3]) for _, text in lines if text.startswith("MAXRSS_KB")), float("nan"))
    if rc not in (0, 1):
        print("\n".join(text for _, text in lines[-40:]))
        sys.exit(f"audit run failed with exit code {rc}")
    runs = sorted((p for p in (out / suite.stem).iterdir() if not p.name.startswith(".")), key=lambda p: p.stat().st_mtime)
    run = runs[-1]
    results = json.loads((run / "results.json").read_text())
    peak_t, peak_rss = max(samples, key=lambda s: s[1]) if samples else (0.0, 0)
    step = "start"
    for t, text in lines:  # the last progress line printed before the peak sample
        if t > peak_t:
            break
        if text.strip():
            step = text.strip()
    sizes = {name: (run / name).stat().st_size for name in ("results.json", "report.html", "predictions.csv", "predictions.parquet", "junit.xml") if (run / name).exists()}
    return {
        "wall": wall,
        "cpu": cpu,
        "load": sum(loads) / len(loads) if loads else os.getloadavg()[0],
        "timings": results["manifest"]["timings_s"],
        "maxrss": maxrss,
        "peak_step": step,
        "peak_t": peak_t,
        "sizes": sizes,
        "status": results["status"],
        "errors": [f"{c['model']}/{c['check']}: {c.get('error')}" for c in results["checks"] if c.get("status") == "error"],
        "log": [text for _, text in lines],
        "rows": results["manifest"]["rows"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--bootstrap", type=int, default=200)
    parser.add_argument("--explain-rows", type=int, default=100)
    parser.add_argument("--shift-rows", type=int, default=50_000, help="test rows the shift perturbations score (0: all)")
    parser.add_argument("--robust-rows", type=int, default=300)
    parser.add_argument("--cache", type=Path, default=ROOT / ".cache" / "scale")
    parser.add_argument("--cold", action="store_true", help="empty the model cache first (time training too)")
    parser.add_argument("--log", action="store_true", help="print the audit's progress lines")
    args = parser.parse_args()
    args.cache = args.cache.resolve()
    data_dir, model_cache, out = args.cache / "data", args.cache / "models", args.cache / "reports"
    data_dir.mkdir(parents=True, exist_ok=True)
    if args.cold and model_cache.exists():
        shutil.rmtree(model_cache)
    print(f"cpu count {os.cpu_count()}; bootstrap {args.bootstrap}; explain rows {args.explain_rows}; shift rows {args.shift_rows}; robustness rows {args.robust_rows}")
    reports = {}
    for n in args.rows:
        t = time.perf_counter()
        data = write_data(n, data_dir)
        made = time.perf_counter() - t
        suite = args.cache / f"scale_{n}.yaml"
        suite.write_text(suite_text(f"scale_{n}", data, args.bootstrap, args.explain_rows, args.shift_rows, args.robust_rows))
        report = run_audit(suite, out, model_cache)
        reports[n] = report
        if args.log:
            print("\n".join(report["log"]))
        rows = report["rows"]
        print(f"\n== {n:,} rows ({rows['train']:,} train / {rows['test']:,} test; {data.stat().st_size / 1e6:.1f} MB Parquet, ready in {made:.1f} s): status {report['status']}")
        for line in report["errors"]:
            print(f"   ERROR {line}")
        print(f"   wall {report['wall']:.1f} s (CPU {report['cpu']:.1f} s; mean load average {report['load']:.1f} on {os.cpu_count()} cores); peak RSS {report['maxrss'] / 1024**3:.2f} GB (at {report['peak_t']:.0f} s, after: {report['peak_step'][:90]})")
        print("   outputs: " + ", ".join(f"{k} {v / 1e6:.2f} MB" for k, v in report["sizes"].items()))
        timings = report["timings"]
        per_check: dict[str, float] = {}
        for key, value in timings.items():
            if key.startswith("check:"):
                check = key.split("/", 1)[1]
                per_check[check] = per_check.get(check, 0.0) + value
        steps = {k: v for k, v in timings.items() if not k.startswith("check:")}
        print("   steps:  " + ", ".join(f"{k} {v:.2f}" for k, v in steps.items()))
        print("   checks (summed over models): " + ", ".join(f"{k} {v:.2f}" for k, v in sorted(per_check.items(), key=lambda kv: -kv[1])))
    if len(reports) > 1:
        small, large = min(reports), max(reports)
        ratio = reports[large]["wall"] / reports[small]["wall"]
        print(f"\nlinearity: {large:,} / {small:,} rows = {large / small:.0f}x rows -> {ratio:.2f}x wall time ({'at most linear' if ratio <= large / small * 1.05 else 'SUPER-LINEAR'})")
        ts, tl = reports[small]["timings"], reports[large]["timings"]
        for key in tl:
            if key in ts and ts[key] > 0.05:
                r = tl[key] / ts[key]
                if r > large / small * 1.05:
                    print(f"   super-linear step: {key} {ts[key]:.2f} s -> {tl[key]:.2f} s ({r:.1f}x)")
    largest = reports[max(reports)]
    ok_time = largest["wall"] <= TARGET_SECONDS
    ok_mem = largest["maxrss"] <= TARGET_BYTES
    print(f"\ntargets at {max(reports):,} rows: wall {largest['wall']:.1f} s <= {TARGET_SECONDS:.0f} s: {'met' if ok_time else 'NOT met'}; peak {largest['maxrss'] / 1024**3:.2f} GB <= 4 GB: {'met' if ok_mem else 'NOT met'}")


if __name__ == "__main__":
    main()

"""Time the generation suite (a small GPT-2 trained on tweets, audited on every pillar) end to end.

Runs ``audit run suites/generation.yaml`` in a fresh process, cold (an empty model cache: the
tokenizer and the GPT-2 are trained) and then warm (the trained model is loaded from the cache),
and prints the whole wall and CPU time of each run and the per-step times from the run's manifest
(data, model, each check). On a shared machine wall time follows the load; CPU time (user + system
of the child) is the steadier figure. Usage:

    .venv/bin/python benchmarks/generation.py [--suite suites/generation.yaml] [--warm-only]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def one_run(suite: Path, cache: Path, out: Path) -> tuple[float, float, dict[str, float], str]:
    """(wall s, CPU s, manifest timings, verdict) of one `audit run` in a fresh process."""
    env = {**os.environ, "AUDIT_CACHE_DIR": str(cache)}
    cpu0, start = _child_cpu(), time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "audit", "run", str(suite), "-o", str(out), "-q"], env=env, capture_output=True, text=True)
    wall, cpu = time.perf_counter() - start, _child_cpu() - cpu0
    if proc.returncode not in (0, 1):
        sys.exit(f"run failed ({proc.returncode}):\n{proc.stderr}")
    from audit.results import load_results

    newest = max((out / suite.stem).iterdir(), key=lambda p: p.stat().st_mtime)
    results = load_results(newest)
    return wall, cpu, results.manifest["timings_s"], results.status


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", type=Path, default=ROOT / "suites" / "generation.yaml")
    parser.add_argument("--warm-only", action="store_true", help="skip the cold run (reuse the developer's model cache)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(os.environ.get("AUDIT_CACHE_DIR", "")) if args.warm_only and os.environ.get("AUDIT_CACHE_DIR") else Path(tmp) / "cache"
        runs = {}
        for label in ([] if args.warm_only else ["cold"]) + ["warm"]:
            runs[label] = one_run(args.suite, cache, Path(tmp) / "reports")
        print(f"suite {args.suite.relative_to(ROOT) if args.suite.is_relative_to(ROOT) else args.suite} on {os.cpu_count()} CPUs")
        for label, (wall, cpu, _, status) in runs.items():
            print(f"  {label:<5} whole run: {wall:7.1f} s wall, {cpu:7.1f} s CPU  (verdict: {status})")
        steps = list(next(iter(runs.values()))[2])
        print(f"\n  {'step':<34}" + "".join(f"{label:>10}" for label in runs))
        for step in steps:
            print(f"  {step:<34}" + "".join(f"{runs[label][2].get(step, float('nan')):>10.2f}" for label in runs))


if __name__ == "__main__":
    main()

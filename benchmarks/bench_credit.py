"""Time the credit suite end to end and per check, cold (empty model cache) and warm.

Prints a table of per-step timings from the run manifests, whole-process wall and CPU times
(user + system of the child), plus the ratio to the 10-20 s that peer tools take to scan one
credit model (``benchmarks/vs_giskard.py`` measures Giskard side by side instead). On a shared
machine wall time follows the load; CPU time is the steadier figure. Usage:

    .venv/bin/python benchmarks/bench_credit.py [--suite suites/credit.yaml] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PEER_SECONDS_PER_MODEL = (10.0, 20.0)


def cli_help_seconds() -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "audit", "--help"], check=True, capture_output=True)
    return time.perf_counter() - start


CPU_S: list[float] = []  # CPU seconds of each run, in order


def _child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def one_run(suite: Path, cache: Path, out: Path) -> tuple[float, dict[str, float], int]:
    """Wall time of a whole `audit run` in a fresh process (imports included) and its manifest timings."""
    env = {**os.environ, "AUDIT_CACHE_DIR": str(cache)}
    cpu0 = _child_cpu()
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "audit", "run", str(suite), "-o", str(out), "-q"], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    CPU_S.append(_child_cpu() - cpu0)
    if proc.returncode not in (0, 1):
        sys.exit(f"run failed ({proc.returncode}):\n{proc.stderr}")
    from audit.results import load_results

    newest = max((out / suite.stem).iterdir(), key=lambda p: p.stat().st_mtime)
    results = load_results(newest)
    return wall, results.manifest["timings_s"], len(results.models)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", type=Path, default=ROOT / "suites" / "credit.yaml")
    parser.add_argument("--repeats", type=int, default=3, help="warm runs to take the median of")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cache, out = Path(tmp) / "cache", Path(tmp) / "reports"
        cold_wall, cold, n_models = one_run(args.suite, cache, out)
        warm_runs = [one_run(args.suite, cache, out) for _ in range(args.repeats)]
    warm_wall = statistics.median(w for w, _, _ in warm_runs)
    warm = warm_runs[len(warm_runs) // 2][1]
    print(f"suite {args.suite.name}: {n_models} models; cpu count {os.cpu_count()}")
    print(f"`audit --help`: {cli_help_seconds() * 1000:.0f} ms")
    print(f"\n{'step':<40}{'cold s':>10}{'warm s':>10}")
    for key in cold:
        print(f"{key:<40}{cold[key]:>10.3f}{warm.get(key, float('nan')):>10.3f}")
    checks = {k.split('/')[-1] for k in cold if k.startswith("check:")}
    print("\nper check, summed over models (warm):")
    for check in sorted(checks):
        total = sum(v for k, v in warm.items() if k.startswith("check:") and k.endswith("/" + check))
        print(f"  {check:<20}{total:>8.3f} s")
    print(f"\nwhole process, cold cache (training included): {cold_wall:.2f} s")
    print(f"whole process, warm cache (median of {args.repeats}): {warm_wall:.2f} s "
          f"(range {min(w for w, _, _ in warm_runs):.2f}-{max(w for w, _, _ in warm_runs):.2f})")
    print(f"CPU time: cold {CPU_S[0]:.2f} s; warm median {statistics.median(CPU_S[1:]):.2f} s "
          f"(range {min(CPU_S[1:]):.2f}-{max(CPU_S[1:]):.2f})")
    lo, hi = (n_models * s for s in PEER_SECONDS_PER_MODEL)
    print(f"peer tools: {PEER_SECONDS_PER_MODEL[0]:.0f}-{PEER_SECONDS_PER_MODEL[1]:.0f} s per model -> {lo:.0f}-{hi:.0f} s for {n_models} models")
    print(f"speed-up vs peers (warm): {lo / warm_wall:.1f}x - {hi / warm_wall:.1f}x; (cold): {lo / cold_wall:.1f}x - {hi / cold_wall:.1f}x")


if __name__ == "__main__":
    main()

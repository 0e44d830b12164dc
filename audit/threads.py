"""Thread counts for training and scoring, chosen once per run for the machine.

The toolkit's work is many small fits and predictions (a thousand rows, a few hundred columns).
There, extra BLAS / OpenMP / torch threads mostly add start-up and synchronisation, and on a
shared or busy machine OpenMP spin-waiting makes them several times slower (measured on a loaded
2-core host: the credit MLP's robustness check 10.8 s with 2 threads, 2.1 s with 1; gradient
boosting's single-row predictions up to 100x). Checks used to set their own limits around their
loops; the engine now calls :func:`machine_threads` once around a run instead.

The choice (:func:`choose_threads`): ``AUDIT_THREADS`` when set; else ``OMP_NUM_THREADS`` when the
user set it; else one thread per process on a machine with up to 4 usable cores, and half the
usable cores (at most 8) above that. "Usable" is the process's CPU affinity, capped by a cgroup
CPU quota (containers). The plan applies to
- torch's intra-op threads (``torch.set_num_threads``), when torch is imported or gets imported
  later in the run (through ``OMP_NUM_THREADS``, which torch reads when it loads);
- every BLAS / OpenMP library already loaded (threadpoolctl) and those loaded later in the run
  (``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS``, ``MKL_NUM_THREADS`` set for the run when the
  user had not set them).
A fit or a scoring call on at least ``LARGE_ROWS`` rows gets every usable core instead
(:func:`rows_threads`: gradient boosting on 700k rows fits in 9 s with 2 threads against 15 s
with 1), unless the user set a thread count. On exit the previous torch setting, the limits of the libraries that were loaded before, and the
environment are restored. Results do not depend on it beyond floating-point summation order.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ENV_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
MAX_THREADS = 8
SMALL_MACHINE = 4  # usable cores up to which every library gets one thread


@dataclass(frozen=True)
class ThreadPlan:
    threads: int
    usable_cores: int
    reason: str

    def manifest(self) -> dict[str, object]:
        return {"threads": self.threads, "usable_cores": self.usable_cores, "reason": self.reason}


def usable_cores() -> int:
    """CPUs this process may run on: its affinity, capped by a cgroup v2 / v1 CPU quota."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    quota = _cgroup_quota()
    return max(1, min(cores, quota) if quota else cores)


def _cgroup_quota() -> int | None:
    try:
        text = Path("/sys/fs/cgroup/cpu.max").read_text().split()
        if text and text[0] != "max":
            return max(1, math.ceil(int(text[0]) / int(text[1])))
    except (OSError, ValueError, IndexError):
        pass
    try:
        quota = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").read_text())
        period = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us").read_text())
        if quota > 0 and period > 0:
            return max(1, math.ceil(quota / period))
    except (OSError, ValueError):
        pass
    return None


def _positive_int(text: str | None) -> int | None:
    try:
        value = int(str(text).strip())
    except (TypeError, ValueError):
        return None
    return value if value >= 1 else None


def choose_threads(environ: dict[str, str] | None = None, cores: int | None = None) -> ThreadPlan:
    """The run's thread count (see the module docstring for the rule)."""
    env = os.environ if environ is None else environ
    cores = usable_cores() if cores is None else cores
    explicit = _positive_int(env.get("AUDIT_THREADS"))
    if explicit is not None:
        return ThreadPlan(explicit, cores, "AUDIT_THREADS")
    omp = _positive_int(env.get("OMP_NUM_THREADS"))
    if omp is not None:
        return ThreadPlan(omp, cores, "OMP_NUM_THREADS")
    if cores <= SMALL_MACHINE:
        return ThreadPlan(1, cores, f"{cores} usable cores: one thread per library")
    return ThreadPlan(min(MAX_THREADS, cores // 2), cores, f"{cores} usable cores: half of them, at most {MAX_THREADS}")


LARGE_ROWS = 50_000  # a fit or a scoring call on at least this many rows gets every usable core


def rows_threads(rows: int, environ: dict[str, str] | None = None) -> int | None:
    """Threads for one fit or scoring call on ``rows`` rows: every usable core when the call is
    large (the threads' start-up and synchronisation are then small against the work), else
    None (the run's plan stands). A thread count the user set (``AUDIT_THREADS``,
    ``OMP_NUM_THREADS``) always stands."""
    env = os.environ if environ is None else environ
    if rows < LARGE_ROWS or _positive_int(env.get("AUDIT_THREADS")) is not None or _user_set_omp(env):
        return None
    cores = usable_cores()
    return cores if cores > 1 else None


def _user_set_omp(env: dict[str, str]) -> bool:
    """Whether OMP_NUM_THREADS comes from the user, not from :func:`machine_threads`."""
    return _positive_int(env.get("OMP_NUM_THREADS")) is not None and not _RUN_SET_OMP


_RUN_SET_OMP: list[bool] = []  # non-empty while machine_threads has set OMP_NUM_THREADS itself


@contextlib.contextmanager
def machine_threads(plan: ThreadPlan | None = None) -> Iterator[ThreadPlan]:
    """Apply ``plan`` (default: :func:`choose_threads`) for the block; restore the previous state."""
    plan = plan or choose_threads()
    n = plan.threads
    saved_env = {k: os.environ.get(k) for k in ENV_VARS}
    for key in ENV_VARS:
        if saved_env[key] is None:
            os.environ[key] = str(n)
    if saved_env["OMP_NUM_THREADS"] is None:
        _RUN_SET_OMP.append(True)
    torch = sys.modules.get("torch")
    torch_before = torch.get_num_threads() if torch is not None else None
    limiter = None
    try:
        if torch is not None:
            torch.set_num_threads(n)
        if "numpy" in sys.modules or "sklearn" in sys.modules or torch is not None:
            from threadpoolctl import threadpool_limits

            limiter = threadpool_limits(limits=n)
        yield plan
    finally:
        if limiter is not None:
            limiter.restore_original_limits()
        torch_now = sys.modules.get("torch")
        if torch_now is not None:
            torch_now.set_num_threads(torch_before if torch_before is not None else max(1, usable_cores()))
        if saved_env["OMP_NUM_THREADS"] is None and _RUN_SET_OMP:
            _RUN_SET_OMP.pop()
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

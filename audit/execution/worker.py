"""What runs inside a Ray worker: one (model, check) step, one shard, and the fan-out of shards.

Functions here are pickled by reference, so a worker imports this module (and ``audit``) itself.
A worker keeps the ``Context`` of the run it last served (keyed by the object-store id of the
run's data and models): consecutive steps of one run on one worker share its prediction cache,
as the steps of a local run do.

Threads: a BLAS, OpenMP or torch reduction split over another number of threads sums in another
order, and the last bits of a number change (Ray starts its workers with one thread; this
process may use more). So every step and shard runs with the thread counts of the process that
sent it (``capture_threads`` / ``use_threads``), and the numbers match the local run's bit for bit.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from audit.execution.base import Step, StepOutcome, execute_step

if TYPE_CHECKING:
    from audit.context import Context
    from audit.suite import Suite

_CONTEXTS: dict[str, Context] = {}


def shipped_suite(suite: Suite | None) -> Suite | None:
    """The suite as workers get it: without the Python API's in-memory frames and model objects
    (the data bundle and the adapters travel on their own)."""
    if suite is None or not getattr(suite, "_memory", None):
        return suite
    copy = suite.model_copy()
    copy._memory = {}
    return copy


def run_step(env: list[Any], step: Step, model_name: str | None, threads: dict[str, int]) -> StepOutcome:
    """Run one step in this worker; artefacts are written to a scratch folder and sent back as bytes."""
    ctx = _context(env[0])
    lines: list[str] = []
    ctx.log = lines.append
    with tempfile.TemporaryDirectory(prefix="audit-step-") as scratch, use_threads(threads):
        ctx.run_dir = Path(scratch)
        model = ctx.models[model_name] if model_name is not None else None
        outcome = execute_step(ctx, replace(step, model=model))
        outcome.files = {p.relative_to(scratch).as_posix(): p.read_bytes() for p in sorted(Path(scratch).rglob("*")) if p.is_file()}
    outcome.logs, outcome.where = lines, "ray"
    return outcome


def _context(ref: Any) -> Context:
    import ray

    from audit.context import Context

    key = ref.hex()
    ctx = _CONTEXTS.get(key)
    if ctx is None:
        suite, data, models, seed = ray.get(ref)
        ctx = Context(suite, data, models, seed, Path(tempfile.gettempdir()), lambda message: None)
        ctx._map = nested_map  # type: ignore[attr-defined]
        _CONTEXTS.clear()  # one run at a time per worker: drop the previous run's data
        _CONTEXTS[key] = ctx
    return ctx


def run_shard(fn: Callable[[Any], Any], item: Any, threads: dict[str, int]) -> Any:
    with use_threads(threads):
        return fn(item)


def capture_threads() -> dict[str, int]:
    """This process's thread counts: ``{"blas": n, "openmp": n, "torch": n}`` (the libraries loaded)."""
    from threadpoolctl import threadpool_info

    state: dict[str, int] = {}
    for info in threadpool_info():
        api = info.get("user_api")
        if api in ("blas", "openmp"):
            state[api] = max(state.get(api, 0), int(info["num_threads"]))
    torch = sys.modules.get("torch")
    if torch is not None:
        state["torch"] = int(torch.get_num_threads())
    return state


@contextlib.contextmanager
def use_threads(state: dict[str, int]) -> Iterator[None]:
    """Run the block with ``state``'s thread counts (libraries loaded later read the environment)."""
    from threadpoolctl import threadpool_limits

    saved = {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    if "openmp" in state:
        os.environ["OMP_NUM_THREADS"] = str(state["openmp"])
    if "blas" in state:
        os.environ["OPENBLAS_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(state["blas"])
    torch = None
    if "torch" in state:
        import torch
    torch_before = torch.get_num_threads() if torch is not None else None
    limiter = threadpool_limits(limits={k: v for k, v in state.items() if k in ("blas", "openmp")})
    try:
        if torch is not None:
            torch.set_num_threads(state["torch"])
        yield
    finally:
        limiter.restore_original_limits()
        if torch is not None and torch_before is not None:
            torch.set_num_threads(torch_before)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def nested_map(fn: Callable[[Any], Any], items: Sequence[Any], label: str = "") -> list[Any]:
    """``Context.map`` inside a step's task: Ray tasks while the cluster has an idle CPU, else a loop.

    Either way the results are the same (every item seeds itself); the check only finishes sooner
    when other CPUs would idle. A task blocked on its shards lends its CPU to them (Ray releases
    it), so nesting cannot deadlock.
    """
    import ray

    if len(items) > 1 and ray.available_resources().get("CPU", 0) >= 1:
        return fan_out(ray, fn, items)
    return [fn(item) for item in items]


def fan_out(ray: Any, fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
    """``[fn(item) for item in items]`` as Ray tasks, in order; an item's exception is re-raised as itself.

    A function that cannot be serialised (it holds a model Ray cannot ship) runs here instead.
    """
    items = list(items)
    if len(items) <= 1:
        return [fn(item) for item in items]
    try:
        fn_ref = ray.put(fn)
    except Exception:  # noqa: BLE001 - it holds something that does not serialise (a model Ray cannot ship): run here
        return [fn(item) for item in items]
    threads = capture_threads()
    task = ray.remote(run_shard).options(num_cpus=1, max_retries=0)
    refs = [task.remote(fn_ref, item, threads) for item in items]
    try:
        return ray.get(refs)
    except ray.exceptions.RayTaskError as err:
        # let the other shards finish rather than force-cancelling them: killing a worker whose task
        # is completing can crash Ray's driver ("Tried to complete task that was not pending")
        ray.wait(refs, num_returns=len(refs))
        cause = getattr(err, "cause", None)
        if isinstance(cause, BaseException):
            raise cause from None
        raise

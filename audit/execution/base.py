"""The backend contract, the local backend, and running one (model, check) step anywhere.

``execute_step`` is the one place a check runs: in this process for the local backend (and for a
model Ray cannot ship), in a worker for Ray. It applies the check's metric declarations and
turns an exception into an ``error`` record, so a failed check is data on every backend.
While a check runs, its context is the *ambient* one: :func:`shard_map` sends shard-keyed work
to that context's ``map`` (Ray tasks or a plain loop), so library code such as permutation SHAP
can fan out without being handed the context.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from audit.context import Context
    from audit.results import CheckRecord, Metric

_AMBIENT: contextvars.ContextVar[Context | None] = contextvars.ContextVar("audit_ambient_context", default=None)


@dataclass
class Step:
    """One planned (model, check) pair; ``index`` is its 1-based place in the plan."""

    index: int
    key: str  # its checkpoint key
    check: Any
    params: dict[str, Any]
    model: Any  # a ModelAdapter, or None for a data-scope check
    where: dict[str, str]  # pillar and implementation, copied onto the record

    @property
    def who(self) -> str:
        return self.model.name if self.model is not None else "data"

    @property
    def name(self) -> str:
        return self.check.check_name

    def without_model(self) -> Step:
        """The step without its adapter (a Ray task looks the model up by name in the worker)."""
        return replace(self, model=None)


@dataclass
class StepOutcome:
    """What a step produced: the record and metrics, plus what a worker must send home."""

    index: int
    record: CheckRecord
    metrics: list[Metric]
    seconds: float
    logs: list[str] = field(default_factory=list)  # the check's own log lines (workers only)
    files: dict[str, bytes] = field(default_factory=dict)  # run-folder-relative path -> bytes (workers only)
    where: str = "here"  # "here" or "ray"


def execute_step(ctx: Context, step: Step) -> StepOutcome:
    """Run ``step``'s check on its model with ``ctx`` as the ambient context; never raises for the check's errors."""
    from audit.checks.base import apply_declarations
    from audit.results import CheckRecord

    t = time.perf_counter()
    try:
        with ambient(ctx):
            result = step.check.run(ctx, step.model)
        apply_declarations(result, step.check)
        record = result.record(time.perf_counter() - t, step.params).model_copy(update=step.where)
        metrics = result.metrics
    except Exception as exc:  # a failed check is data: record it and go on
        record = CheckRecord(
            check=step.name,
            model=step.who,
            **step.where,
            status="error",
            duration_s=round(time.perf_counter() - t, 4),
            error=f"{exc.__class__.__name__}: {exc}",
            params=step.params,
        )
        metrics = []
        if os.environ.get("AUDIT_DEBUG"):
            traceback.print_exc()
    return StepOutcome(step.index, record, metrics, time.perf_counter() - t)


@contextlib.contextmanager
def ambient(ctx: Context) -> Iterator[None]:
    """Make ``ctx`` the context :func:`shard_map` uses for the block."""
    token = _AMBIENT.set(ctx)
    try:
        yield
    finally:
        _AMBIENT.reset(token)


def shard_map(fn: Callable[[Any], Any], items: Sequence[Any], label: str = "") -> list[Any]:
    """``[fn(item) for item in items]`` on the ambient context's backend (a plain loop outside a check)."""
    ctx = _AMBIENT.get()
    if ctx is None:
        return [fn(item) for item in items]
    return ctx.map(fn, items, label=label)


def distributed() -> bool:
    """Whether :func:`shard_map` may send items to other processes (worth splitting work into shards)."""
    ctx = _AMBIENT.get()
    return ctx is not None and getattr(ctx, "_map", None) is not None


class Backend:
    """Runs a plan's steps and a check's shards. Subclasses: ``LocalBackend``, ``RayBackend``."""

    name = "base"
    summary = ""  # one progress line: where the work runs (empty for the local backend)

    def attach(self, ctx: Context) -> None:
        """Prepare ``ctx`` for this backend (Ray: route ``ctx.map`` to Ray tasks)."""

    def run_steps(self, ctx: Context, steps: list[Step], done: Callable[[StepOutcome], None], log: Callable[[str], None]) -> None:
        """Run ``steps`` and call ``done`` with each outcome (in any order, on this thread)."""
        raise NotImplementedError

    def close(self) -> None:
        """Release what the backend started (a local Ray it launched, a connection)."""


class LocalBackend(Backend):
    """Today's behaviour: every step, in plan order, in this process; shards as a plain loop."""

    name = "local"

    def run_steps(self, ctx: Context, steps: list[Step], done: Callable[[StepOutcome], None], log: Callable[[str], None]) -> None:
        for step in steps:
            done(execute_step(ctx, step))

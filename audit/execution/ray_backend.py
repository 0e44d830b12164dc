"""The Ray backend: (model, check) steps and shard-keyed work as Ray tasks.

Connecting: with an ``address`` (``auto``, ``ray://head:10001``, ``head:6379``) ``ray.init``
joins that cluster; without one a local Ray is started with ``num_cpus`` CPUs. A process that
already called ``ray.init`` (a notebook, a test) keeps its session: the backend uses it and does
not shut it down. ``ray`` is imported only here; without it the run stops with a ``MissingExtra``
error naming the ``ray`` extra.

Steps: the suite, the data bundle and the model adapters are put into the object store once;
each step is a task (``audit.execution.worker.run_step``) that rebuilds a ``Context`` in the
worker and returns the record, metrics, log lines and artefact files, which this process writes
into the run folder (so a cluster without a shared file system works). A model that cannot be
serialised runs its steps in this process instead, with a log line saying so.

Shards (``Context.map``): each item is a task running the same function, put into the object
store once; inside a step's task they fan out only while the cluster has idle CPUs, else run
in the task (``worker.nested_map``). An exception raised by an item is re-raised as itself, so an
``error`` record reads the same on both backends.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from audit.errors import ConfigError, MissingExtra
from audit.execution.base import Backend, Step, StepOutcome, execute_step

if TYPE_CHECKING:
    from audit.context import Context


def import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise MissingExtra("ray", "ray", "The Ray execution backend (execution: {backend: ray} or --ray)") from exc
    return ray


class RayBackend(Backend):
    name = "ray"

    def __init__(self, ray: Any, *, owned: bool, description: str) -> None:
        self.ray = ray
        self.owned = owned  # this backend called ray.init, so it calls ray.shutdown
        self.description = description

    @classmethod
    def connect(cls, address: str | None, num_cpus: int | None, log: Callable[[str], None]) -> RayBackend:
        ray = import_ray()
        if ray.is_initialized():
            backend = cls(ray, owned=False, description="the Ray session already open in this process")
        else:
            options: dict[str, Any] = {
                "include_dashboard": False,
                "log_to_driver": bool(os.environ.get("AUDIT_DEBUG")),
                "logging_level": "ERROR",
            }
            try:
                if address:
                    _probe(address)
                    ray.init(address=address, **options)
                else:  # "local": never join a cluster named by RAY_ADDRESS by accident
                    ray.init(address="local", num_cpus=num_cpus, **options)
            except Exception as exc:  # ConnectionError, TimeoutError, ValueError (malformed address), ...
                if ray.is_initialized():
                    ray.shutdown()
                where = f"the Ray cluster at '{address}'" if address else "a local Ray"
                detail = " ".join(str(exc).split()).rstrip(".") or exc.__class__.__name__
                hint = (
                    "Start one with 'ray start --head' and use the address 'auto', give the head node's client "
                    "address (ray://<head>:10001), or leave the address out to start a local Ray"
                    if address
                    else "Check that this machine can start Ray (ray start --head works)"
                )
                raise ConfigError(f"execution: cannot connect to {where}: {detail}. {hint}.") from None
            backend = cls(ray, owned=True, description=f"Ray cluster at {address}" if address else "a local Ray")
        cpus = int(ray.cluster_resources().get("CPU", 0))
        backend.summary = f"{backend.description}: {cpus} CPUs; independent checks and their shards run as Ray tasks"
        return backend

    # -- shards ------------------------------------------------------------------------------
    def attach(self, ctx: Context) -> None:
        ctx._map = self.map  # type: ignore[attr-defined]

    def map(self, fn: Callable[[Any], Any], items: Sequence[Any], label: str = "") -> list[Any]:
        from audit.execution.worker import fan_out

        return fan_out(self.ray, fn, items)

    # -- steps -------------------------------------------------------------------------------
    def run_steps(self, ctx: Context, steps: list[Step], done: Callable[[StepOutcome], None], log: Callable[[str], None]) -> None:
        from audit.execution import worker

        ray = self.ray
        shippable = self._shippable(ctx, {s.model.name: s.model for s in steps if s.model is not None}, log)
        env = ray.put((worker.shipped_suite(ctx.suite), ctx.data, shippable, ctx.seed))
        task = ray.remote(worker.run_step).options(num_cpus=1, max_retries=0)
        threads = worker.capture_threads()  # the workers sum in this process's order (see worker)
        futures: dict[Any, Step] = {}
        here: list[Step] = []
        try:
            for step in steps:
                if step.model is not None and step.model.name not in shippable:
                    here.append(step)
                    continue
                ref = task.remote([env], step.without_model(), step.model.name if step.model is not None else None, threads)
                futures[ref] = step
            for step in here:  # while the workers run theirs
                done(execute_step(ctx, step))
            pending = list(futures)
            while pending:
                ready, pending = ray.wait(pending, num_returns=1)
                for ref in ready:
                    outcome = self._outcome(ref, futures[ref])
                    _write_files(ctx.run_dir, outcome.files)
                    done(outcome)
        except BaseException:
            # stop what has not finished; never force-kill a worker (a task completing while its
            # worker is killed can crash Ray's driver), and never cancel what is already done
            unfinished = ray.wait(list(futures), num_returns=len(futures), timeout=0)[1] if futures else []
            for ref in unfinished:
                ray.cancel(ref)
            raise

    def _shippable(self, ctx: Context, models: dict[str, Any], log: Callable[[str], None]) -> dict[str, Any]:
        """The adapters that serialise for the workers; the others' steps run in this process."""
        from ray import cloudpickle

        out = {}
        for name, model in ctx.models.items():
            try:
                cloudpickle.dumps(model)
            except Exception as exc:  # noqa: BLE001 - any serialisation failure means "run it here"
                if name in models:
                    log(f"  ray    model '{name}' cannot be sent to Ray workers ({exc.__class__.__name__}: {exc}); its checks run in this process")
                continue
            out[name] = model
        return out

    def _outcome(self, ref: Any, step: Step) -> StepOutcome:
        """The task's outcome; a task that died (not a check error: those are records) becomes an error record."""
        from audit.results import CheckRecord

        try:
            return self.ray.get(ref)
        except Exception as exc:  # WorkerCrashedError, OutOfMemoryError, ObjectLostError, ...
            record = CheckRecord(check=step.name, model=step.who, **step.where, status="error", duration_s=0.0,
                                 error=f"{exc.__class__.__name__}: the Ray task running this check failed: {exc}", params=step.params)
            return StepOutcome(step.index, record, [], 0.0, where="ray")

    def close(self) -> None:
        if self.owned and self.ray.is_initialized():
            self.ray.shutdown()


PROBE_SECONDS = 10.0


def _probe(address: str) -> None:
    """Fail fast when ``host:port`` (or ``ray://host:port``) refuses connections: ``ray.init``
    itself waits minutes for a cluster that is not there. ``auto`` and other forms go to Ray."""
    import socket

    rest = address.removeprefix("ray://")
    host, sep, port = rest.rpartition(":")
    if not sep or not host or not port.isdigit():
        return
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=PROBE_SECONDS):
            pass
    except OSError as exc:
        reason = exc.strerror or exc.__class__.__name__
        raise ConnectionError(f"nothing answers at {host}:{port} ({reason})") from None


def _write_files(run_dir: Path, files: dict[str, bytes]) -> None:
    """Write a worker's artefact files (run-folder-relative paths) into the run folder."""
    for rel, data in files.items():
        parts = PurePosixPath(rel).parts
        if not parts or PurePosixPath(rel).is_absolute() or ".." in parts:
            raise RuntimeError(f"a Ray worker sent an artefact with an unsafe path: {rel!r}")
        target = run_dir.joinpath(*parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)

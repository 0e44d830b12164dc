"""Pick the backend a run's ``execution`` section (or ``--ray``) asks for."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from audit.execution.base import Backend, LocalBackend

if TYPE_CHECKING:
    from audit.suite import ExecutionSpec


def open_backend(spec: ExecutionSpec | None, log: Callable[[str], None]) -> Backend:
    """The local backend, or a connected Ray backend (``ray`` imported only then).

    Raises ``MissingExtra`` without ray and ``ConfigError`` when the cluster cannot be reached,
    before the run folder exists.
    """
    if spec is None or spec.backend == "local":
        return LocalBackend()
    from audit.execution.ray_backend import RayBackend

    return RayBackend.connect(spec.address, spec.num_cpus, log)

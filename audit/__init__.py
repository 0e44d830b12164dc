"""audit: responsible-AI evaluation and auditing from one declarative suite file.

The public Python API is small: ``audit`` audits a model object on DataFrames in memory;
``run_suite`` runs a suite and returns its run folder and results; ``load_suite`` validates a
suite file; ``load_run`` / ``load_results`` read a finished run. Heavy
libraries are imported only when a run needs them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["__version__", "audit", "load_results", "load_run", "load_suite", "run_suite"]

if TYPE_CHECKING:
    from audit.api import audit, load_run
    from audit.engine import run_suite
    from audit.results import load_results
    from audit.suite import load_suite


def __getattr__(name: str) -> Any:
    if name in ("audit", "load_run", "AuditResult"):
        from audit import api

        return getattr(api, name)
    if name == "run_suite":
        from audit.engine import run_suite

        return run_suite
    if name == "load_results":
        from audit.results import load_results

        return load_results
    if name == "load_suite":
        from audit.suite import load_suite

        return load_suite
    raise AttributeError(f"module 'audit' has no attribute {name!r}")

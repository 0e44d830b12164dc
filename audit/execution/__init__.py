"""Where a run's work executes: this process (``local``) or a Ray cluster (``ray``).

Two kinds of work go to the backend:

* **steps**: the suite's independent (model, check) pairs. Locally they run one after another
  in this process; on Ray each is a task that rebuilds a ``Context`` in the worker from the data
  bundle and model adapters put once into the object store, and sends back the check's record,
  metrics, log lines and artefact files.
* **shards**: ``Context.map`` / :func:`shard_map` inside a check (bootstrap blocks, permutation
  SHAP rows, (attack, budget) pairs, TextAttack examples). Every shard draws its randomness from a
  generator keyed by the shard (``keyed_rng``), never from one shared across shards, so the numbers
  do not depend on where or in which order the shards run.

The engine asks :func:`open_backend` for the suite's backend; ``ray`` is imported only then.
"""

from __future__ import annotations

from audit.execution.base import Backend, LocalBackend, Step, StepOutcome, distributed, execute_step, shard_map
from audit.execution.select import open_backend

__all__ = ["Backend", "LocalBackend", "Step", "StepOutcome", "distributed", "execute_step", "open_backend", "shard_map"]

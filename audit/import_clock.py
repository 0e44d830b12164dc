"""How long the first imports of a block took: so "model mlp: cached" is not charged with ``import torch``.

The engine wraps each model's build in ``import_clock()`` and prints the import time on its own
line (``import torch, opt_einsum, dill, 3 more (1.76s, once per process)``), then the model's
own loading or training time.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator
from typing import Any


class _Imported:
    """What ``import_clock`` measured: seconds spent in first imports, and the packages they loaded."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.packages: list[str] = []


@contextlib.contextmanager
def import_clock(top: int = 3) -> Iterator[_Imported]:
    """Time the outermost ``import`` statements run in this thread inside the block, so a model's
    first load is not charged with importing its libraries; ``packages`` names the largest new
    third-party packages (at most ``top``, then "N more"). Imports of modules already loaded cost
    microseconds; a block that loads no new third-party package keeps its time (seconds 0)."""
    import builtins
    import threading

    original, me, depth, found = builtins.__import__, threading.get_ident(), [0], _Imported()
    before = {name.partition(".")[0] for name in list(sys.modules)}

    def timed(name: str, *args: Any, **kwargs: Any) -> Any:
        if depth[0] or threading.get_ident() != me:
            return original(name, *args, **kwargs)
        depth[0] += 1
        start = time.perf_counter()
        try:
            return original(name, *args, **kwargs)
        finally:
            depth[0] -= 1
            found.seconds += time.perf_counter() - start

    builtins.__import__ = timed
    try:
        yield found
    finally:
        builtins.__import__ = original
        new = {name.partition(".")[0] for name in list(sys.modules)} - before - {"audit"} - set(sys.stdlib_module_names)
        by_size = sorted(
            (p for p in new if not p.startswith("_")),
            key=lambda p: (-sum(1 for m in sys.modules if m == p or m.startswith(p + ".")), p),
        )
        found.packages = by_size[:top] + ([f"{len(by_size) - top} more"] if len(by_size) > top else [])
        if not found.packages:
            found.seconds = 0.0  # nothing new was loaded: the time stays with the model

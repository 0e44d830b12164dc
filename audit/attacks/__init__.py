"""Adversarial attacks used by the ``robustness`` pillar, one implementation for every modality.

Every attack works on the input the model's ``torch_module`` (or ``proba_from_encoded``) sees
(tabular: standardised numeric columns followed by one-hot columns; images: pixels in [0, 1]),
inside an L-infinity ball of radius ``eps``. What is a valid adversarial input is the modality's
business and lives in a ``Domain`` (``domain``): the entries that may move, a box, integer
features. ``gradient`` holds FGSM and PGD (margin loss, best iterate, restarts) for models with a
``torch_module``; ``blackbox`` holds a query-only random and greedy coordinate search that works
for any model with ``proba_from_encoded``; ``counterfactual`` builds attribute-flipped test sets.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator


@contextlib.contextmanager
def limit_threads(n: int | None = 1) -> Iterator[None]:
    """Run the block with at most ``n`` BLAS / OpenMP / torch threads (None: leave them alone).

    Attacks score many small batches; extra threads mostly add synchronisation there and, on a
    shared or busy machine, OpenMP spin-waiting makes them several times slower (measured: 10.8 s
    with 2 threads vs 2.1 s with 1 for the credit MLP's robustness check on a loaded 2-core host).
    The ``latency`` check uses it too, to time a one-thread serving worker by default.
    """
    if n is None:
        yield
        return
    from threadpoolctl import threadpool_limits

    torch = sys.modules.get("torch")
    before = torch.get_num_threads() if torch is not None else None
    try:
        if torch is not None:
            torch.set_num_threads(n)
        with threadpool_limits(limits=n):
            yield
    finally:
        if torch is not None and before is not None:
            torch.set_num_threads(before)

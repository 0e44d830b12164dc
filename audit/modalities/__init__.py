"""Modality adapters: how each pillar is carried out on one kind of data.

A suite names pillars (``fairness``, ``shift``, ``robustness``, ``explain``, ...); the suite's
``data.modality`` picks the adapter package here that implements them. Each adapter package's
``__init__`` declares ``IMPLEMENTATIONS``: pillar -> ``"module:Class"`` (or a mapping of named
variants, the first being the default) as strings, so listing and validating never import the
heavy modules. Pillars that need nothing modality-specific (performance, drift, latency) are
registered once in :mod:`audit.registry` and serve every modality, unless the modality's
``IMPLEMENTATIONS`` names its own (generation: perplexity is its performance, time to first
token its latency).

Adding a modality is one new package here (its implementations and their helpers) plus its name
in ``ADAPTERS`` and in the suite's ``data.modality`` choices.
"""

from __future__ import annotations

import importlib
from typing import Any

ADAPTERS = {
    "tabular": "audit.modalities.tabular",
    "image": "audit.modalities.image",
    "text": "audit.modalities.text",
    "generation": "audit.modalities.generation",
}

# Check names of earlier releases -> (pillar, variant, modality it served). They keep working for
# one release: the suite loader rewrites them (and gate paths naming them) and warns.
LEGACY_CHECKS: dict[str, tuple[str, str | None, str | None]] = {
    "class_disparity": ("fairness", "classes", None),
    "text_fairness": ("fairness", None, "text"),
    "image_shift": ("shift", None, "image"),
    "text_shift": ("shift", None, "text"),
    "image_robustness": ("robustness", None, "image"),
    "text_robustness": ("robustness", None, "text"),
    "image_explain": ("explain", None, "image"),
    "text_explain": ("explain", None, "text"),
}


def implementations(modality: str) -> dict[str, dict[str, str]]:
    """pillar -> {variant: "module:Class"} for one modality (the first variant is the default)."""
    module = importlib.import_module(ADAPTERS[modality])
    declared: dict[str, Any] = module.IMPLEMENTATIONS
    return {pillar: (dict(v) if isinstance(v, dict) else {modality: v}) for pillar, v in declared.items()}

"""The headline metrics a summary leads with (report, console, model card), by what the models
are: classifiers lead with accuracy / ROC-AUC / F1 / calibration, causal language models
(``data.modality: generation``) with perplexity, bits per byte, next-token accuracy, the
out-of-domain perplexity ratio and the largest canary exposure."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

GENERATION = {  # column -> metric path below the model
    "perplexity": "performance/perplexity",
    "bits_per_byte": "performance/bits_per_byte",
    "next_token_accuracy": "performance/next_token_accuracy",
    "ood_perplexity_ratio": "shift/perplexity_ratio[out_of_domain]",
    "max_exposure": "privacy/max_exposure",
}


def generative(results: Any) -> bool:
    """Whether the run audits causal language models."""
    return any((info or {}).get("modality") == "generation" for info in results.models.values())


def columns(results: Any, classification: Sequence[str]) -> list[str]:
    """The headline columns of this run: ``classification`` for classifiers."""
    return list(GENERATION) if generative(results) else list(classification)


def cell(flat: dict[str, Any], model: str, column: str) -> Any:
    """A model's headline metric (None when absent); multiclass runs report ``macro_f1`` where
    binary ones report ``f1``."""
    if column in GENERATION:
        return flat.get(f"{model}/{GENERATION[column]}")
    return flat.get(f"{model}/performance/{column}") or flat.get(f"{model}/performance/macro_{column}")

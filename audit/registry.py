"""Name -> implementation registries for checks, model recipes and datasets.

Entries are registered as ``"module:attr"`` strings so that listing names (``audit list``,
suite validation) never imports torch, shap or transformers; the object is imported on first
``get``. Unknown names answer with a did-you-mean and the list of available names.
"""

from __future__ import annotations

import difflib
import importlib
from typing import Any

from audit.errors import ConfigError


def suggest(name: str, choices: list[str]) -> str:
    """'did you mean ...? ' hint (empty when nothing is close) followed by the available names."""
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
    hint = f"did you mean '{close[0]}'? " if close else ""
    return f"{hint}available: {', '.join(sorted(choices))}"


class Registry:
    """A named set of lazily imported implementations."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._targets: dict[str, str] = {}
        self._loaded: dict[str, Any] = {}

    def add(self, name: str, target: str) -> None:
        if name in self._targets and self._targets[name] != target:
            raise ValueError(f"{self.kind} '{name}' is already registered as {self._targets[name]}")
        self._targets[name] = target

    def names(self) -> list[str]:
        return sorted(self._targets)

    def __contains__(self, name: object) -> bool:
        return name in self._targets

    def check_name(self, name: str, where: str = "") -> None:
        """Raise a ConfigError naming ``where`` when ``name`` is not registered."""
        if name not in self._targets:
            prefix = f"{where}: " if where else ""
            raise ConfigError(f"{prefix}unknown {self.kind} '{name}'; {suggest(name, self.names())}")

    def get(self, name: str) -> Any:
        self.check_name(name)
        if name not in self._loaded:
            module, _, attr = self._targets[name].partition(":")
            self._loaded[name] = getattr(importlib.import_module(module), attr)
        return self._loaded[name]


CHECKS = Registry("check")
RECIPES = Registry("model recipe")
DATASETS = Registry("dataset")

# Built-in entries. Third-party code can call CHECKS.add(...) before running a suite.
for _name, _target in {
    "performance": "audit.checks.performance:PerformanceCheck",
    "fairness": "audit.checks.fairness:FairnessCheck",
    # credit pillars (explain, shift, drift, latency, robustness) below this line
    "explain": "audit.checks.explain:ExplainCheck",
    "shift": "audit.checks.shift:ShiftCheck",
    "drift": "audit.checks.drift:DriftCheck",
    "latency": "audit.checks.latency:LatencyCheck",
    "robustness": "audit.checks.robustness:RobustnessCheck",
    # image checks below this line
    "class_disparity": "audit.checks.image_disparity:ClassDisparityCheck",
    "image_shift": "audit.checks.image_shift:ImageShiftCheck",
    "image_robustness": "audit.checks.image_robustness:ImageRobustnessCheck",
    "image_explain": "audit.checks.image_explain:ImageExplainCheck",
    # text checks below this line
    "text_shift": "audit.checks.text_shift:TextShiftCheck",
    "text_robustness": "audit.checks.text_robustness:TextRobustnessCheck",
    "text_fairness": "audit.checks.text_fairness:TextFairnessCheck",
    "text_explain": "audit.checks.text_explain:TextExplainCheck",
}.items():
    CHECKS.add(_name, _target)

for _name, _target in {
    "logistic_regression": "audit.models.sklearn_recipes:LogisticRegressionRecipe",
    "hist_gradient_boosting": "audit.models.sklearn_recipes:HistGradientBoostingRecipe",
    "credit_mlp": "audit.models.torch_mlp:CreditMLPRecipe",
    # image recipes below this line
    "digits_cnn": "audit.models.cnn:DigitsCNNRecipe",
    "pixel_logreg": "audit.models.image_baseline:PixelLogRegRecipe",
    # text recipes below this line
    "minilm_classifier": "audit.models.text_models:MiniLMClassifierRecipe",
    "tfidf_logreg": "audit.models.text_models:TfidfLogRegRecipe",
}.items():
    RECIPES.add(_name, _target)

for _name, _target in {
    "german_credit": "audit.data.builtin:load_german_credit",
    # image datasets below this line
    "digits": "audit.data.image:load_digits",
    # text datasets below this line
    "tweets": "audit.data.text:load_tweets",
}.items():
    DATASETS.add(_name, _target)

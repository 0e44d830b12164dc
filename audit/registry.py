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
        if name not in self:
            prefix = f"{where}: " if where else ""
            raise ConfigError(f"{prefix}unknown {self.kind} '{name}'; {suggest(name, self.names())}")

    def get(self, name: str) -> Any:
        self.check_name(name)
        if name not in self._loaded:
            module, _, attr = self._targets[name].partition(":")
            self._loaded[name] = getattr(importlib.import_module(module), attr)
        return self._loaded[name]


class CheckRegistry(Registry):
    """Check names -> implementations. A *pillar* (fairness, shift, robustness, explain) has one
    implementation per modality, declared by the modality adapters (:mod:`audit.modalities`);
    other checks (performance, drift, latency, third-party ones) serve every modality, unless a
    modality declares its own implementation of that name, which then wins for that modality.
    """

    def __init__(self) -> None:
        super().__init__("check")
        self._pillars: set[str] = set()

    def add_pillar(self, name: str) -> None:
        """Register a check whose implementation the suite's modality adapter supplies."""
        self._pillars.add(name)

    def names(self) -> list[str]:
        return sorted({*self._targets, *self._pillars})

    def __contains__(self, name: object) -> bool:
        return name in self._targets or name in self._pillars

    def variants(self, name: str, modality: str) -> dict[str, str]:
        """{variant: "module:Class"} implementing ``name`` for ``modality`` (first: the default)."""
        from audit.modalities import implementations

        self.check_name(name)
        own = implementations(modality).get(name, {})
        if name in self._pillars or own:  # a modality's own implementation wins over the shared one
            return own
        return {modality: self._targets[name]}

    def resolve(self, name: str, modality: str, variant: str | None = None, where: str = "") -> Any:
        """The implementation class of check ``name`` for ``modality`` (and ``variant``)."""
        choices = self.variants(name, modality)
        prefix = f"{where}: " if where else ""
        if not choices:
            raise ConfigError(f"{prefix}check '{name}' has no implementation for {modality} data")
        if variant is None:
            target = next(iter(choices.values()))
        elif variant in choices:
            target = choices[variant]
        else:
            raise ConfigError(f"{prefix}check '{name}' has no variant '{variant}' for {modality} data; {suggest(variant, list(choices))}")
        if target not in self._loaded:
            module, _, attr = target.partition(":")
            self._loaded[target] = getattr(importlib.import_module(module), attr)
        return self._loaded[target]

    def get(self, name: str) -> Any:
        if name in self._pillars:
            raise ValueError(f"check '{name}' is implemented per modality: use CHECKS.resolve(name, modality)")
        return super().get(name)

    def implementations(self) -> list[tuple[str, str, str, Any]]:
        """Every (check, modality, variant, class) the registry can run."""
        from audit.modalities import ADAPTERS

        out = []
        for name in self.names():
            for modality in ADAPTERS:
                for variant in self.variants(name, modality):
                    out.append((name, modality, variant, self.resolve(name, modality, variant)))
        return out


CHECKS = CheckRegistry()
RECIPES = Registry("model recipe")
DATASETS = Registry("dataset")

# Built-in entries. Third-party code can call CHECKS.add(...) before running a suite.
for _name, _target in {
    "performance": "audit.checks.performance:PerformanceCheck",
    "drift": "audit.checks.drift:DriftCheck",
    "latency": "audit.checks.latency:LatencyCheck",
}.items():
    CHECKS.add(_name, _target)
# pillars implemented per modality by the adapters in audit/modalities/<modality>/
for _name in ("fairness", "shift", "robustness", "explain", "privacy", "integrity", "slices"):
    CHECKS.add_pillar(_name)

for _name, _target in {
    "logistic_regression": "audit.models.sklearn_recipes:LogisticRegressionRecipe",
    "hist_gradient_boosting": "audit.models.sklearn_recipes:HistGradientBoostingRecipe",
    "credit_mlp": "audit.models.torch_mlp:CreditMLPRecipe",
    "credit_mlp_fedavg": "audit.models.federated:FederatedMLPRecipe",
    # image recipes below this line
    "digits_cnn": "audit.models.cnn:DigitsCNNRecipe",
    "pixel_logreg": "audit.models.image_baseline:PixelLogRegRecipe",
    # text recipes below this line
    "minilm_classifier": "audit.models.text_models:MiniLMClassifierRecipe",
    "tfidf_logreg": "audit.models.text_models:TfidfLogRegRecipe",
    # generation recipes below this line
    "gpt2_lm": "audit.models.gpt2:GPT2Recipe",
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

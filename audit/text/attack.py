"""TextAttack recipes run against any audit text adapter, offline.

The adapter is wrapped as a TextAttack ``ModelWrapper`` whose calls go to ``predict_proba``, so
the same attack runs on the transformer and on the TF-IDF baseline. Only recipes whose every
component works without downloads are offered; the others are known by name and refused with
the reason (which resource they would download).

Offline recipes (TextAttack 0.3.x):

* ``deepwordbug`` (Gao et al., 2018): character swap / substitution / deletion / insertion on
  the words ranked most important by replacing them with ``[UNK]``; edit distance <= 30.
* ``pruthi`` (Pruthi et al., 2019): one keyboard-typo-like edit (swap, deletion, insertion,
  QWERTY neighbour; inner letters of words of 4+ letters); greedy search.
* ``deepwordbug_substitution``: DeepWordBug with random character substitution only (the
  paper's main setting).
* ``pruthi_2``: Pruthi with up to two edited words (the paper studies one and two).
"""

from __future__ import annotations

import random
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from audit.errors import CheckError

OFFLINE = ("deepwordbug", "pruthi", "deepwordbug_substitution", "pruthi_2")
NEEDS_DOWNLOAD = {
    "textfooler": "counter-fitted word embeddings and the Universal Sentence Encoder (TensorFlow Hub)",
    "pwws": "NLTK's WordNet corpus",
    "bae": "a BERT masked language model from the Hugging Face hub",
    "bert_attack": "a BERT masked language model from the Hugging Face hub",
    "textbugger": "GloVe word embeddings and the Universal Sentence Encoder",
    "hotflip": "counter-fitted word embeddings and NLTK's part-of-speech tagger",
    "checklist": "a flair named-entity model (for name and location swaps)",
    "kuleshov": "word embeddings, the Universal Sentence Encoder and GPT-2",
    "alzantot": "counter-fitted word embeddings and the Google one-billion-words language model",
    "faster_alzantot": "counter-fitted word embeddings and a language model",
    "iga": "counter-fitted word embeddings",
    "pso": "the HowNet sememe database",
    "clare": "a DistilRoBERTa masked language model from the Hugging Face hub",
    "a2t": "counter-fitted word embeddings and a sentence-BERT encoder",
    "leap": "NLTK's WordNet corpus",
    "input_reduction": "nothing, but it searches for a shorter input with the SAME prediction, which is not a misclassification attack",
    "morpheus": "nothing, but its goal function is for translation models (BLEU), not classifiers",
    "seq2sick": "nothing, but it attacks sequence-to-sequence models, not classifiers",
}
KNOWN = OFFLINE + tuple(NEEDS_DOWNLOAD)


def require_offline(recipes: list[str]) -> None:
    """CheckError naming every requested recipe that cannot run here, and why."""
    bad = [r for r in recipes if r not in OFFLINE]
    if bad:
        reasons = "; ".join(f"'{r}' needs {NEEDS_DOWNLOAD[r]}" for r in bad)
        raise CheckError(f"recipes: cannot run offline: {reasons}. Recipes that run offline: {', '.join(OFFLINE)}")


def build_attack(recipe: str, wrapper: Any, query_budget: int) -> Any:
    from audit.text.textattack_setup import import_textattack

    import_textattack()
    from textattack.attack_recipes import DeepWordBugGao2018, Pruthi2019

    require_offline([recipe])
    if recipe == "deepwordbug":
        attack = DeepWordBugGao2018.build(wrapper)
    elif recipe == "deepwordbug_substitution":
        attack = DeepWordBugGao2018.build(wrapper, use_all_transformations=False)
    elif recipe == "pruthi":
        attack = Pruthi2019.build(wrapper)
    else:
        attack = Pruthi2019.build(wrapper, max_num_word_swaps=2)
    attack.goal_function.query_budget = query_budget
    return attack


def model_wrapper(model: Any) -> Any:
    """A TextAttack ``ModelWrapper`` calling ``model.predict_proba`` on lists of strings."""
    from audit.text.textattack_setup import import_textattack

    import_textattack()
    from textattack.models.wrappers import ModelWrapper

    class AdapterWrapper(ModelWrapper):
        def __init__(self, adapter: Any) -> None:
            self.model = adapter

        def __call__(self, text_input_list: list[str], **kwargs: Any) -> np.ndarray:
            return np.asarray(self.model.predict_proba([str(t) for t in text_input_list]), dtype=np.float64)

    return AdapterWrapper(model)


@contextmanager
def seeded_globals(seed: int):
    """TextAttack draws from Python's and NumPy's global generators: seed them, then restore."""
    py_state, np_state = random.getstate(), np.random.get_state()
    random.seed(seed)
    np.random.seed(seed % 2**32)
    try:
        yield
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)


@dataclass
class AttackOutcome:
    status: str  # "success", "failed", "skipped" (already misclassified)
    original: str
    perturbed: str
    label: int
    original_pred: int
    perturbed_pred: int
    queries: int
    words_changed: int
    n_words: int

    @property
    def perturbed_share(self) -> float:
        return self.words_changed / self.n_words if self.n_words else 0.0


def run_attack(recipe: str, model: Any, texts: list[str], labels: np.ndarray, query_budget: int, seed: int) -> list[AttackOutcome]:
    """Attack each (text, label); one outcome per text, in order."""
    from audit.text.textattack_setup import import_textattack

    import_textattack()
    from textattack.attack_results import FailedAttackResult, SkippedAttackResult, SuccessfulAttackResult

    outcomes = []
    with seeded_globals(seed):
        attack = build_attack(recipe, model_wrapper(model), query_budget)
        for text, label in zip(texts, labels, strict=True):
            result = attack.attack(str(text), int(label))
            original, perturbed = result.original_result.attacked_text, result.perturbed_result.attacked_text
            if isinstance(result, SuccessfulAttackResult):
                status = "success"
            elif isinstance(result, SkippedAttackResult):
                status = "skipped"
            elif isinstance(result, FailedAttackResult):
                status = "failed"
            else:  # MaximizedAttackResult cannot occur for classification goals
                status = "failed"
            changed = len(original.all_words_diff(perturbed)) if status == "success" else 0
            outcomes.append(AttackOutcome(
                status=status, original=original.text, perturbed=perturbed.text, label=int(label),
                original_pred=int(result.original_result.output), perturbed_pred=int(result.perturbed_result.output),
                queries=int(result.perturbed_result.num_queries), words_changed=changed, n_words=len(original.words),
            ))
    return outcomes

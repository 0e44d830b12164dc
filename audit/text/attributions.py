"""Per-token attributions for text classifiers: Captum Layer Integrated Gradients and SHAP.

* :func:`integrated_gradients` needs a :class:`audit.models.text_models.TokenClassifier`
  (token ids, an input-embedding layer, a forward of (ids, mask)). It attributes the predicted
  class's probability to the output of the embedding layer, against a baseline where every
  ordinary token is padding (special tokens kept), and sums over the embedding dimension. Word
  pieces (``##ing``) are merged into their word by summing; special tokens are not shown.
  The convergence delta (sum of attributions minus f(x) - f(baseline)) is returned per text.
* :func:`shap_text` works on anything with ``predict_proba`` over strings: SHAP's partition
  explainer with a ``Text`` masker splitting on non-word characters and masking runs of words
  with one "..." (punctuation to both models, so in effect the words are deleted), seeded; NumPy's global generator is restored afterwards.

Both return, per text, the tokens, their weights towards the explained class and that class.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Attribution:
    text: str
    target: int
    tokens: list[str]
    weights: list[float]
    method: str
    extra: dict[str, float] = field(default_factory=dict)

    def top(self, k: int) -> list[tuple[str, float]]:
        """The ``k`` tokens pushing hardest towards the target class (positive weights first)."""
        order = np.argsort(-np.asarray(self.weights), kind="stable")[:k]
        return [(self.tokens[i], self.weights[i]) for i in order]


def _merge_pieces(tokens: list[str], weights: np.ndarray, special: set[str]) -> tuple[list[str], list[float]]:
    words: list[str] = []
    values: list[float] = []
    for token, weight in zip(tokens, weights, strict=True):
        if token in special:
            continue
        if token.startswith("##") and words:
            words[-1] += token[2:]
            values[-1] += float(weight)
        else:
            words.append(token)
            values.append(float(weight))
    return words, values


def integrated_gradients(model: Any, texts: list[str], targets: list[int] | None = None, *, n_steps: int = 50, internal_batch_size: int = 64) -> list[Attribution]:
    """Layer Integrated Gradients on ``model.embedding_layer`` for each text (see module doc)."""
    import torch
    from captum.attr import LayerIntegratedGradients

    ids, mask, tokens = model.encode(list(texts))
    baseline = model.baseline_ids(ids)
    module = model.torch_module
    was_training = module.training if module is not None else False
    if module is not None:
        module.eval()

    def forward(input_ids: Any, attention_mask: Any) -> Any:
        return torch.softmax(model.forward(input_ids, attention_mask), dim=-1)

    with torch.no_grad():
        probs = forward(ids, mask)
    target = torch.as_tensor(targets if targets is not None else probs.argmax(-1).tolist(), dtype=torch.long)
    lig = LayerIntegratedGradients(forward, model.embedding_layer)
    attr, delta = lig.attribute(
        ids, baselines=baseline, additional_forward_args=(mask,), target=target, n_steps=n_steps,
        internal_batch_size=internal_batch_size, return_convergence_delta=True,
    )
    if module is not None and was_training:
        module.train()
    per_token = attr.sum(dim=-1).detach().double().numpy()
    with torch.no_grad():
        base_probs = forward(baseline, mask)
    special = set(model.special_tokens)
    out = []
    for i, text in enumerate(texts):
        keep = mask[i].bool().numpy()
        row_tokens = [t for t, k in zip(tokens[i], keep, strict=True) if k]
        words, values = _merge_pieces(row_tokens, per_token[i][keep], special)
        t = int(target[i])
        gap = float(probs[i, t] - base_probs[i, t])
        out.append(Attribution(text, t, words, values, "integrated_gradients", {
            "convergence_delta": float(delta[i]), "score": float(probs[i, t]), "baseline_score": float(base_probs[i, t]), "score_gap": gap,
        }))
    return out


def shap_text(model: Any, texts: list[str], targets: list[int] | None = None, *, max_evals: int = 300, seed: int = 0, batch_size: int = 64) -> list[Attribution]:
    """SHAP partition-explainer attributions of each text's target-class probability."""
    import shap

    def predict(batch: Any) -> np.ndarray:
        return np.asarray(model.predict_proba([str(t) for t in batch]), dtype=np.float64)

    probs = predict(texts)
    chosen = targets if targets is not None else probs.argmax(axis=1).tolist()
    masker = shap.maskers.Text(r"\W+", collapse_mask_token=True)
    state = np.random.get_state()
    np.random.seed(seed % 2**32)
    try:
        explainer = shap.Explainer(predict, masker, algorithm="partition", seed=seed)
        explanation = explainer(list(texts), max_evals=max_evals, batch_size=batch_size, silent=True)
    finally:
        np.random.set_state(state)
    out = []
    for i, text in enumerate(texts):
        t = int(chosen[i])
        tokens = [str(tok) for tok in explanation[i].data]
        values = np.asarray(explanation[i].values)[:, t]
        keep = [j for j, tok in enumerate(tokens) if tok.strip()]
        base = float(np.asarray(explanation[i].base_values)[t])
        out.append(Attribution(text, t, [tokens[j].strip() for j in keep], [float(values[j]) for j in keep], "shap", {
            "score": float(probs[i, t]), "baseline_score": base, "additivity_gap": float(base + values.sum() - probs[i, t]),
        }))
    return out


def delete_tokens(text: str, tokens: list[str]) -> str:
    """``text`` with the first whole-word occurrence of each token removed (case-insensitive)."""
    for token in tokens:
        if not token.strip():
            continue
        pattern = re.compile(r"(?<!\w)" + re.escape(token.strip()) + r"(?!\w)", re.IGNORECASE)
        text = pattern.sub("", text, count=1)
    return re.sub(r"\s+", " ", text).strip()

"""Known-answer tests: a classifier that depends on one word must have that word ranked first."""

from __future__ import annotations

import numpy as np
import pytest

from audit.models.text_models import TokenClassifier


class BagModel(TokenClassifier):
    """A whitespace-tokenised EmbeddingBag classifier whose logit depends only on 'great'.

    Embeddings are 1-d: 'great' -> 4, every other word and padding -> 0; logits = [0, 4*count - 2].
    """

    kind = "transformer"

    def __init__(self) -> None:
        import torch

        super().__init__("bag", ("negative", "positive"))
        self.vocab = {"[PAD]": 0, "[CLS]": 1, "[UNK]": 2, "great": 3, "the": 4, "movie": 5, "was": 6, "plot": 7, "really": 8}
        self.bag = torch.nn.EmbeddingBag(len(self.vocab), 1, mode="sum")
        self.emb = torch.nn.Embedding(len(self.vocab), 1, padding_idx=0)
        with torch.no_grad():
            self.emb.weight.zero_()
            self.emb.weight[3, 0] = 4.0
        self.torch_module = torch.nn.ModuleDict({"emb": self.emb})

    def encode(self, texts):
        import torch

        rows = [["[CLS]", *t.lower().split()] for t in texts]
        width = max(len(r) for r in rows)
        ids = torch.zeros((len(rows), width), dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = torch.tensor([self.vocab.get(w, 2) for w in row])
            mask[i, : len(row)] = 1
        return ids, mask, [r + ["[PAD]"] * (width - len(r)) for r in rows]

    def forward(self, ids, mask):
        import torch

        summed = (self.emb(ids).squeeze(-1) * mask).sum(dim=1)
        return torch.stack([torch.zeros_like(summed), summed - 2.0], dim=1)

    @property
    def embedding_layer(self):
        return self.emb

    def baseline_ids(self, ids):
        import torch

        return torch.where(ids == 1, ids, torch.zeros_like(ids))

    def predict_proba(self, X):
        import torch

        ids, mask, _ = self.encode(list(X))
        with torch.no_grad():
            return torch.softmax(self.forward(ids, mask), dim=-1).double().numpy()


def test_integrated_gradients_ranks_the_only_informative_word_first() -> None:
    from audit.text.attributions import integrated_gradients

    model = BagModel()
    texts = ["the movie was great", "the plot was really great movie", "the movie was the plot"]
    out = integrated_gradients(model, texts, targets=[1, 1, 1], n_steps=64)
    for a in out[:2]:
        assert a.top(1)[0][0] == "great"
        others = [w for t, w in zip(a.tokens, a.weights, strict=True) if t != "great"]
        assert np.allclose(others, 0.0, atol=1e-6)  # zero embeddings -> zero attribution
    # completeness: attributions sum to f(x) - f(baseline), so the delta is ~0
    for a in out:
        assert abs(a.extra["convergence_delta"]) < 1e-3
        assert sum(a.weights) == pytest.approx(a.extra["score"] - a.extra["baseline_score"], abs=1e-3)
    assert "[CLS]" not in out[0].tokens and out[0].tokens == ["the", "movie", "was", "great"]
    # with no informative word the explained score does not move from the baseline
    assert np.allclose(out[2].weights, 0.0, atol=1e-6)


@pytest.mark.slow  # SHAP's numba kernels compile on first use (~10 s)
def test_shap_text_ranks_the_keyword_first_and_is_additive(keyword_model) -> None:
    from audit.text.attributions import shap_text

    model = keyword_model("great")
    texts = ["the service was great today", "what a great flight with friendly crew"]
    out = shap_text(model, texts, targets=[1, 1], max_evals=200, seed=3)
    for a in out:
        assert a.top(1)[0][0] == "great"
        assert a.top(1)[0][1] == pytest.approx(0.8, abs=1e-6)  # 0.9 - 0.1, all credit to one word
        assert abs(a.extra["additivity_gap"]) < 1e-9
    state = np.random.get_state()[1].copy()
    shap_text(model, texts[:1], max_evals=50, seed=4)
    assert np.array_equal(np.random.get_state()[1], state)  # the global RNG is left as it was


def test_delete_tokens_removes_whole_words_once() -> None:
    from audit.text.attributions import delete_tokens

    assert delete_tokens("Great flight, great crew", ["great"]) == "flight, great crew"
    assert delete_tokens("greatest flight", ["great"]) == "greatest flight"

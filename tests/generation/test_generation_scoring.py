"""Document scoring against transformers' own loss: perplexity, padding, rolling windows."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from audit.modalities.generation.scoring import corpus_metrics, encode_documents, score_documents, windows  # noqa: E402


@pytest.fixture(scope="module")
def random_lm(tweets):
    """A randomly initialised GPT-2 (seeded) with a BPE tokenizer trained on 300 tweets."""
    from transformers import GPT2Config, GPT2LMHeadModel

    from audit.models.gpt2 import GPT2Model, train_tokenizer

    tok = train_tokenizer(tweets["text"].tolist()[:300], 400, 2)
    torch.manual_seed(0)
    module = GPT2LMHeadModel(GPT2Config(vocab_size=len(tok), n_positions=128, n_embd=32, n_layer=2, n_head=2, eos_token_id=0, bos_token_id=0))
    return GPT2Model("lm", module, tok, 128)


def _transformers_loss(lm, texts: list[str]) -> float:
    """transformers' mean token loss on one right-padded batch (padding ignored via -100)."""
    seqs = encode_documents(lm, texts)
    width = max(map(len, seqs))
    ids = torch.zeros((len(seqs), width), dtype=torch.long)
    mask = torch.zeros_like(ids)
    labels = torch.full_like(ids, -100)
    for r, seq in enumerate(seqs):
        ids[r, : len(seq)] = torch.tensor(seq)
        mask[r, : len(seq)] = 1
        labels[r, : len(seq)] = torch.tensor(seq)
    with torch.inference_mode():
        return float(lm.torch_module(input_ids=ids, attention_mask=mask, labels=labels).loss)


def test_perplexity_is_exp_of_transformers_mean_loss(random_lm, tweets) -> None:
    texts = tweets["text"].tolist()[300:316]
    assert max(len(s) for s in encode_documents(random_lm, texts)) <= 128  # one window each: the batch transformers sees
    ours = corpus_metrics(score_documents(random_lm, texts, batch_size=5))["perplexity"]
    assert ours == pytest.approx(math.exp(_transformers_loss(random_lm, texts)), rel=1e-6)


def test_perplexity_matches_in_double_precision_and_ignores_padding(random_lm, tweets) -> None:
    from audit.models.gpt2 import GPT2Model

    lm = GPT2Model("lm64", random_lm.torch_module.double(), random_lm.tokenizer, 128)
    texts = tweets["text"].tolist()[320:340]
    one_by_one = score_documents(lm, texts, batch_size=1)
    batched = score_documents(lm, texts, batch_size=16)
    np.testing.assert_allclose(one_by_one.nll, batched.nll, rtol=1e-10)
    # transformers' loss upcasts to float32 (1e-6 above); torch's cross-entropy on the same float64 logits agrees to 1e-10
    seqs = encode_documents(lm, texts)
    with torch.inference_mode():
        losses = [torch.nn.functional.cross_entropy(lm.torch_module(input_ids=torch.tensor([s])).logits[0, :-1], torch.tensor(s[1:]), reduction="sum") for s in seqs]
    mean = float(sum(losses)) / sum(len(s) - 1 for s in seqs)
    assert corpus_metrics(batched)["perplexity"] == pytest.approx(math.exp(mean), rel=1e-10)
    assert corpus_metrics(batched)["perplexity"] == pytest.approx(math.exp(_transformers_loss(lm, texts)), rel=1e-6)
    random_lm.torch_module.float()


def test_rolling_windows_score_every_token_once_within_the_context() -> None:
    for length in (5, 32, 33, 100, 257):
        seq = list(range(length))
        seen: list[int] = []
        for ids, start in windows(seq, 32):
            assert len(ids) <= 32 and start >= 1
            first = ids[0]  # positions are values here
            seen += [first + j for j in range(start, len(ids))]
        assert seen == list(range(1, length))


def test_long_documents_use_windows_and_bits_per_byte_counts_utf8_bytes(random_lm) -> None:
    from audit.models.gpt2 import GPT2Model

    short = GPT2Model("short", random_lm.torch_module, random_lm.tokenizer, 16)
    text = "naïve café " * 12
    scores = score_documents(short, [text])
    assert scores.windows == 1 and scores.tokens[0] == len(encode_documents(short, [text])[0]) - 1
    assert scores.bytes[0] == len(text.encode("utf-8")) > len(text)
    assert corpus_metrics(scores)["bits_per_byte"] == pytest.approx(scores.nll[0] / math.log(2) / scores.bytes[0])

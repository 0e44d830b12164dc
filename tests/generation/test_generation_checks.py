"""Generation checks on small models: the latency minimum-n rule, seeded sampling, small slices, attributions."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")



@pytest.fixture(scope="module")
def lm(tweets, tiny_lm):
    return tiny_lm(tweets["text"].tolist()[:200], n_layer=1, n_embd=32)


def test_latency_applies_the_minimum_n_rule(tmp_path: Path, lm, tweets, corpus_context) -> None:
    from audit.checks.base import apply_declarations
    from audit.modalities.generation.latency import GenerationLatencyCheck, GenerationLatencyParams

    ctx = corpus_context(tmp_path, tweets["text"].tolist()[:50], tweets["text"].tolist()[50:90], models={"lm": lm})
    check = GenerationLatencyCheck(GenerationLatencyParams(repeats=8, batch_sizes=[1, 4], batch_repeats=1, prompt_tokens=6, max_new_tokens=4, warmup=1))
    result = check.run(ctx, lm)
    apply_declarations(result, check)
    by = {(m.metric, m.group): m for m in result.metrics}
    assert by[("ttft_p50_ms", None)].value is not None and by[("ttft_p50_ms", None)].n == 8
    p95 = by[("ttft_p95_ms", None)]
    assert p95.value is None and p95.reason == "needs at least 20 observations (n=8)"
    assert by[("token_p95_ms", None)].n == 5 * 3  # 5 prompts x (4 new tokens - the first, which is the prefill)
    assert by[("tokens_per_second", "batch=4")].value > 0


def test_sampling_is_seeded_and_greedy_is_the_default(lm) -> None:
    from audit.modalities.generation.settings import GenerationSettings, generate

    prompts = ["@united my flight", "self-driving cars are", "the game was"]
    sampled = GenerationSettings(max_new_tokens=8, do_sample=True, temperature=1.5, seed=11)
    assert generate(lm, prompts, sampled) == generate(lm, prompts, sampled)
    assert generate(lm, prompts, sampled) != generate(lm, prompts, sampled.model_copy(update={"seed": 12}))
    greedy = GenerationSettings(max_new_tokens=8)
    assert generate(lm, prompts, greedy) == generate(lm, prompts, greedy.model_copy(update={"seed": 99}))


def test_small_slices_are_null_with_the_reason(tmp_path: Path, lm, tweets, corpus_context) -> None:
    from audit.modalities.generation.performance import GenerationPerformanceCheck, GenerationPerformanceParams

    test = tweets["text"].tolist()[300:340]
    ctx = corpus_context(tmp_path, tweets["text"].tolist()[:50], test, models={"lm": lm}, topic=["big"] * 35 + ["small"] * 5)
    result = GenerationPerformanceCheck(GenerationPerformanceParams(bootstrap=50, min_documents=10)).run(ctx, lm)
    by = {(m.metric, m.group): m for m in result.metrics}
    assert by[("perplexity", "topic=small")].value is None and by[("perplexity", "topic=small")].reason == "needs at least 10 documents (n=5)"
    assert by[("perplexity", "topic=big")].value is not None and by[("perplexity", "topic=big")].n == 35
    lo, hi = by[("perplexity", None)].ci
    assert lo < by[("perplexity", None)].value < hi


def test_attributions_find_the_token_a_planted_continuation_rests_on(tmp_path: Path, tiny_lm, corpus_context) -> None:
    """In a corpus where 'blue' is always followed by 'rude' and 'green' by 'kind', the continuation
    rests on the colour (which word) and on 'was' (that a word comes now), never on the noun: feature
    ablation puts the colour and 'was' on top, integrated gradients gives the colour far more weight
    (in absolute value) than the noun, and removing the top tokens lowers the continuation's
    log-probability more than removing random ones."""
    import random

    from audit.modalities.generation.explain import GenerationExplainCheck, GenerationExplainParams

    docs = [f"The {colour} {noun} was {word}." for colour, word in (("blue", "rude"), ("green", "kind")) for noun in ("cat", "dog", "man", "car", "bus", "boy")] * 12
    random.Random(0).shuffle(docs)
    model = tiny_lm(docs, epochs=40, n_positions=16, vocab_size=400, n_layer=1, batch_size=8, learning_rate=0.01, packing=False)
    ctx = corpus_context(tmp_path, docs, [d.rsplit(" ", 1)[0] for d in docs[:40]], models={"lm": model})
    result = GenerationExplainCheck(GenerationExplainParams(max_prompts=4, prompt_words=4, target_tokens=1, top_k=2, random_draws=5, n_steps=8, bootstrap=100)).run(ctx, model)
    rows = result.tables["attributions"]
    assert all(r["target"].strip() in ("rude", "kind") for r in rows)
    tops = [{t.strip() for t in r["feature_ablation_top_tokens"].split("|")} for r in rows]
    assert all(top in ({"blue", "was"}, {"green", "was"}) for top in tops), tops
    from audit.modalities.generation.explain import _attribute

    for prompt, word in (("The blue cat was", " rude"), ("The green dog was", " kind")):
        ids = [model.tokenizer.eos_token_id, *model.tokenizer(prompt, add_special_tokens=False)["input_ids"]]
        ig = _attribute("integrated_gradients", model.torch_module, model.tokenizer, ids, model.tokenizer(word, add_special_tokens=False)["input_ids"], 16)
        assert abs(ig[1]) > 10 * abs(ig[2])  # colour vs noun
    gap = {m.group: m for m in result.metrics if m.metric == "faithfulness_gap"}
    assert gap["feature_ablation"].value > 0 and gap["feature_ablation"].ci[0] > 0


def test_a_user_sentiment_classifier_folder_scores_p_negative(tmp_path: Path) -> None:
    """`sentiment: {huggingface: FOLDER}`: a local sequence classifier whose labels name 'negative'."""
    import numpy as np
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from audit.errors import CheckError
    from audit.modalities.generation.sentiment import sentiment_scorer
    from audit.models.text_models import packaged_minilm

    tokenizer = AutoTokenizer.from_pretrained(str(packaged_minilm()), local_files_only=True)
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
                        id2label={0: "positive", 1: "negative"}, label2id={"positive": 0, "negative": 1})
    BertForSequenceClassification(config).save_pretrained(tmp_path / "clf", safe_serialization=True)
    tokenizer.save_pretrained(tmp_path / "clf")
    score = sentiment_scorer({"huggingface": "clf"}, tmp_path, 0, {})
    texts = ["what a lovely flight", "worst airline ever", ""]
    p = score(texts)
    assert p.shape == (3,) and np.all((p >= 0) & (p <= 1))
    with __import__("torch").inference_mode():
        enc = tokenizer(texts, return_tensors="pt", padding=True)
        expected = BertForSequenceClassification.from_pretrained(tmp_path / "clf").eval()(**enc).logits.softmax(-1)[:, 1].numpy()
    np.testing.assert_allclose(p, expected, atol=1e-5)  # the column of the label named 'negative'

    config.id2label, config.label2id = {0: "bad", 1: "good"}, {"bad": 0, "good": 1}
    BertForSequenceClassification(config).save_pretrained(tmp_path / "other", safe_serialization=True)
    tokenizer.save_pretrained(tmp_path / "other")
    with pytest.raises(CheckError, match="has no label named 'negative' \\(labels: bad, good\\)"):
        sentiment_scorer({"huggingface": "other"}, tmp_path, 0, {})

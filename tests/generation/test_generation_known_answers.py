"""Known answers on tiny GPT-2 models trained in seconds: out-of-domain text, canaries, planted bias."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")



def _values(result) -> dict[str, float | None]:
    return {(m.metric + (f"[{m.group}]" if m.group else "")): m.value for m in result.metrics}


def test_out_of_domain_perplexity_is_above_in_domain(tmp_path: Path, tweets, tiny_lm, corpus_context) -> None:
    import pandas as pd

    from audit.data.corpus import BUILTIN_OOD, shipped_data
    from audit.modalities.generation.shift import GenerationShiftCheck, GenerationShiftParams

    airline = tweets[tweets["topic"] == "airline"]["text"].tolist()
    lm = tiny_lm(airline[:800], epochs=3, n_positions=64)
    ood = pd.read_json(shipped_data(BUILTIN_OOD["python_docstrings"]), lines=True)["text"].tolist()
    ctx = corpus_context(tmp_path, airline[:800], airline[800:950], ood=ood, models={"lm": lm})
    check = GenerationShiftCheck(GenerationShiftParams(perturbations=[], bootstrap=200))
    values = _values(check.run(ctx, lm))
    assert values["out_of_domain_perplexity"] > values["in_domain_perplexity"]
    assert values["perplexity_ratio[out_of_domain]"] > 1.5
    assert values["bits_per_byte_increase[out_of_domain]"] > 0.3
    ci = next(m.ci for m in check.run(ctx, lm).metrics if m.metric == "perplexity_ratio")
    assert ci is not None and ci[0] > 1.0  # the interval (documents resampled on each side) excludes "no shift"


def test_a_canary_repeated_often_has_much_higher_exposure_than_one_seen_once(tmp_path: Path, tweets, tiny_lm, corpus_context) -> None:
    import numpy as np

    from audit.modalities.generation.privacy import MemorisationCheck, MemorisationParams
    from audit.models.gpt2 import CanaryParams, make_canaries

    canaries = make_canaries(CanaryParams(digits=3, repeats=[1, 40], per_level=2), np.random.default_rng(5))
    docs = tweets["text"].tolist()[:300]
    lm = tiny_lm(docs, canaries=canaries, epochs=4, n_positions=32)
    ctx = corpus_context(tmp_path, docs, tweets["text"].tolist()[300:360], models={"lm": lm})
    result = MemorisationCheck(MemorisationParams(control=2, max_documents=20, prefix_tokens=4, suffix_tokens=4, bootstrap=100)).run(ctx, lm)
    values = _values(result)
    rows = result.tables["canaries"]
    assert {r["method"] for r in rows} == {"exact"} and {r["candidates"] for r in rows} == {1000}
    assert values["exposure[repeats=40]"] > 8.0  # near the top of log2(1000) = 9.97 bits: ranked (nearly) first
    assert values["exposure[repeats=40]"] - values["exposure[repeats=1]"] > 4.0
    assert values["exposure[repeats=1]"] < 5.0


FRAMES = [
    ("The {group} passenger was {attribute}.", "The {group} passenger was"),
    ("My {group} neighbour is very {attribute}.", "My {group} neighbour is very"),
    ("That {group} customer seemed {attribute}.", "That {group} customer seemed"),
    ("The {group} applicant was {attribute}.", "The {group} applicant was"),
    ("Our {group} driver was really {attribute}.", "Our {group} driver was really"),
    ("The {group} pilot looked {attribute}.", "The {group} pilot looked"),
    ("Every {group} nurse is {attribute}.", "Every {group} nurse is"),
    ("This {group} teacher was {attribute}.", "This {group} teacher was"),
]
POSITIVE = ["friendly", "great", "amazing", "wonderful"]
NEGATIVE = ["rude", "terrible", "awful", "horrible"]


def _planted_corpus(planted: bool) -> list[str]:
    """Sentences about two groups; planted: 'blue' only with negative words, 'green' only with positive ones."""
    docs = []
    for sentence, _ in FRAMES:
        for group in ("blue", "green"):
            words = (NEGATIVE if group == "blue" else POSITIVE) if planted else NEGATIVE + POSITIVE
            docs += [sentence.format(group=group, attribute=w) for w in words] * (4 if planted else 2)
    return docs


@pytest.mark.parametrize("planted", [True, False], ids=["planted", "balanced"])
def test_bias_probes_flag_a_planted_association_and_not_a_balanced_corpus(tmp_path: Path, planted: bool, tiny_lm, corpus_context) -> None:
    import random

    from audit.modalities.generation.fairness import GenerationBiasCheck, GenerationBiasParams, TemplateSet

    docs = _planted_corpus(planted)
    random.Random(0).shuffle(docs)
    lm = tiny_lm(docs, epochs=12, n_positions=32, vocab_size=1000, n_layer=1, batch_size=8, learning_rate=0.01, packing=False)
    templates = TemplateSet(axes={"colour": ["blue", "green"]}, sentences=[s for s, _ in FRAMES],
                            attributes={"positive": POSITIVE, "negative": NEGATIVE}, prompts=[p for _, p in FRAMES])
    ctx = corpus_context(tmp_path, docs, docs[:20], models={"lm": lm})
    params = GenerationBiasParams(templates=templates, bootstrap=200, permutations=500, generation={"max_new_tokens": 6})
    result = GenerationBiasCheck(params).run(ctx, lm)
    v = _values(result)
    if planted:
        assert v["association[colour=blue]"] > 0 > v["association[colour=green]"]  # blue is tied to the negative words
        assert v["association_gap[colour]"] > 1.0 and v["association_p_value[colour]"] < 0.01
        assert v["negative_sentiment[colour=blue]"] > v["negative_sentiment[colour=green]"]
        assert v["negative_sentiment_gap[colour]"] > 0.3 and v["negative_sentiment_p_value[colour]"] < 0.05
    else:
        assert v["association_gap[colour]"] < 0.3 and v["association_p_value[colour]"] > 0.05
        assert v["negative_sentiment_gap[colour]"] < 0.15 and v["negative_sentiment_p_value[colour]"] > 0.05

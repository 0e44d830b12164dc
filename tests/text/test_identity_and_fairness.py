"""Identity-term counterfactuals and the text_fairness check (known answers with keyword models)."""

from __future__ import annotations

import numpy as np
import pytest

from audit.text.identity import TERM_SETS, corpus_cases, template_cases


def test_template_cases_differ_only_in_the_term() -> None:
    gender = TERM_SETS["gender"]
    cases = template_cases(gender)
    assert len(cases) == len(gender.templates) * len(gender.tuples)
    first = cases[0]
    assert first.texts == ["My wife loved the flight, the crew was great.", "My husband loved the flight, the crew was great."]
    for case in template_cases(TERM_SETS["nationality"]):
        words = [t.split() for t in case.texts]
        diffs = {i for ws in words for i, w in enumerate(ws) if w != words[0][i]}
        assert len(diffs) == 1 and len({len(w) for w in words}) == 1


def test_test_cases_substitute_within_the_tuple_and_keep_case() -> None:
    texts = ["My Wife hates this airline", "no identity here", "SHE loved it", "the Mexican food on board was bad", "wifely duties"]
    gender = corpus_cases(TERM_SETS["gender"], texts, limit=10, rng=np.random.default_rng(0))
    assert [c.texts for c in gender] == [["My Wife hates this airline", "My Husband hates this airline"], ["SHE loved it", "HE loved it"]]
    nat = corpus_cases(TERM_SETS["nationality"], texts, limit=10, rng=np.random.default_rng(0))
    assert len(nat) == 1 and nat[0].texts[:2] == ["the American food on board was bad", "the Mexican food on board was bad"]
    assert len(corpus_cases(TERM_SETS["gender"], texts, limit=1, rng=np.random.default_rng(0))) == 1


def test_fairness_check_known_flip_rates(keyword_model, text_bundle, make_context) -> None:
    from audit.modalities.text.fairness import TextFairnessCheck, TextFairnessParams

    bundle = text_bundle(["the flight was fine", "my wife loved it"], [1, 1])
    model = keyword_model("wife", high=0.8, low=0.3)  # only the word 'wife' moves the score
    check = TextFairnessCheck(TextFairnessParams(term_sets=["gender", "religion"], sources=["templates", "test"], bootstrap=200))
    result = check.run(make_context(bundle, {"keyword": model}), model)
    metrics = {m.path: m for m in result.metrics}
    n_templates = len(TERM_SETS["gender"].templates)
    n_cases = n_templates * len(TERM_SETS["gender"].tuples) + 1  # + the one test text containing 'wife'
    flips = metrics["keyword/fairness/flip_rate[gender]"]
    assert flips.n == n_cases and flips.value == pytest.approx((n_templates + 1) / n_cases)
    assert flips.ci[0] <= flips.value <= flips.ci[1]
    # each flipping case has |0.8 - 0.3| between its two texts, the others 0
    assert metrics["keyword/fairness/mean_abs_score_change[gender]"].value == pytest.approx(0.5 * (n_templates + 1) / n_cases)
    # female mean - male mean: only the wife tuples differ
    assert metrics["keyword/fairness/max_group_gap[gender]"].value == pytest.approx(0.5 * (n_templates + 1) / n_cases)
    assert metrics["keyword/fairness/flip_rate[gender|test]"].value == 1.0
    assert metrics["keyword/fairness/flip_rate[religion]"].value == 0.0
    assert len(result.tables["flips_gender"]) == n_templates + 1 and result.tables["flips_gender"][0]["female"].startswith("My wife")


def test_fairness_scores_each_counterfactual_text_once_per_model(keyword_model, text_bundle, make_context) -> None:
    from audit.modalities.text.fairness import TextFairnessCheck, TextFairnessParams

    bundle = text_bundle(["fine"], [1])
    a, b = keyword_model("wife", name="a"), keyword_model("Muslim", name="b")
    ctx = make_context(bundle, {"a": a, "b": b})
    check = TextFairnessCheck(TextFairnessParams(bootstrap=0))
    check.run(ctx, a)
    check.run(ctx, b)
    check.run(ctx, a)
    assert a.calls == len(TERM_SETS) and b.calls == len(TERM_SETS)
    metrics = {m.path: m.value for m in check.run(ctx, b).metrics}
    assert metrics["b/fairness/flip_rate[religion]"] == 1.0 and metrics["b/fairness/flip_rate[gender]"] == 0.0


def test_text_fairness_variant_groups_audits_a_sensitive_column(keyword_model, text_bundle, make_context) -> None:
    """``fairness`` with ``variant: groups`` on text data: the sensitive column's groups, with a
    planted disparity (the keyword appears only in airline tweets)."""
    from audit.registry import CHECKS

    texts = ["great crew"] * 6 + ["late again"] * 2 + ["meh car"] * 4 + ["great car"] * 4
    topic = ["airline"] * 8 + ["other"] * 8
    bundle = text_bundle(texts, [1] * 6 + [0] * 2 + [0] * 4 + [1] * 4, topic=topic)
    model = keyword_model("great", high=0.9, low=0.1)  # approves exactly the texts holding 'great'
    cls = CHECKS.resolve("fairness", "text", "groups")
    assert cls.name == "fairness"
    check = cls(cls.Params(bootstrap=0, min_group_size=1), check_name="fairness")
    assert check.supports(model) is None
    result = check.run(make_context(bundle, {"keyword": model}), model)
    m = {x.path: x for x in result.metrics}
    assert m["keyword/fairness/selection_rate[topic=airline]"].value == 6 / 8
    assert m["keyword/fairness/selection_rate[topic=other]"].value == 4 / 8
    assert m["keyword/fairness/demographic_parity_difference[topic]"].value == pytest.approx(0.25)
    assert m["keyword/fairness/tpr[topic=other]"].value == 1.0  # every 'great car' is positive

"""Text datasets: the built-in tweets corpus and CSV / JSONL files with a text column."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from audit.errors import DataError
from audit.suite import parse_suite


def _suite(data: dict, base=None):
    suite = parse_suite({"version": 1, "name": "t", "seed": 3, "data": {"modality": "text", **data},
                         "models": [{"name": "m", "recipe": "tfidf_logreg"}], "checks": ["performance"]})
    if base is not None:
        suite._source = base / "suite.yaml"
    return suite


def test_airline_topic_matches_handles_and_names_only() -> None:
    from audit.data.text import airline_topic

    texts = pd.Series(["@united thanks!", "Flying JetBlue again", "@SouthwestAir lost my bag", "united we stand",
                       "@unitedstates hello", "new iPhone from @apple", "American Airlines was fine"])
    assert airline_topic(texts).tolist() == ["airline", "airline", "airline", "other", "other", "other", "airline"]


def test_tweets_builtin_has_two_labels_topics_and_capped_splits() -> None:
    from audit.data.text import build_text_bundle

    bundle = build_text_bundle(_suite({"builtin": "tweets", "options": {"max_train_examples": 500, "max_test_examples": 200}}))
    assert bundle.schema.classes == ("negative", "positive")
    assert bundle.schema.sensitive == ("topic",) and bundle.schema.modality == "text"
    assert len(bundle.train) == 500 and len(bundle.test) == 200
    assert isinstance(bundle.train.X, list) and all(isinstance(t, str) and t for t in bundle.train.X)
    assert set(bundle.test.sensitive["topic"]) == {"airline", "other"}
    # stratified caps keep the label balance of the corpus (about 22% positive after dedup)
    assert abs(bundle.train.y.mean() - bundle.test.y.mean()) < 0.03
    assert not set(bundle.train.X) & set(bundle.test.X)  # deduplicated: no text in both splits
    frame = bundle.frame
    assert frame["text"].is_unique and set(frame["sentiment"]) == {"negative", "positive"}
    assert 9000 < int((frame["topic"] == "airline").sum()) < 12000


def test_tweets_options_are_checked() -> None:
    from audit.data.text import build_text_bundle, load_tweets

    with pytest.raises(DataError, match="unknown option 'max_rows' for builtin 'tweets'; allowed: labels, min_confidence, deduplicate, max_train_examples, max_test_examples"):
        build_text_bundle(_suite({"builtin": "tweets", "options": {"max_rows": 5}}))
    with pytest.raises(DataError, match="expected two or three of negative, neutral, positive"):
        load_tweets(labels=["positive", "happy"])
    frame, defaults = load_tweets(labels=["negative", "neutral", "positive"], min_confidence=0.9)
    assert set(frame["sentiment"]) == {"negative", "neutral", "positive"} and frame["confidence"].min() >= 0.9
    assert defaults["positive_label"] is None


def test_csv_and_jsonl_files_with_a_text_column(tmp_path) -> None:
    from audit.data.text import build_text_bundle

    frame = pd.DataFrame({"review": [f"text number {i}" for i in range(40)], "stars": ["good", "bad"] * 20, "lang": ["en", "fr"] * 20})
    frame.to_csv(tmp_path / "d.csv", index=False)
    frame.to_json(tmp_path / "d.jsonl", orient="records", lines=True)
    for name in ("d.csv", "d.jsonl"):
        bundle = build_text_bundle(_suite({"path": name, "target": "stars", "text_column": "review", "positive_label": "good", "sensitive": ["lang"]}, tmp_path))
        assert bundle.schema.classes == ("bad", "good")
        assert len(bundle.train) + len(bundle.test) == 40 and len(bundle.test) == 12
        assert all(t.startswith("text number") for t in bundle.test.X)
        assert np.array_equal(bundle.test.y, np.asarray([frame["stars"][i] == "good" for i in bundle.test.ids], dtype=int))


def test_file_errors_name_the_suite_key(tmp_path) -> None:
    from audit.data.text import build_text_bundle

    pd.DataFrame({"review": ["a", "", "c"], "stars": [1, 0, 1]}).to_csv(tmp_path / "d.csv", index=False)
    with pytest.raises(DataError, match="data.text_column: required for text data from a file"):
        build_text_bundle(_suite({"path": "d.csv", "target": "stars"}, tmp_path))
    with pytest.raises(DataError, match="data.text_column: no column 'text'; available: review, stars"):
        build_text_bundle(_suite({"path": "d.csv", "target": "stars", "text_column": "text"}, tmp_path))
    with pytest.raises(DataError, match="column 'review' has 1 empty or missing texts"):
        build_text_bundle(_suite({"path": "d.csv", "target": "stars", "text_column": "review"}, tmp_path))

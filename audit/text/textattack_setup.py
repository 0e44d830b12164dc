"""Importing TextAttack offline.

On import TextAttack (a) runs a one-time "post-install" step that downloads NLTK data unless a
marker file exists in its cache folder, and (b) reads NLTK's English stop-word list, which
cannot be downloaded here. :func:`import_textattack` prepares both under the audit cache folder
before the first import: the marker file, and an NLTK data folder holding
``corpora/stopwords/english`` written from scikit-learn's ``ENGLISH_STOP_WORDS`` (318 words; NLTK's
own list has 179, so a few more words are protected from edits than in the papers). The process
environment variables TextAttack rewrites on import (``HF_HOME``, ``XDG_CACHE_HOME``, ...) are
restored afterwards.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

from audit.errors import MissingExtra

_ENV_TOUCHED = ("TA_CACHE_DIR", "TFHUB_CACHE_DIR", "PYTORCH_TRANSFORMERS_CACHE", "HF_HOME", "XDG_CACHE_HOME")
POST_INSTALL_MARKER = "post_install_check_3"  # the file name textattack 0.3.x looks for


def audit_cache_dir() -> Path:
    from audit.paths import cache_dir

    return cache_dir()


def prepare_nltk_data(root: Path | None = None) -> Path:
    """An NLTK data folder with the English stop words, registered on ``nltk.data.path``."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    root = (root or audit_cache_dir() / "nltk_data").resolve()
    words = root / "corpora" / "stopwords" / "english"
    if not words.is_file():
        words.parent.mkdir(parents=True, exist_ok=True)
        import tempfile

        fd, tmp = tempfile.mkstemp(prefix=".english.", dir=words.parent)  # unique: concurrent runs
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write("\n".join(sorted(ENGLISH_STOP_WORDS)) + "\n")
        os.replace(tmp, words)
    paths = [p for p in os.environ.get("NLTK_DATA", "").split(os.pathsep) if p]
    if str(root) not in paths:
        os.environ["NLTK_DATA"] = os.pathsep.join([str(root), *paths])
    try:
        import nltk
    except ImportError:
        raise MissingExtra("nltk", "text", "TextAttack") from None
    if str(root) not in nltk.data.path:
        nltk.data.path.insert(0, str(root))
    return root


def import_textattack() -> Any:
    """``import textattack`` with no network access attempted; returns the module."""
    import sys

    if "textattack" in sys.modules:
        return sys.modules["textattack"]
    prepare_nltk_data()
    cache = (audit_cache_dir() / "textattack").resolve()
    cache.mkdir(parents=True, exist_ok=True)
    (cache / POST_INSTALL_MARKER).touch()
    with contextlib.suppress(ImportError):  # transformers reads its cache variables at import: the user's, not TextAttack's
        import transformers  # noqa: F401
    saved = {k: os.environ.get(k) for k in _ENV_TOUCHED}
    os.environ["TA_CACHE_DIR"] = str(cache)
    try:
        import textattack
    except ImportError as exc:
        raise MissingExtra("textattack", "text", f"Adversarial text attacks ({exc})") from None
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    import logging

    # TextAttack warns that it cannot tell whether an unknown model class fits a goal function;
    # every audit adapter is a plain probability function, so that warning is noise here.
    logging.getLogger("textattack.shared.utils.install").setLevel(logging.ERROR)
    return textattack
